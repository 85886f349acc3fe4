#include "common/log.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace shadowcopy {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_mu;
std::atomic<bool> g_stdout_closed{false};
std::string g_sticky;  // guarded by g_mu; "" when none is shown

// "\r" then erase to the end of the line (ECMA-48 EL).
constexpr const char* kClearLine = "\r\x1b[K";

}  // namespace

void SetStickyLine(std::string_view line) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_sticky.assign(line);
  std::fprintf(stderr, "%s%s", kClearLine, g_sticky.c_str());
  std::fflush(stderr);
}

void EndStickyLine(std::string_view final_line) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_sticky.empty() && final_line.empty()) return;
  std::fputs(kClearLine, stderr);
  if (!final_line.empty())
    std::fprintf(stderr, "%.*s\n", static_cast<int>(final_line.size()), final_line.data());
  g_sticky.clear();
  std::fflush(stderr);
}

void WriteOutputLine(std::string_view line) {
  if (g_stdout_closed.load()) return;
  std::clearerr(stdout);
  errno = 0;
  bool ok = std::fwrite(line.data(), 1, line.size(), stdout) == line.size() && std::fflush(stdout) == 0;
  if (ok) return;
  int err = errno;
  if (g_stdout_closed.exchange(true)) return;
  LogLine(LogLevel::kWarning, fmt::format("stdout is closed ({}); no more progress lines there, the run goes on",
                                          err != 0 ? std::strerror(err) : "write failed"));
}

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void LogLine(LogLevel level, std::string_view message) {
  static constexpr const char* kNames[] = {"debug", "info", "warning", "error"};
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  struct tm tm_buf;
  localtime_r(&t, &tm_buf);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm_buf);
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_sticky.empty()) std::fputs(kClearLine, stderr);
  std::fprintf(stderr, "%s.%03d %s: %.*s\n", stamp, static_cast<int>(ms),
               kNames[static_cast<int>(level)], static_cast<int>(message.size()), message.data());
  if (!g_sticky.empty()) std::fputs(g_sticky.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace shadowcopy
