// How the heavy phases other than the copy follow the throttler: the index
// builds wait between indexes while it says wait, and the replay is paced
// while the application's health signal fires, as long as the slot's lag
// stays well inside its limits (so the slot stays bounded).
//
// Thread-safety: the rewrite thread.
#include <algorithm>
#include <thread>

#include "common/log.h"
#include "common/status.h"
#include "engine/rewrite/rewrite.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A paced replay step applies for at most this long, then rests as long.
constexpr milliseconds kPacedReplayStep{50};

}  // namespace

bool Rewrite::PaceReplay(const throttler::Decision& d) const {
  if (!d.app_health || !stream_) return false;
  const auto ss = stream_->stats();
  const int64_t lag = ss.server_wal_end > durable_applied_ && durable_applied_ > 0
                          ? static_cast<int64_t>(ss.server_wal_end - durable_applied_) : 0;
  // Well below the guards that make the copy wait (max-replay-lag-bytes)
  // or catch up (80% of --max-retained-wal).
  int64_t guard = config_.max_retained_wal / 4;
  const auto limits = control_->ThrottleLimits();
  if (limits.max_replay_lag_bytes > 0) guard = std::min(guard, limits.max_replay_lag_bytes / 2);
  if (limits.critical_replay_lag_bytes > 0) guard = std::min(guard, limits.critical_replay_lag_bytes / 4);
  return lag < guard;
}

absl::Status Rewrite::PacedReplayStep(Clock::time_point until) {
  const auto started = Clock::now();
  const auto budget = std::min<Clock::duration>(until - started, kPacedReplayStep);
  RETURN_IF_ERROR(ReplayAvailable(std::chrono::duration_cast<milliseconds>(budget) + milliseconds(1)));
  // Rest as long as the step took (at least a little when there was nothing
  // to apply): the replay then uses at most half of a core.
  const auto rest = std::max<Clock::duration>(Clock::now() - started, milliseconds(5));
  std::this_thread::sleep_until(std::min(until, Clock::now() + rest));
  return absl::OkStatus();
}

absl::Status Rewrite::WaitForHeavyWork(std::string_view what) {
  for (;;) {
    RETURN_IF_ERROR(CheckStop());
    if (control_->abort_requested()) return absl::CancelledError("aborted by the operator");
    RETURN_IF_ERROR(stream_->status());
    RETURN_IF_ERROR(CheckRetainedWal());
    throttler::Decision d = throttler_->current();
    if (d.abort) return absl::AbortedError(fmt::format("stopping the migration: {}", d.reason));
    if (d.reason != last_throttle_reason_) {
      Log(LogLevel::kInfo, "{}: {}", what, d.reason.empty() ? "resumed: no throttle signal over its limit" : d.reason);
      last_throttle_reason_ = d.reason;
    }
    if (!d.throttled) return absl::OkStatus();
    PublishProgress(phase_);
    MaybeReportProgress(false);
    RETURN_IF_ERROR(ReplayWhileWaiting(Clock::now() + milliseconds(200)));
  }
}

}  // namespace shadowcopy::engine
