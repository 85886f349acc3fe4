#include "common/json.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "fmt/format.h"

namespace shadowcopy {
namespace {

// Whole numbers up to this size are exact in a double and fit an int64.
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

// The value of the decimal `text` (as printed by fmt) as a JSON number: an
// integer when it is whole and exact, else the nearest double.
Json FromText(const std::string& text) {
  double v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  if (v == std::trunc(v) && std::fabs(v) <= kMaxExactInteger) return static_cast<int64_t>(v);
  return v;
}

}  // namespace

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json FixedDecimals(double value, int decimals) {
  if (!std::isfinite(value)) value = 0;
  std::string text = fmt::format("{:.{}f}", value, decimals);
  if (decimals == 0) return FromText(text);
  double v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

Json ShortNumber(double value) {
  if (!std::isfinite(value)) value = 0;
  return FromText(fmt::format("{:g}", value));
}

}  // namespace shadowcopy
