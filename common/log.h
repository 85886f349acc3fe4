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

// Writes `line` (with its newline) to stdout and flushes. Once stdout is
// closed (EPIPE: `| head`, a dropped session) or fails otherwise, says so in
// one warning and writes nothing more there; the caller goes on.
void WriteOutputLine(std::string_view line);

// A self-updating line at the bottom of a terminal on stderr (a progress
// bar). While one is shown, every log line first clears it, then is printed,
// then the line is drawn again, so neither garbles the other. `line` must fit
// the terminal's width (no wrapping) and hold no newline.
void SetStickyLine(std::string_view line);
// Replaces the sticky line with `final_line` followed by a newline (it stays
// on screen), or clears it when `final_line` is empty; no sticky line after.
void EndStickyLine(std::string_view final_line);

template <typename... Args>
void Log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (!LogEnabled(level)) return;
  LogLine(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace shadowcopy

#endif  // SHADOWCOPY_COMMON_LOG_H_
