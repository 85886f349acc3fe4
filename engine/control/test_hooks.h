// Test-only pause points used to force the interleavings of DESIGN.md §3.
// Configured through SHADOWCOPY_TEST_* environment variables (see cli/), never
// by users. When a pause point is reached the tool creates <dir>/paused and
// waits for <dir>/continue, running `idle` meanwhile.
//
// Thread-safety: used by the rewrite thread only.
#ifndef SHADOWCOPY_ENGINE_CONTROL_TEST_HOOKS_H_
#define SHADOWCOPY_ENGINE_CONTROL_TEST_HOOKS_H_

#include <atomic>
#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "engine/control/config.h"

namespace shadowcopy::engine {

bool ShouldPause(const TestHooks& hooks, std::string_view point, int batch);

// Blocks until <dir>/continue exists (or `stop` is set), calling `idle`
// about every 20 ms. Removes both files before returning.
absl::Status PauseHere(const TestHooks& hooks, const std::function<absl::Status()>& idle,
                       const std::atomic<bool>& stop);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_CONTROL_TEST_HOOKS_H_
