// The engine steps of `migrate` (an online rewrite, a batched backfill), run
// in this process exactly as `shadowcopy --table T --alter ... --execute`
// and `shadowcopy backfill ... --execute` run them: the same options, test
// hooks, control socket, throttler, progress, verification and resume. The
// stop signals become the engine's stop request while a step runs.
//
// Thread-safety: one step at a time per process.
#ifndef SHADOWCOPY_CLI_MIGRATE_ENGINE_H_
#define SHADOWCOPY_CLI_MIGRATE_ENGINE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/workflow/migrate_runner.h"

namespace shadowcopy::cli {

// Runs the engine command `args` (the words after the program name; the
// first is "backfill" for a backfill). The engine's own status on failure
// (Cancelled after a stop signal); InvalidArgument when `args` do not parse.
// `events.window_open` is called when a rewrite's revert window opens.
absl::Status RunEngineStepForMigrate(const std::vector<std::string>& args,
                                     const workflow::EngineStepEvents& events);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_MIGRATE_ENGINE_H_
