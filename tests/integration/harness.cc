// Integration-test harness: the child-process runner and the per-test
// database fixture (see harness.h).
#include "tests/integration/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/status/status.h"
#include "common/quote.h"

extern char** environ;

#ifndef SC_SHADOWCOPY_BIN
#define SC_SHADOWCOPY_BIN "shadowcopy"
#endif

namespace shadowcopy::it {
namespace {

// KEY=VALUE strings of the current environment with `extra` overriding.
std::vector<std::string> BuildEnvironment(const EnvVars& extra) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string ProcessResult::Describe() const {
  return "exit_code=" + std::to_string(exit_code) + " signal=" + std::to_string(term_signal) +
         (timed_out ? " TIMED OUT" : "") + "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
}

std::string ShadowcopyBinary() {
  const char* env = std::getenv("SHADOWCOPY_BIN");
  if (env != nullptr && *env) return env;
  return SC_SHADOWCOPY_BIN;
}

absl::StatusOr<std::unique_ptr<ShadowcopyProcess>> ShadowcopyProcess::Start(
    const std::vector<std::string>& args, const EnvVars& env_extra,
    StderrLineCallback on_stderr_line) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("pipe2 failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

  std::vector<std::string> argv_strings{ShadowcopyBinary()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = BuildEnvironment(env_extra);
  auto argv = CStrings(argv_strings);
  auto envp = CStrings(env_strings);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return absl::InternalError("posix_spawn " + argv_strings[0] + ": " + std::strerror(rc));
  }
  return std::unique_ptr<ShadowcopyProcess>(
      new ShadowcopyProcess(pid, out_pipe[0], err_pipe[0], std::move(on_stderr_line)));
}

ShadowcopyProcess::ShadowcopyProcess(pid_t pid, int out_fd, int err_fd, StderrLineCallback cb)
    : pid_(pid), out_fd_(out_fd), err_fd_(err_fd), on_line_(std::move(cb)) {
  reader_ = std::thread([this] { ReadPipes(); });
}

ShadowcopyProcess::~ShadowcopyProcess() {
  bool reaped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reaped = reaped_;
  }
  if (!reaped) {
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  }
  if (reader_.joinable()) reader_.join();
  if (!stdout_closed_.load()) close(out_fd_);
  close(err_fd_);
}

void ShadowcopyProcess::ReadPipes() {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  int open_count = 2;
  char buf[65536];
  while (open_count > 0) {
    if (abandon_.load()) break;
    if (int after = close_stdout_after_.load(); after > 0 && fds[0].fd >= 0) {
      std::lock_guard<std::mutex> lock(mu_);
      if (std::count(out_.begin(), out_.end(), '\n') >= after) {
        close(out_fd_);
        stdout_closed_ = true;
        fds[0].fd = -1;
        --open_count;
        continue;
      }
    }
    if (poll(fds, 2, 100) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (auto& p : fds) {
      if (p.fd < 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t n = read(p.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        p.fd = -1;
        --open_count;
        continue;
      }
      if (p.fd == out_fd_) {
        std::lock_guard<std::mutex> lock(mu_);
        out_.append(buf, n);
      } else {
        HandleStderrBytes(std::string_view(buf, n));
      }
    }
  }
  if (!partial_line_.empty()) HandleStderrBytes("\n");
  std::lock_guard<std::mutex> lock(mu_);
  pipes_closed_ = true;
  cv_.notify_all();
}

void ShadowcopyProcess::HandleStderrBytes(std::string_view bytes) {
  std::vector<std::string> complete;
  for (char c : bytes) {
    if (c == '\n') {
      complete.push_back(std::move(partial_line_));
      partial_line_.clear();
    } else {
      partial_line_.push_back(c);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    err_.append(bytes);
    for (const auto& l : complete) err_lines_.push_back(l);
    cv_.notify_all();
  }
  if (on_line_)
    for (const auto& l : complete) on_line_(l);
}

void ShadowcopyProcess::CloseStdoutAfterLines(int lines) { close_stdout_after_ = lines; }

std::string ShadowcopyProcess::StderrSoFar() {
  std::lock_guard<std::mutex> lock(mu_);
  return err_;
}

bool ShadowcopyProcess::OutputClosed() {
  std::lock_guard<std::mutex> lock(mu_);
  return pipes_closed_;
}

void ShadowcopyProcess::Signal(int sig) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!reaped_) kill(pid_, sig);
}

bool ShadowcopyProcess::WaitForStderr(std::string_view needle, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  size_t checked = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    for (; checked < err_lines_.size(); ++checked)
      if (err_lines_[checked].find(needle) != std::string::npos) return true;
    if (pipes_closed_) return false;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return false;
  }
}

ProcessResult ShadowcopyProcess::Wait(std::chrono::milliseconds timeout) {
  ProcessResult result;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (result_.has_value()) return *result_;  // waited before
    if (!cv_.wait_for(lock, timeout, [this] { return pipes_closed_; })) {
      result.timed_out = true;
      kill(pid_, SIGKILL);
      // A grandchild may still hold the pipes open: stop reading after a while.
      if (!cv_.wait_for(lock, std::chrono::seconds(5), [this] { return pipes_closed_; }))
        abandon_.store(true);
    }
  }
  if (reader_.joinable()) reader_.join();
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  std::lock_guard<std::mutex> lock(mu_);
  reaped_ = true;
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
    result.exit_code = 128 + result.term_signal;
  }
  result.out = out_;
  result.err = err_;
  result_ = result;
  return result;
}

ProcessResult RunShadowcopy(const std::vector<std::string>& args, const EnvVars& env_extra,
                            StderrLineCallback on_stderr_line, std::chrono::milliseconds timeout) {
  auto process = ShadowcopyProcess::Start(args, env_extra, std::move(on_stderr_line));
  if (!process.ok()) {
    ProcessResult failed;
    failed.err = std::string(process.status().message());
    return failed;
  }
  return (*process)->Wait(timeout);
}

std::string LastLine(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  auto nl = text.rfind('\n');
  return std::string(nl == std::string_view::npos ? text : text.substr(nl + 1));
}

std::vector<std::string> LinesStartingWith(std::string_view text, std::string_view prefix) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    if (line.substr(0, prefix.size()) == prefix) out.emplace_back(line);
    pos = nl + 1;
  }
  return out;
}

std::optional<double> SummaryNumber(std::string_view json_line, std::string_view key) {
  std::string quoted = "\"" + std::string(key) + "\"";
  auto at = json_line.find(quoted);
  if (at == std::string_view::npos) return std::nullopt;
  at = json_line.find(':', at + quoted.size());
  if (at == std::string_view::npos) return std::nullopt;
  std::string rest(json_line.substr(at + 1));
  char* end = nullptr;
  double v = std::strtod(rest.c_str(), &end);
  if (end == rest.c_str()) return std::nullopt;
  return v;
}

void ExpectSucceeded(const ProcessResult& result) {
  EXPECT_EQ(result.exit_code, 0) << result.Describe();
  EXPECT_NE(LastLine(result.out).find("{\"summary\":"), std::string::npos)
      << "no summary JSON on the last stdout line\n"
      << result.Describe();
}

void ExpectFailedWithOneErrorLine(const ProcessResult& result) {
  EXPECT_EQ(result.exit_code, 1) << result.Describe();
  EXPECT_EQ(LinesStartingWith(result.err, "shadowcopy: error:").size(), 1u)
      << "expected one 'shadowcopy: error:' line on stderr\n"
      << result.Describe();
}

PausePoint::PausePoint() {
  char tmpl[] = "/tmp/sc_it_pause.XXXXXX";
  const char* made = mkdtemp(tmpl);
  dir_ = made != nullptr ? made : "/tmp/sc_it_pause_failed";
}

PausePoint::~PausePoint() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

EnvVars PausePoint::Env(const std::string& at) const {
  return {{"SHADOWCOPY_TEST_PAUSE_DIR", dir_}, {"SHADOWCOPY_TEST_PAUSE_AT", at}};
}

bool PausePoint::WaitPaused(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::error_code ec;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(dir_ + "/paused", ec)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void PausePoint::Continue() const { std::ofstream(dir_ + "/continue") << "continue\n"; }

}  // namespace shadowcopy::it
