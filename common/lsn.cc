#include "common/lsn.h"

#include <charconv>

#include "fmt/format.h"

namespace shadowcopy {

std::string FormatLsn(Lsn lsn) {
  return fmt::format("{:X}/{:X}", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
}

std::optional<Lsn> ParseLsn(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) return std::nullopt;
  uint32_t hi = 0, lo = 0;
  auto a = std::from_chars(text.data(), text.data() + slash, hi, 16);
  if (a.ec != std::errc() || a.ptr != text.data() + slash) return std::nullopt;
  auto b = std::from_chars(text.data() + slash + 1, text.data() + text.size(), lo, 16);
  if (b.ec != std::errc() || b.ptr != text.data() + text.size()) return std::nullopt;
  return (static_cast<Lsn>(hi) << 32) | lo;
}

}  // namespace shadowcopy
