// The control socket: a Unix-domain stream socket (mode 0600) on which an
// operator sends one command per line and gets one reply line per command:
//
//   help | status [--json] | pause [--replay] | resume | set NAME=VALUE |
//   get NAME | cutover | verify | verify-result N | abort
//
// `verify` asks for a verification and answers at once with its request
// number ("ok: verification requested (request N)"); `verify-result N`
// answers "pending: ..." until it is done, then "ok: <report>" or
// "error: <why>".
//
// A reply is a human line ("ok: ..." for changes), the JSON object for
// `status --json`, or a line starting with "error:" for an unknown or
// malformed command, which changes nothing. Several clients may be connected
// at once, up to a cap (more are answered with one error line and closed);
// a connection idle for too long is closed. Only connections from a process
// of the server's own user (or root), by SO_PEERCRED, are served. `identify`
// answers the run's socket key (see socket_path.h) so a client can tell the
// run it wants from anything else listening at a path. Everything goes
// through engine::Control; the server holds no run state of its own.
//
// Thread-safety: ParseControlCommand and the path helpers are pure.
// ControlServer's Start() and Stop() belong to one thread; the server runs
// its own io_context on its own thread (completion handlers, no coroutines).
#ifndef SHADOWCOPY_CLI_CONTROL_SERVER_H_
#define SHADOWCOPY_CLI_CONTROL_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/control/control.h"

namespace shadowcopy::cli {

enum class ControlVerb { kHelp, kStatus, kPause, kResume, kSet, kGet, kCutover, kVerify, kVerifyResult, kAbort, kRevert };

struct ControlCommand {
  ControlVerb verb = ControlVerb::kHelp;
  bool json = false;    // status --json
  bool replay = false;  // pause --replay
  std::string name;     // set / get
  std::string value;    // set
  uint64_t request = 0; // verify-result
};

// Parses one command line (surrounding blanks and a trailing CR ignored).
// InvalidArgument with a one-line message for anything else (empty, unknown
// verb, missing or extra arguments, `set` without NAME=VALUE). Tunable names
// and values are checked by engine::Control.
absl::StatusOr<ControlCommand> ParseControlCommand(std::string_view line);

// Runs `command` against `control`; returns the reply line (no newline).
std::string ExecuteControlCommand(engine::Control& control, const ControlCommand& command);

// Parse + execute; a parse error becomes "error: <message>".
std::string HandleControlLine(engine::Control& control, std::string_view line);

// One-line help: the commands and the tunables with their current values.
std::string ControlHelpText(const engine::Control& control);

// Counts the open control connections against a cap. Not thread-safe (the
// server's one thread uses it).
class ConnectionSlots {
 public:
  explicit ConnectionSlots(int max) : max_(max) {}
  // Takes a slot; false (nothing taken) when all `max` are in use.
  bool TryAcquire() {
    if (active_ >= max_) return false;
    ++active_;
    return true;
  }
  void Release() {
    if (active_ > 0) --active_;
  }
  int active() const { return active_; }
  int max() const { return max_; }

 private:
  const int max_;
  int active_ = 0;
};

struct ControlServerOptions {
  int max_connections = 16;                          // concurrent clients
  std::chrono::milliseconds idle_timeout{60000};     // no complete command for this long: closed
  uint64_t key = 0;                                  // answered by `identify`; 0: none
};

class ControlServer {
 public:
  // `control` must outlive the server; it may be null when the server is
  // started with Listen() and Serve().
  ControlServer(engine::Control* control, std::string path, ControlServerOptions options = {});
  ~ControlServer();  // Stop()
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Creates the socket (mode 0600 before it accepts anyone) and starts
  // serving on its own thread. A path on which a live server answers is
  // FailedPrecondition (another run uses it); a stale socket file is
  // removed; a path that exists and is not a socket is FailedPrecondition
  // (never deleted); a path too long for a socket address is
  // InvalidArgument. REQUIRES: not started.
  absl::Status Start();

  // Start() in two steps: Listen() creates the socket (as Start() does, but
  // serves nobody yet: clients wait in the backlog), Serve() starts serving
  // `control`, which must outlive the server. REQUIRES: Listen() succeeded.
  absl::Status Listen();
  void Serve(engine::Control* control);

  // Stops serving, closes every client, joins the thread and removes the
  // socket file. Idempotent.
  void Stop();

  const std::string& path() const { return path_; }

 private:
  struct Impl;
  engine::Control* control_;
  const std::string path_;
  const ControlServerOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_CONTROL_SERVER_H_
