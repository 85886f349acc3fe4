// Hooks: the operator's executables in --hooks-path, one per event
// (`shadowcopy-on-<event>`, see hooks_env.h), run at each phase of a run
// (a rewrite, a backfill, a migration) with the run's facts in their
// environment. Values reach a hook only through its environment: no shell,
// no argument built from them.
//
// Hooks run in the order the events happened, each for at most the
// timeout; then its process group is killed. Its output goes to the log,
// line by line. A notification never holds up the run (Fire returns at
// once) and its failure is only logged. A gate (Gate: before-cutover),
// which the run waits for and which vetoes what it guards when it fails or
// times out, never waits long behind a notification (see hooks.cc).
//
// The status event is fired by the worker itself every status interval
// while the run goes on.
//
// Thread-safety: every method may be called from any thread.
#ifndef SHADOWCOPY_ENGINE_CONTROL_HOOKS_H_
#define SHADOWCOPY_ENGINE_CONTROL_HOOKS_H_

#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/control/control.h"
#include "engine/control/hooks_env.h"

namespace shadowcopy::engine {

struct HookSettings {
  std::string path;                                  // --hooks-path; "" no hooks
  std::chrono::milliseconds timeout{30000};          // --hooks-timeout
  std::chrono::milliseconds status_interval{60000};  // --hooks-status-interval
};

// OK when `path` is a directory we may read and search. FailedPrecondition
// (one line naming the flag) when it is missing, not a directory or
// unreadable. Creates nothing.
absl::Status CheckHooksPath(const std::string& path);

// How one hook process ended.
struct HookRun {
  int exit_code = -1;     // its exit status; 128 + signal when killed by one
  bool timed_out = false; // killed at the timeout
  std::string output;     // stdout and stderr, interleaved (at most 64 KiB)
  std::chrono::milliseconds took{0};
};

// Runs the executable at `path` (no arguments) with exactly `env`, stdin
// from /dev/null, in a process group of its own with no signal blocked;
// kills the group at `timeout`. Internal when it cannot be started.
absl::StatusOr<HookRun> RunHookProcess(const std::string& path, const std::vector<std::string>& env,
                                       std::chrono::milliseconds timeout);

class Hooks {
 public:
  // The hooks of `settings.path` ("" : none; every call then does nothing).
  // Logs the hooks found and reports files named like hooks that are not
  // executable or answer no known event. `control` (may be null, not owned,
  // must outlive this) gives each event the run's phase and progress; with
  // it the status event fires every status interval. FailedPrecondition
  // as CheckHooksPath.
  static absl::StatusOr<std::unique_ptr<Hooks>> Open(const HookSettings& settings, const Control* control);
  ~Hooks();
  Hooks(const Hooks&) = delete;
  Hooks& operator=(const Hooks&) = delete;

  // Changes the facts later events are told (run id, database, migration).
  void UpdateFacts(const std::function<void(HookFacts*)>& change);

  // Announces `event`: its hook (if there is one) runs on the worker after
  // the hooks of earlier events. Returns at once.
  void Fire(std::string_view event, HookVars extra = {});
  // Fire, the first time only for this event.
  void FireOnce(std::string_view event, HookVars extra = {});

  // Runs `event`'s hook after the earlier ones (< 0.3 s) and waits, calling
  // `while_waiting` about every 100 ms meanwhile (its error ends the wait and
  // is returned). OK when there is no such hook or it exits 0; Unavailable
  // saying why (exit status, timeout) otherwise: retry later.
  absl::Status Gate(std::string_view event, HookVars extra, const std::function<absl::Status()>& while_waiting);

  // While held, no hook starts (one running goes on): the rewrite holds them
  // while it may hold the cutover lock, so no hook of ours queues behind it.
  void Hold(bool held);

  // Runs the hooks already announced to completion and stops the worker;
  // later events are ignored. Called at the end of the run.
  void Finish();

 private:
  struct Job {
    std::string event;
    HookVars vars;
    std::shared_ptr<std::promise<absl::Status>> done;  // a gate waits for it
  };

  Hooks(HookSettings settings, const Control* control);
  bool enabled() const { return !settings_.path.empty(); }
  // The executable answering `event`; "" when none (a non-executable file
  // is reported once).
  std::string HookPath(std::string_view event);
  Job MakeJob(std::string_view event, HookVars extra);
  absl::Status RunJob(const Job& job);
  void WorkerLoop();

  // Immutable after construction.
  const HookSettings settings_;
  const Control* const control_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  absl::Mutex mu_;
  HookFacts facts_ ABSL_GUARDED_BY(mu_);
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> fired_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> reported_ ABSL_GUARDED_BY(mu_);  // non-executable files warned about
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_CONTROL_HOOKS_H_
