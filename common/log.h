// Minimal leveled logging to stderr, one line per call.
//
// Thread-safety: Log() may be called from any thread; lines never interleave.
#ifndef SHADOWCOPY_COMMON_LOG_H_
#define SHADOWCOPY_COMMON_LOG_H_

#include <string_view>

#include "fmt/format.h"
#include "common/absl_fmt.h"

namespace shadowcopy {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, std::string_view message);

template <typename... Args>
void Log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (!LogEnabled(level)) return;
  LogLine(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace shadowcopy

#endif  // SHADOWCOPY_COMMON_LOG_H_
