// Lets fmt format absl::string_view (Debian's Abseil has its own string_view
// type, not an alias of std::string_view), e.g. a Status message.
#ifndef SHADOWCOPY_COMMON_ABSL_FMT_H_
#define SHADOWCOPY_COMMON_ABSL_FMT_H_

#include <string_view>

#include "absl/strings/string_view.h"
#include "fmt/format.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};

#endif  // SHADOWCOPY_COMMON_ABSL_FMT_H_
