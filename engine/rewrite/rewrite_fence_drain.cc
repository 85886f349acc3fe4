// The fenced drain under a lock that blocks writers, shared by the cutover
// (rewrite_cutover.cc), the swap back (rewrite_revert.cc) and the
// verification's consistency point (rewrite_verify.cc): with the table
// locked no writer is in flight. A transactional logical message committed
// now is decoded after every change committed before the lock; once it is
// applied, the table being filled holds all of them. (Not a sleep, and not
// pg_current_wal_lsn(): a write position the walsender may not have sent
// yet.)
//
// Thread-safety: the rewrite thread.
#include <algorithm>
#include <thread>

#include "common/log.h"
#include "engine/rewrite/rewrite.h"

namespace shadowcopy::engine {

absl::StatusOr<bool> Rewrite::DrainFenceUnderLock(std::string_view what, int attempt, const std::string& fence,
                                                  Clock::time_point lock_time, PgConn* lock) {
  if (lock == nullptr) lock = lock_.get();
  auto emitted = main_->Query("SELECT pg_logical_emit_message(true, 'shadowcopy', $1)", {fence});
  if (!emitted.ok()) {
    lock->RollbackQuietly();
    return emitted.status();
  }
  auto deadline = lock_time + LockedDrainBudget(attempt);
  const ApplyStats before = applier_->stats();
  bool drained = false;
  std::string wont_fit;
  while (!drained && Clock::now() < deadline) {
    if (wont_fit = DrainWontFit(deadline); !wont_fit.empty()) break;
    auto st = ReplayAvailable(std::chrono::milliseconds(50));
    if (!st.ok()) {
      lock->RollbackQuietly();
      return st;
    }
    drained = std::find(fences_seen_.begin(), fences_seen_.end(), fence) != fences_seen_.end();
    if (!drained) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const ApplyStats& after = applier_->stats();
  Log(LogLevel::kDebug, "{} attempt {}: {} transactions ({} changes) replayed under the lock in {:.1f} ms", what,
      attempt, after.transactions - before.transactions, after.changes - before.changes,
      std::chrono::duration<double, std::milli>(Clock::now() - lock_time).count());
  if (!drained) {
    lock->RollbackQuietly();
    if (!wont_fit.empty())
      Log(LogLevel::kInfo, "{} attempt {}: gave up at once: {}; catching up", what, attempt, wont_fit);
    else
      Log(LogLevel::kInfo, "{} attempt {}: replay did not reach the fence within {} ms; catching up", what, attempt,
          LockedDrainBudget(attempt).count());
    return false;
  }
  return true;
}

}  // namespace shadowcopy::engine
