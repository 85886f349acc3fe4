// Pure half of the schema fingerprint (see schema_fingerprint.h): ordering,
// the state table's flat form, and the description of a difference.
#include "engine/rewrite/schema_fingerprint.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

// How many changed objects the error names before "and N more".
constexpr size_t kMaxNamed = 5;

// "field: value" lines -> field -> value.
std::map<std::string, std::string> Fields(const std::string& definition) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < definition.size()) {
    size_t end = definition.find('\n', start);
    if (end == std::string::npos) end = definition.size();
    std::string line = definition.substr(start, end - start);
    size_t colon = line.find(": ");
    if (colon == std::string::npos) out[line] = "";
    else out[line.substr(0, colon)] = line.substr(colon + 2);
    start = end + 1;
  }
  return out;
}

// The fields whose values differ (or that only one side has), in order.
std::vector<std::string> ChangedFields(const std::string& before, const std::string& after) {
  auto a = Fields(before), b = Fields(after);
  std::vector<std::string> out;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end() || it->second != v) out.push_back(k);
  }
  for (const auto& [k, v] : b)
    if (!a.count(k)) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

std::string Label(const FingerprintObject& o) {
  return o.name.empty() ? o.kind : fmt::format("{} {}", o.kind, o.name);
}

bool Less(const FingerprintObject& a, const FingerprintObject& b) {
  return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
}

}  // namespace

void SortFingerprint(SchemaFingerprint* fp) { std::sort(fp->begin(), fp->end(), Less); }

std::vector<std::string> FingerprintToFlat(const SchemaFingerprint& fp) {
  std::vector<std::string> out;
  out.reserve(fp.size() * 3);
  for (const auto& o : fp) {
    out.push_back(o.kind);
    out.push_back(o.name);
    out.push_back(o.definition);
  }
  return out;
}

absl::StatusOr<SchemaFingerprint> FingerprintFromFlat(const std::vector<std::string>& flat) {
  if (flat.size() % 3 != 0)
    return absl::DataLossError("the run's recorded schema fingerprint is malformed");
  SchemaFingerprint fp;
  for (size_t i = 0; i < flat.size(); i += 3) fp.push_back({flat[i], flat[i + 1], flat[i + 2]});
  SortFingerprint(&fp);
  return fp;
}

std::vector<std::string> DescribeDrift(const SchemaFingerprint& built_from, const SchemaFingerprint& now) {
  SchemaFingerprint a = built_from, b = now;
  SortFingerprint(&a);
  SortFingerprint(&b);
  struct Change {
    std::string kind, name, verb;
  };
  std::vector<Change> changes;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && Less(a[i], b[j]))) {
      changes.push_back({a[i].kind, a[i].name, "dropped"});
      ++i;
    } else if (i == a.size() || Less(b[j], a[i])) {
      changes.push_back({b[j].kind, b[j].name, "added"});
      ++j;
    } else {
      if (a[i].definition != b[j].definition) {
        std::string fields;
        for (const auto& f : ChangedFields(a[i].definition, b[j].definition))
          fields += (fields.empty() ? "" : ", ") + f;
        changes.push_back({a[i].kind, a[i].name, fmt::format("changed ({})", fields)});
      }
      ++i;
      ++j;
    }
  }
  std::vector<std::string> out;
  for (const auto& c : changes) {
    // ADD CONSTRAINT ... UNIQUE adds an index of the same name: name it once.
    if (c.kind == "index" &&
        std::any_of(changes.begin(), changes.end(), [&](const Change& o) {
          return o.kind == "constraint" && o.name == c.name && o.verb == c.verb;
        }))
      continue;
    out.push_back(fmt::format("{} {}", Label({c.kind, c.name, ""}), c.verb));
  }
  return out;
}

absl::Status DriftError(const std::string& table, const std::vector<std::string>& changes) {
  std::string list;
  for (size_t i = 0; i < changes.size() && i < kMaxNamed; ++i) list += (i ? ", " : "") + changes[i];
  if (changes.size() > kMaxNamed) list += fmt::format(" and {} more", changes.size() - kMaxNamed);
  return absl::FailedPreconditionError(fmt::format(
      "table {} was altered during the run ({}); nothing was swapped, run again", table, list));
}

}  // namespace shadowcopy::engine
