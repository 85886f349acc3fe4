#include "engine/table/snapshot.h"

#include <algorithm>
#include <charconv>

#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

bool ParseU64(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  auto r = std::from_chars(text.data(), text.data() + text.size(), *out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

}  // namespace

bool Snapshot::Sees(uint64_t full_xid) const {
  if (full_xid < xmin) return true;
  if (full_xid >= xmax) return false;
  return !std::binary_search(xip.begin(), xip.end(), full_xid);
}

absl::StatusOr<Snapshot> ParseSnapshot(std::string_view text) {
  auto bad = [&] { return absl::InternalError(fmt::format("malformed snapshot '{}'", text)); };
  auto c1 = text.find(':');
  if (c1 == std::string_view::npos) return bad();
  auto c2 = text.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return bad();
  Snapshot s;
  if (!ParseU64(text.substr(0, c1), &s.xmin) || !ParseU64(text.substr(c1 + 1, c2 - c1 - 1), &s.xmax))
    return bad();
  std::string_view rest = text.substr(c2 + 1);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    uint64_t x = 0;
    if (!ParseU64(rest.substr(0, comma), &x)) return bad();
    s.xip.push_back(x);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  // An exported logical-slot snapshot can have xmin > xmax; visibility is
  // still decided xmin first, as PostgreSQL's XidInMVCCSnapshot does.
  std::sort(s.xip.begin(), s.xip.end());
  return s;
}

uint64_t WidenXid(uint32_t xid, const Snapshot& snapshot) {
  uint64_t epoch = snapshot.xmax >> 32;
  uint64_t full = (epoch << 32) | xid;
  if (full > snapshot.xmax && epoch > 0) full -= (uint64_t{1} << 32);
  return full;
}

bool VisibilityTracker::CheckAndClear(const Snapshot& snapshot, uint64_t* waiting_for) {
  if (!enabled_) {
    pending_.clear();
    start_.reset();
    return true;
  }
  if (start_) {
    // Everything the exported snapshot sees must be seen by `snapshot`.
    if (snapshot.xmax < start_->xmax) {
      if (waiting_for) *waiting_for = snapshot.xmax;
      return false;
    }
    for (uint64_t x : snapshot.xip) {
      if (x < start_->xmax && start_->Sees(x)) {
        if (waiting_for) *waiting_for = x;
        return false;
      }
    }
  }
  for (uint32_t xid : pending_) {
    uint64_t full = WidenXid(xid, snapshot);
    if (!snapshot.Sees(full)) {
      if (waiting_for) *waiting_for = full;
      return false;
    }
  }
  pending_.clear();
  start_.reset();
  return true;
}

}  // namespace shadowcopy::engine
