#include "engine/workflow/subprocess.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {

absl::StatusOr<std::optional<OsUser>> ServerOsUser(const std::string& name) {
  if (geteuid() != 0) return std::optional<OsUser>();
  struct passwd pw;
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr)
    return absl::FailedPreconditionError(fmt::format(
        "running as root, and there is no '{}' OS user to run the rehearsal server as (PostgreSQL refuses root)",
        name));
  return std::optional<OsUser>(OsUser{pw.pw_uid, pw.pw_gid, name});
}

absl::StatusOr<pid_t> Spawn(const ProcessSpec& spec) {
  if (spec.argv.empty()) return absl::InternalError("no program to run");
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const char* out = spec.output_path.empty() ? "/dev/null" : spec.output_path.c_str();
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(fmt::format("fork: {}", std::strerror(errno)));
  if (pid > 0) return pid;
  // Child.
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) signal(sig, SIG_DFL);
  int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
  }
  int in = open("/dev/null", O_RDONLY);
  if (in >= 0) dup2(in, 0);
  if (spec.user) {
    if (fd >= 0) (void)fchown(fd, spec.user->uid, spec.user->gid);
    if (setgroups(0, nullptr) != 0 || setgid(spec.user->gid) != 0 || setuid(spec.user->uid) != 0) {
      const char msg[] = "cannot switch to the server's OS user\n";
      (void)!write(2, msg, sizeof msg - 1);
      _exit(127);
    }
  }
  // After the user switch, which clears it.
  prctl(PR_SET_PDEATHSIG, spec.death_signal);
  if (getppid() != parent) _exit(127);
  if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0) _exit(127);
  execv(argv[0], argv.data());
  const char msg[] = "cannot execute the program\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(127);
}

absl::StatusOr<int> WaitChild(pid_t pid, const std::stop_token& stop) {
  using namespace std::chrono_literals;
  auto sleep = 1ms;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 && errno != EINTR) return absl::InternalError(fmt::format("waitpid: {}", std::strerror(errno)));
    if (stop.stop_requested()) {
      kill(-pid, SIGTERM);
      StopChild(pid, SIGTERM, 3000ms);
      return absl::CancelledError("stopped");
    }
    std::this_thread::sleep_for(sleep);
    if (sleep < 20ms) sleep *= 2;
  }
}

absl::StatusOr<int> RunProcess(const ProcessSpec& spec, const std::stop_token& stop) {
  auto pid = Spawn(spec);
  if (!pid.ok()) return pid.status();
  return WaitChild(*pid, stop);
}

void StopChild(pid_t pid, int sig, std::chrono::milliseconds grace) {
  using namespace std::chrono_literals;
  if (kill(pid, sig) != 0 && errno == ESRCH) {
    int status;
    waitpid(pid, &status, WNOHANG);
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(5ms);
  }
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

std::string ErrorLineOf(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.find("error") != std::string::npos || line.find("ERROR") != std::string::npos ||
        line.find("FATAL") != std::string::npos)
      return line;
    last = line;
  }
  return last;
}

}  // namespace shadowcopy::workflow
