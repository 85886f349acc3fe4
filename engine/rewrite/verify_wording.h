// How the verification's log lines and errors name the two tables they
// compare. The forward run compares the original (where rows come from)
// with the new table (what is checked and repaired); the revert's check
// runs the same verification on the reverse plan, where the new table is
// the source and the old table the one checked and repaired: its lines say
// so, never "original" for the new table.
//
// Pure functions: no I/O.
#ifndef SHADOWCOPY_ENGINE_REWRITE_VERIFY_WORDING_H_
#define SHADOWCOPY_ENGINE_REWRITE_VERIFY_WORDING_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shadowcopy::engine {

struct VerifyWording {
  std::string source;  // where the compared rows come from, e.g. "the original"
  std::string target;  // the table checked and repaired, e.g. "the new table"
  std::string stop;    // what a verification that stops leaves untouched
  bool revert = false;
};

// The forward run: "the original" against "the new table".
VerifyWording ForwardVerifyWording();
// The revert's check: the new table `new_table` (mapped back) against the
// old table `old_table` (both quoted, qualified names).
VerifyWording RevertVerifyWording(std::string_view new_table, std::string_view old_table);

// " (the new key orders rows differently: one range)" for the range plan.
std::string OneRangeNote(const VerifyWording& w);
// "verify: not compared (no source in the original table): a, b".
std::string NotComparedText(const VerifyWording& w, std::string_view columns);
// A differing key as the verifier reports it, "(42) (only in original)",
// with its label in the wording's terms.
std::string DifferingKeyText(const VerifyWording& w, std::string_view key);
// "verify: range R differs (n of max): X rows in <source>, Y in <target>; ...".
std::string RangeDiffersText(const VerifyWording& w, std::string_view range, int n, int max, int64_t source_rows,
                             int64_t target_rows, const std::vector<std::string>& keys);
// The error of a range that still differs after `repairs` repairs.
std::string RangeStillDiffersText(const VerifyWording& w, std::string_view range, std::string_view table, int repairs,
                                  int64_t source_rows, int64_t target_rows, const std::vector<std::string>& keys);
// "verify: repaired range R: N rows of <target> replaced by M copied (T ms)".
std::string RangeRepairedText(const VerifyWording& w, std::string_view range, int64_t removed, int64_t copied,
                              double ms);
// What the test hook corrupted: "the new table" (forward) or the old table.
std::string CorruptedTableText(const VerifyWording& w);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_VERIFY_WORDING_H_
