#include "engine/workflow/plan_facts.h"

#include <array>
#include <utility>

namespace shadowcopy::workflow {
namespace {

constexpr std::array<std::pair<SafePath, std::string_view>, 8> kNames = {{
    {SafePath::kAsIs, "as-is"},
    {SafePath::kOnlineRewrite, "online-rewrite"},
    {SafePath::kBackfill, "backfill"},
    {SafePath::kConcurrentIndex, "concurrent-index"},
    {SafePath::kNotValidThenValidate, "not-valid-then-validate"},
    {SafePath::kCheckThenSetNotNull, "check-then-set-not-null"},
    {SafePath::kUniqueViaConcurrentIndex, "unique-via-concurrent-index"},
    {SafePath::kRefuse, "refuse"},
}};

}  // namespace

std::string_view SafePathName(SafePath path) {
  for (const auto& [p, name] : kNames) {
    if (p == path) return name;
  }
  return "refuse";
}

std::optional<SafePath> ParseSafePath(std::string_view name) {
  for (const auto& [p, n] : kNames) {
    if (n == name) return p;
  }
  return std::nullopt;
}

}  // namespace shadowcopy::workflow
