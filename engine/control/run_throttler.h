// StartRunThrottler: the throttler a run (rewrite or backfill) polls, set up
// from the run's configuration and steered by its Control (live limits, the
// operator's pause). The Control then reads its decisions.
//
// Thread-safety: call from the run's thread; the throttler polls on its own.
#ifndef SHADOWCOPY_ENGINE_CONTROL_RUN_THROTTLER_H_
#define SHADOWCOPY_ENGINE_CONTROL_RUN_THROTTLER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "engine/control/config.h"
#include "engine/control/control.h"
#include "throttler/throttler.h"

namespace shadowcopy::engine {

// REQUIRES: `control` outlives the returned throttler.
absl::StatusOr<std::unique_ptr<throttler::Throttler>> StartRunThrottler(const Config& config, Control* control);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_CONTROL_RUN_THROTTLER_H_
