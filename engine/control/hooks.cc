#include "engine/control/hooks.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "fmt/format.h"

extern char** environ;

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;
using HookClock = std::chrono::steady_clock;

constexpr size_t kMaxHookOutput = 64 * 1024;
// At most this many announced notifications wait for the worker; an event
// announced beyond them is logged and dropped.
constexpr size_t kMaxQueuedNotifications = 256;
// How long a gate waits for the hooks of the events announced before it
// (so quick ones keep their order) before it runs beside them.
constexpr milliseconds kGateOrderGrace{1000};

bool IsGateJob(const auto& job) { return job.done != nullptr; }

std::vector<std::string> OurEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  return env;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Kills the hook's process group and reaps the hook.
int KillHookGroup(pid_t pid) {
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

void LogHookOutput(std::string_view event, const std::string& output) {
  size_t start = 0;
  while (start < output.size()) {
    size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    if (end > start) Log(LogLevel::kInfo, "hook {}: {}", event, std::string_view(output).substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

absl::Status CheckHooksPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return absl::FailedPreconditionError(fmt::format("--hooks-path {}: {}", path, std::strerror(errno)));
  if (!S_ISDIR(st.st_mode))
    return absl::FailedPreconditionError(fmt::format("--hooks-path {} is not a directory", path));
  if (::access(path.c_str(), R_OK | X_OK) != 0)
    return absl::FailedPreconditionError(fmt::format("--hooks-path {}: {}", path, std::strerror(errno)));
  return absl::OkStatus();
}

absl::StatusOr<HookRun> RunHookProcess(const std::string& path, const std::vector<std::string>& env,
                                       milliseconds timeout) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError(fmt::format("pipe: {}", std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group (killed as a whole at the timeout; a Ctrl-C on the
  // terminal reaches only us), no signal blocked (ours are: a watcher thread
  // takes them), default dispositions.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv = {const_cast<char*>(path.c_str()), nullptr};
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  auto started = HookClock::now();
  pid_t pid = 0;
  int err = ::posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (err != 0) {
    ::close(fds[0]);
    return absl::InternalError(fmt::format("cannot start {}: {}", path, std::strerror(err)));
  }
  HookRun run;
  auto deadline = started + timeout;
  bool open = true;
  int status = 0;
  bool exited = false;
  char buf[4096];
  // Read until the hook exits (a background child it left may keep the pipe
  // open: not waited for) or the deadline.
  while (!exited) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - HookClock::now()).count();
    if (left <= 0) {
      run.timed_out = true;
      status = KillHookGroup(pid);
      break;
    }
    if (open) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 50))) > 0) {
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n > 0 && run.output.size() < kMaxHookOutput)
          run.output.append(buf, std::min<size_t>(n, kMaxHookOutput - run.output.size()));
        if (n == 0) open = false;
      }
    } else {
      ::usleep(10000);
    }
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    exited = w == pid;
  }
  if (exited && open) {
    // What the hook wrote just before it exited.
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0 && run.output.size() < kMaxHookOutput)
      run.output.append(buf, std::min<size_t>(n, kMaxHookOutput - run.output.size()));
  }
  ::close(fds[0]);
  run.exit_code = ExitCodeOf(status);
  run.took = std::chrono::duration_cast<milliseconds>(HookClock::now() - started);
  return run;
}

absl::StatusOr<std::unique_ptr<Hooks>> Hooks::Open(const HookSettings& settings, const Control* control) {
  if (!settings.path.empty()) {
    if (auto st = CheckHooksPath(settings.path); !st.ok()) return st;
    DIR* dir = ::opendir(settings.path.c_str());
    if (dir == nullptr)
      return absl::FailedPreconditionError(fmt::format("--hooks-path {}: {}", settings.path, std::strerror(errno)));
    std::vector<std::string> found;
    while (dirent* d = ::readdir(dir)) {
      auto event = HookEventOfFile(d->d_name);
      if (!event) continue;
      std::string file = settings.path + "/" + d->d_name;
      if (!IsHookEvent(*event))
        Log(LogLevel::kWarning, "hooks: {} answers no event (known: shadowcopy-on-startup, ...; see README)", file);
      else if (!IsExecutableFile(file))
        Log(LogLevel::kWarning, "hooks: {} is not an executable file; it will not run", file);
      else
        found.push_back(*event);
    }
    ::closedir(dir);
    std::sort(found.begin(), found.end());
    std::string list;
    for (const auto& e : found) list += (list.empty() ? "" : ", ") + e;
    Log(LogLevel::kInfo, "hooks: {} ({})", settings.path, list.empty() ? "none yet" : list);
  }
  auto hooks = std::unique_ptr<Hooks>(new Hooks(settings, control));
  if (hooks->enabled()) hooks->worker_ = std::thread([h = hooks.get()] { h->WorkerLoop(); });
  return hooks;
}

Hooks::Hooks(HookSettings settings, const Control* control) : settings_(std::move(settings)), control_(control) {}

Hooks::~Hooks() { Finish(); }

void Hooks::UpdateFacts(const std::function<void(HookFacts*)>& change) {
  absl::MutexLock lock(&mu_);
  change(&facts_);
}

std::string Hooks::HookPath(std::string_view event) {
  std::string path = settings_.path + "/" + HookFileName(event);
  if (IsExecutableFile(path)) return path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    absl::MutexLock lock(&mu_);
    if (reported_.insert(path).second)
      Log(LogLevel::kWarning, "hooks: {} is not an executable file; not run", path);
  }
  return "";
}

Hooks::Job Hooks::MakeJob(std::string_view event, HookVars extra) {
  HookFacts f;
  {
    absl::MutexLock lock(&mu_);
    f = facts_;
  }
  f.elapsed_s = std::chrono::duration<double>(HookClock::now() - started_).count();
  if (control_ != nullptr) {
    StatusSnapshot s = control_->Status();
    const Progress& p = s.progress;
    f.phase = p.phase;
    f.rows_estimated = static_cast<int64_t>(p.estimated_rows);
    if (control_->kind() == ControlKind::kBackfill) {
      f.rows_copied = p.keys_covered;
      extra.emplace_back("SHADOWCOPY_ROWS_CHANGED", std::to_string(p.rows_changed));
    } else {
      f.rows_copied = p.rows_copied;
      f.changes_replayed = p.changes_replayed;
    }
    if (p.eta_s >= 0) f.eta_s = p.eta_s;
    else if (p.rows_per_s > 0 && p.estimated_rows > *f.rows_copied)
      f.eta_s = (p.estimated_rows - static_cast<double>(*f.rows_copied)) / p.rows_per_s;
  }
  return Job{std::string(event), BuildHookVars(event, f, extra), nullptr};
}

void Hooks::Fire(std::string_view event, HookVars extra) {
  if (!enabled()) return;
  Job job = MakeJob(event, std::move(extra));
  absl::MutexLock lock(&mu_);
  if (finishing_) return;
  if (queue_.size() >= kMaxQueuedNotifications) {
    Log(LogLevel::kWarning, "hook {}: not run, {} earlier events still wait for their hooks", job.event,
        queue_.size());
    return;
  }
  queue_.push_back(std::move(job));
}

void Hooks::FireOnce(std::string_view event, HookVars extra) {
  if (!enabled()) return;
  {
    absl::MutexLock lock(&mu_);
    if (!fired_.insert(std::string(event)).second) return;
  }
  Fire(event, std::move(extra));
}

absl::Status Hooks::Gate(std::string_view event, HookVars extra, const std::function<absl::Status()>& while_waiting) {
  if (!enabled() || HookPath(event).empty()) return absl::OkStatus();
  Job job = MakeJob(event, std::move(extra));
  job.done = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> done = job.done->get_future();
  {
    absl::MutexLock lock(&mu_);
    if (finishing_) return absl::OkStatus();
    queue_.push_back(std::move(job));
  }
  while (done.wait_for(milliseconds(100)) != std::future_status::ready) {
    if (absl::Status st = while_waiting(); !st.ok()) return st;
  }
  return done.get();
}

absl::Status Hooks::RunJob(const Job& job) {
  std::string path = HookPath(job.event);
  if (path.empty()) return absl::OkStatus();
  auto run = RunHookProcess(path, MergeHookEnvironment(OurEnvironment(), job.vars), settings_.timeout);
  if (!run.ok()) {
    Log(LogLevel::kWarning, "hook {}: {}", job.event, run.status().message());
    return absl::UnavailableError(fmt::format("hook {} could not start: {}", path, run.status().message()));
  }
  LogHookOutput(job.event, run->output);
  if (run->timed_out) {
    Log(LogLevel::kWarning, "hook {}: killed at its timeout ({} ms)", job.event, settings_.timeout.count());
    return absl::UnavailableError(fmt::format("hook {} timed out after {} ms", path, settings_.timeout.count()));
  }
  if (run->exit_code != 0) {
    Log(LogLevel::kWarning, "hook {}: exited with status {} after {} ms", job.event, run->exit_code,
        run->took.count());
    return absl::UnavailableError(fmt::format("hook {} exited with status {}", path, run->exit_code));
  }
  Log(LogLevel::kDebug, "hook {}: done in {} ms", job.event, run->took.count());
  return absl::OkStatus();
}

// One worker takes the jobs in their order. A notification runs on a
// thread of its own, one at a time, so that a gate announced meanwhile need
// not wait for it: the gate waits for the notifications announced before it
// at most kGateOrderGrace (quick ones keep their order), then runs on the
// worker beside them. The status event is a notification the worker makes
// itself when nothing else waits.
void Hooks::WorkerLoop() {
  const bool ticks = control_ != nullptr && settings_.status_interval.count() > 0;
  auto next_status = HookClock::now() + settings_.status_interval;
  std::thread notification;           // the notification running, or done and not joined
  bool notification_running = false;  // guarded by mu_
  std::optional<HookClock::time_point> gate_seen;  // when the first waiting gate was seen
  auto start_notification = [&](Job job) {
    if (notification.joinable()) notification.join();
    notification = std::thread([this, &notification_running, job = std::move(job)] {
      RunJob(job).IgnoreError();  // logged; a notification's failure changes nothing
      absl::MutexLock lock(&mu_);
      notification_running = false;
    });
  };
  for (;;) {
    Job job;
    bool run_gate = false, tick = false;
    {
      absl::MutexLock lock(&mu_);
      auto unheld = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !held_ || finishing_; };
      mu_.Await(absl::Condition(&unheld));
      auto gate_at = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return std::find_if(queue_.begin(), queue_.end(), [](const Job& j) { return IsGateJob(j); });
      };
      // A gate with nothing before it, or one not seen yet; a notification
      // when none runs; the end; the notification that ran has ended (the
      // status tick's time is to be waited for again: without it, the wait
      // below has no deadline while a notification runs, and no status
      // event would come until another event was announced).
      const bool notification_was_running = notification_running;
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        if (held_ && !finishing_) return true;
        if (ticks && notification_was_running && !notification_running) return true;
        if (finishing_ && queue_.empty() && !notification_running) return true;
        auto gate = gate_at();
        if (gate != queue_.end() && (!gate_seen || (gate == queue_.begin() && !notification_running))) return true;
        return !queue_.empty() && !IsGateJob(queue_.front()) && !notification_running;
      };
      std::optional<HookClock::time_point> wake;
      if (ticks && !notification_running) wake = next_status;
      if (gate_seen && (!wake || *gate_seen + kGateOrderGrace < *wake)) wake = *gate_seen + kGateOrderGrace;
      if (wake) {
        mu_.AwaitWithDeadline(absl::Condition(&ready), absl::Now() + absl::FromChrono(*wake - HookClock::now()));
      } else {
        mu_.Await(absl::Condition(&ready));
      }
      if (finishing_ && queue_.empty() && !notification_running) break;
      if (held_ && !finishing_) continue;
      auto gate = gate_at();
      if (gate != queue_.end()) {
        if (!gate_seen) gate_seen = HookClock::now();
        bool earlier_done = gate == queue_.begin() && !notification_running;
        if (earlier_done || HookClock::now() >= *gate_seen + kGateOrderGrace) {
          job = std::move(*gate);
          queue_.erase(gate);
          gate_seen.reset();
          run_gate = true;
        }
      }
      if (!run_gate && !notification_running) {
        if (!queue_.empty() && !IsGateJob(queue_.front())) {
          job = std::move(queue_.front());
          queue_.pop_front();
          notification_running = true;
        } else if (queue_.empty() && ticks && HookClock::now() >= next_status) {
          next_status = HookClock::now() + settings_.status_interval;
          tick = notification_running = true;
        }
      }
    }
    if (run_gate) {
      job.done->set_value(RunJob(job));
    } else if (tick) {
      start_notification(MakeJob("status", {}));
    } else if (!job.event.empty()) {
      start_notification(std::move(job));
    }
  }
  if (notification.joinable()) notification.join();
}

void Hooks::Hold(bool held) {
  absl::MutexLock lock(&mu_);
  held_ = held;
}

void Hooks::Finish() {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = finishing_ = true;
  }
  if (worker_.joinable()) worker_.join();
}

}  // namespace shadowcopy::engine
