// MVCC snapshot arithmetic for the visibility rule (DESIGN.md §3).
//
// Logical decoding can hand us a transaction whose commit record is flushed
// while the transaction is still listed as running in the proc array, so a
// snapshot taken "after" it may not see it. Every copy batch and every re-read
// of the original that runs after the applier has applied transaction T must
// see T; otherwise a delete that replay already applied is undone by the copy.
// VisibilityTracker remembers the xids applied since the last successful check
// and tells whether a given snapshot sees all of them.
//
// Thread-safety: not thread-safe; owned by the rewrite thread.
#ifndef SHADOWCOPY_ENGINE_TABLE_SNAPSHOT_H_
#define SHADOWCOPY_ENGINE_TABLE_SNAPSHOT_H_

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace shadowcopy::engine {

// pg_current_snapshot() in text form: "xmin:xmax:xip,xip,...".
struct Snapshot {
  uint64_t xmin = 0;
  uint64_t xmax = 0;
  std::vector<uint64_t> xip;  // sorted

  // True when the full transaction id committed (or aborted) before this
  // snapshot was taken, i.e. its effects are visible if it committed.
  bool Sees(uint64_t full_xid) const;
};

absl::StatusOr<Snapshot> ParseSnapshot(std::string_view text);

// Decoded xids are 32 bits. Rebuilds the 64-bit id from the snapshot's xmax:
// a decoded transaction is never newer than xmax, so it lies in xmax's epoch
// or, when its low bits are above xmax's, the previous one.
uint64_t WidenXid(uint32_t xid, const Snapshot& snapshot);

class VisibilityTracker {
 public:
  // Remembers that the applier applied (and committed) transaction `xid`.
  void AddApplied(uint32_t xid) { pending_.push_back(xid); }

  // Requires that every transaction visible in `exported` (the slot's
  // consistent-point snapshot) be visible too, until a check passes once:
  // a transaction committed before the slot's consistent point is never
  // streamed, so the first copy batch must see it.
  void RequireSnapshot(const Snapshot& exported) { start_ = exported; }

  // True when `snapshot` sees every pending xid (and the start snapshot's
  // transactions); then forgets them. False leaves the state unchanged; the
  // first xid still in progress is stored in *waiting_for when given.
  bool CheckAndClear(const Snapshot& snapshot, uint64_t* waiting_for = nullptr);

  // Testing switch: when disabled, CheckAndClear always passes.
  void set_enabled(bool enabled) { enabled_ = enabled; }
  size_t pending() const { return pending_.size(); }

 private:
  std::vector<uint32_t> pending_;
  std::optional<Snapshot> start_;
  bool enabled_ = true;
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_TABLE_SNAPSHOT_H_
