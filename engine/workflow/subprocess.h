// Child processes of the rehearsal (initdb, postgres, pg_dump, psql): started
// in a process group of their own (a Ctrl-C on the terminal reaches only
// shadowcopy, which then stops them in order), with no signal blocked, and
// killed by the kernel if the thread that started them dies (parent-death
// signal), so a killed shadowcopy leaves no server running.
//
// Thread-safety: each function is safe to call from any thread; a Child is
// owned by one thread.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_SUBPROCESS_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace shadowcopy::workflow {

// An OS user to run a child as (root runs the server as `postgres`).
struct OsUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

// The unprivileged user to run the server as: nullopt when we are not root;
// FailedPrecondition when we are root and `name` does not exist.
absl::StatusOr<std::optional<OsUser>> ServerOsUser(const std::string& name);

struct ProcessSpec {
  std::vector<std::string> argv;       // argv[0] is the program's path
  std::string cwd;                     // "" keeps ours
  std::optional<OsUser> user;          // run as this user
  std::string output_path;             // stdout and stderr go here ("" = /dev/null)
  int death_signal = 9;                // sent to the child when we die (SIGKILL)
};

// Starts `spec`. Internal when fork fails; a program that cannot be executed
// exits with status 127 (its error in output_path).
absl::StatusOr<pid_t> Spawn(const ProcessSpec& spec);

// Waits for `pid` to exit. With a stop request: SIGTERM to its group, then
// SIGKILL after a grace period, and Cancelled. Returns the exit status
// (128 + signal when killed).
absl::StatusOr<int> WaitChild(pid_t pid, const std::stop_token& stop);

// Runs `spec` to completion (Spawn + WaitChild).
absl::StatusOr<int> RunProcess(const ProcessSpec& spec, const std::stop_token& stop);

// Sends `sig` to `pid` and waits up to `grace` for it to exit, then SIGKILL
// and waits. For cleanup paths: never fails.
void StopChild(pid_t pid, int sig, std::chrono::milliseconds grace);

// The first non-empty line of the file at `path` that looks like an error
// (contains "error" or "FATAL"), else its last non-empty line; "" when none.
std::string ErrorLineOf(const std::string& path);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_SUBPROCESS_H_
