#include "engine/rewrite/verify_wording.h"

#include <utility>

#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

std::string JoinDifferingKeys(const VerifyWording& w, const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + DifferingKeyText(w, k);
  return out;
}

}  // namespace

VerifyWording ForwardVerifyWording() {
  return {"the original", "the new table", "stopping before the cutover, the original table is untouched", false};
}

VerifyWording RevertVerifyWording(std::string_view new_table, std::string_view old_table) {
  return {fmt::format("the new table {}", new_table), fmt::format("the old table {}", old_table),
          "the revert stops, both tables are untouched", true};
}

std::string OneRangeNote(const VerifyWording& w) {
  return w.revert ? " (the old table's key orders rows differently: one range)"
                  : " (the new key orders rows differently: one range)";
}

std::string NotComparedText(const VerifyWording& w, std::string_view columns) {
  if (!w.revert) return fmt::format("verify: not compared (no source in the original table): {}", columns);
  return fmt::format("verify: not compared (columns of {} with no source in {}): {}", w.target, w.source, columns);
}

std::string DifferingKeyText(const VerifyWording& w, std::string_view key) {
  if (!w.revert) return std::string(key);
  // The verifier's labels name the sides of the forward run.
  for (auto [from, to] : {std::pair<std::string_view, std::string_view>{"(only in original)", "(only in the new table)"},
                          {"(only in new table)", "(only in the old table)"}}) {
    if (key.size() >= from.size() && key.substr(key.size() - from.size()) == from)
      return fmt::format("{}{}", key.substr(0, key.size() - from.size()), to);
  }
  return std::string(key);
}

std::string RangeDiffersText(const VerifyWording& w, std::string_view range, int n, int max, int64_t source_rows,
                             int64_t target_rows, const std::vector<std::string>& keys) {
  return fmt::format("verify: range {} differs ({} of {}): {} rows in {}, {} in {}; first differing keys: {}", range,
                     n, max, source_rows, w.source, target_rows, w.target,
                     keys.empty() ? "(none found)" : JoinDifferingKeys(w, keys));
}

std::string RangeStillDiffersText(const VerifyWording& w, std::string_view range, std::string_view table, int repairs,
                                  int64_t source_rows, int64_t target_rows, const std::vector<std::string>& keys) {
  return fmt::format("verification: range {} of {} still differs after {} repairs ({} rows in {}, {} in {}; first "
                     "differing keys: {}); {}", range, table, repairs, source_rows, w.source, target_rows, w.target,
                     JoinDifferingKeys(w, keys), w.stop);
}

std::string RangeRepairedText(const VerifyWording& w, std::string_view range, int64_t removed, int64_t copied,
                              double ms) {
  if (!w.revert)
    return fmt::format("verify: repaired range {}: {} rows of the new table replaced by {} copied ({:.1f} ms)", range,
                       removed, copied, ms);
  return fmt::format("verify: repaired range {}: {} rows of {} replaced by {} copied from {} ({:.1f} ms)", range,
                     removed, w.target, copied, w.source, ms);
}

std::string CorruptedTableText(const VerifyWording& w) { return w.target; }

}  // namespace shadowcopy::engine
