#include "engine/control/test_hooks.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/log.h"
#include "common/status.h"

namespace shadowcopy::engine {

bool ShouldPause(const TestHooks& hooks, std::string_view point, int batch) {
  return !hooks.pause_dir.empty() && hooks.pause_point == point && hooks.pause_batch == batch;
}

absl::Status PauseHere(const TestHooks& hooks, const std::function<absl::Status()>& idle,
                       const std::atomic<bool>& stop) {
  namespace fs = std::filesystem;
  fs::path dir(hooks.pause_dir);
  std::error_code ec;
  { std::ofstream(dir / "paused") << "paused\n"; }
  Log(LogLevel::kInfo, "test pause at {}:{}", hooks.pause_point, hooks.pause_batch);
  while (!fs::exists(dir / "continue", ec)) {
    if (stop) return absl::CancelledError("stopped while paused");
    if (idle) RETURN_IF_ERROR(idle());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  fs::remove(dir / "continue", ec);
  fs::remove(dir / "paused", ec);
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
