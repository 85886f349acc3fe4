#include "engine/workflow/schema_diff.h"

#include <algorithm>
#include <cstdint>

#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Beyond this many cells (changed lines of a times of b) the middle is shown
// whole: the table would take too long and too much memory.
constexpr int64_t kMaxLcsCells = int64_t{8} << 20;

enum class Op : char { kEqual = ' ', kRemove = '-', kAdd = '+' };

struct Edit {
  Op op;
  int a = 0;  // index in a (kEqual, kRemove)
  int b = 0;  // index in b (kEqual, kAdd)
};

// The edits of a[a0, a1) into b[b0, b1).
void DiffMiddle(const std::vector<std::string>& a, const std::vector<std::string>& b, int a0, int a1, int b0, int b1,
                std::vector<Edit>* out) {
  const int n = a1 - a0, m = b1 - b0;
  if (int64_t{n} * m > kMaxLcsCells || n == 0 || m == 0) {
    for (int i = a0; i < a1; ++i) out->push_back({Op::kRemove, i, b0});
    for (int j = b0; j < b1; ++j) out->push_back({Op::kAdd, a1, j});
    return;
  }
  // lcs[i][j]: length of the longest common subsequence of a[a0+i..] and b[b0+j..].
  std::vector<int> lcs(static_cast<size_t>(n + 1) * (m + 1), 0);
  auto at = [&](int i, int j) -> int& { return lcs[static_cast<size_t>(i) * (m + 1) + j]; };
  for (int i = n - 1; i >= 0; --i)
    for (int j = m - 1; j >= 0; --j)
      at(i, j) = a[a0 + i] == b[b0 + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
  int i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[a0 + i] == b[b0 + j]) {
      out->push_back({Op::kEqual, a0 + i++, b0 + j++});
    } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
      out->push_back({Op::kRemove, a0 + i++, b0 + j});  // removals before additions
    } else {
      out->push_back({Op::kAdd, a0 + i, b0 + j++});
    }
  }
}

std::string Range(int start, int count) {
  // Unified diff: a 1-based start, or the line before an empty range.
  if (count == 0) return fmt::format("{},0", start);
  if (count == 1) return fmt::format("{}", start + 1);
  return fmt::format("{},{}", start + 1, count);
}

}  // namespace

std::vector<std::string> NormalizeSchemaDump(std::string_view dump) {
  std::vector<std::string> out;
  bool blank = false;
  while (!dump.empty()) {
    size_t nl = dump.find('\n');
    std::string_view line = dump.substr(0, nl);
    dump = nl == std::string_view::npos ? std::string_view() : dump.substr(nl + 1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.remove_suffix(1);
    if (StartsWith(line, "--") || StartsWith(line, "SET ") || StartsWith(line, "SELECT pg_catalog.set_config(") ||
        StartsWith(line, "\\restrict") || StartsWith(line, "\\unrestrict"))
      continue;
    if (line.empty()) {
      blank = !out.empty();
      continue;
    }
    if (blank) out.emplace_back();
    blank = false;
    out.emplace_back(line);
  }
  return out;
}

std::string UnifiedDiff(const std::vector<std::string>& a, const std::vector<std::string>& b,
                        std::string_view a_label, std::string_view b_label, int context) {
  const int n = static_cast<int>(a.size()), m = static_cast<int>(b.size());
  int prefix = 0;
  while (prefix < n && prefix < m && a[prefix] == b[prefix]) ++prefix;
  if (prefix == n && prefix == m) return "";
  int suffix = 0;
  while (suffix < n - prefix && suffix < m - prefix && a[n - 1 - suffix] == b[m - 1 - suffix]) ++suffix;
  std::vector<Edit> edits;
  for (int i = 0; i < prefix; ++i) edits.push_back({Op::kEqual, i, i});
  DiffMiddle(a, b, prefix, n - suffix, prefix, m - suffix, &edits);
  for (int k = suffix; k > 0; --k) edits.push_back({Op::kEqual, n - k, m - k});

  std::string out = fmt::format("--- {}\n+++ {}\n", a_label, b_label);
  const int total = static_cast<int>(edits.size());
  int k = 0;
  while (k < total) {
    while (k < total && edits[k].op == Op::kEqual) ++k;
    if (k == total) break;
    // A hunk: from `context` equal lines before this change to `context`
    // after the last change closer than 2 * context equal lines to the next.
    int begin = std::max(0, k - context);
    int end = k;
    for (;;) {
      while (end < total && edits[end].op != Op::kEqual) ++end;
      int equal = 0;
      while (end + equal < total && edits[end + equal].op == Op::kEqual) ++equal;
      if (end + equal == total || equal > 2 * context) {
        end = std::min(total, end + context);
        break;
      }
      end += equal;
    }
    int a_start = edits[begin].a, b_start = edits[begin].b, a_count = 0, b_count = 0;
    std::string body;
    for (int e = begin; e < end; ++e) {
      const Edit& d = edits[e];
      const std::string& text = d.op == Op::kAdd ? b[d.b] : a[d.a];
      if (d.op != Op::kAdd) ++a_count;
      if (d.op != Op::kRemove) ++b_count;
      body += static_cast<char>(d.op);
      body += text;
      body += '\n';
    }
    out += fmt::format("@@ -{} +{} @@\n", Range(a_start, a_count), Range(b_start, b_count));
    out += body;
    k = end;
  }
  return out;
}

}  // namespace shadowcopy::workflow
