// How a run in this process is steered: its control socket (status, pause,
// resume, set, cutover, revert, abort) and the stop signals (SIGINT,
// SIGTERM, SIGHUP, SIGQUIT) turned into the engine's stop request, so that
// the run's own thread cancels its queries and cleans up. Shared by the
// rewrite and backfill commands and by `migrate`'s engine steps.
//
// Thread-safety: RunUnderControl blocks its caller; the rest is stateless.
#ifndef SHADOWCOPY_CLI_RUN_CONTROL_H_
#define SHADOWCOPY_CLI_RUN_CONTROL_H_

#include <signal.h>

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "cli/control_server.h"
#include "engine/control/config.h"
#include "engine/control/control.h"

namespace shadowcopy::cli {

// Blocks the stop signals in this thread and in every thread it starts
// later (the previous mask into `old` when given); RunUnderControl's
// watcher takes them with sigwait.
sigset_t BlockStopSignals(sigset_t* old = nullptr);

// "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT".
const char* StopSignalName(int sig);

// The operator's socket when executing, listening but not yet serving; null
// when there is none (a dry run, --socket none). The default path
// (socket_path.h) falls back to a per-process name, said in a warning, when
// a live socket is there already. `config->socket_path` becomes the path
// actually used.
absl::StatusOr<std::unique_ptr<ControlServer>> OpenControlSocket(engine::Config* config);

// Runs `run` with `server` (may be null) serving `control` and the signals of
// `set` (blocked by BlockStopSignals) taken by one watcher thread that calls
// `stop`. Returns true when a stop signal arrived while `run` ran.
bool RunUnderControl(engine::Control* control, ControlServer* server, const sigset_t& set,
                     const std::function<void()>& run, const std::function<void()>& stop);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_RUN_CONTROL_H_
