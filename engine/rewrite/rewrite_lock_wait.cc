// Before each lock request of the rewrite that conflicts with writers (the
// cutover's ACCESS EXCLUSIVE, a consistency point's SHARE, the swap's
// rehearsal, setting the replica identity): the replay brought close behind
// without any lock, then a wait for a moment when the request would not
// queue behind another session (lock_gate.h). The request itself then runs
// with a short lock_timeout: it never stands in the queue, with the
// application behind it, for longer than that.
//
// Thread-safety: the rewrite thread.
#include <algorithm>

#include "common/log.h"
#include "common/quote.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/control/test_hooks.h"
#include "engine/rewrite/lock_gate.h"
#include "engine/rewrite/rewrite.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;

double WaitedMs(Rewrite::Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Rewrite::Clock::now() - t).count();
}

}  // namespace

std::string Rewrite::ShortLockTimeoutSql() const {
  return fmt::format("SET LOCAL lock_timeout = '{}ms'",
                     std::min<int64_t>(config_.cutover_lock_timeout.count(), kShortLockTimeout.count()));
}

// 80 ms more at each attempt, and never less than twice what a fence took
// to come back without the lock just before (on a busy server the round
// trip alone can take longer than 80 ms: an attempt sure to fail only
// blocks writers for nothing).
std::chrono::milliseconds Rewrite::LockedDrainBudget(int attempt) const {
  auto budget = std::max(milliseconds(80) * std::max(attempt, 1), 2 * fence_round_trip_);
  return std::min<milliseconds>(config_.cutover_drain_timeout, budget);
}

// Replays up to a fence emitted now, without any lock: the drain under the
// lock is then left with what was written in the last moments only.
absl::StatusOr<bool> Rewrite::PreFence(std::string_view what) {
  std::string fence = fmt::format("{}/pre-{}", run_id_, ++pre_fences_);
  auto started = Clock::now();
  RETURN_IF_ERROR(main_->Query("SELECT pg_logical_emit_message(true, 'shadowcopy', $1)", {fence}).status());
  const auto deadline = started + std::max<milliseconds>(config_.cutover_drain_timeout * 10, milliseconds(30000));
  while (std::find(fences_seen_.begin(), fences_seen_.end(), fence) == fences_seen_.end()) {
    RETURN_IF_ERROR(CheckStop());
    if (Clock::now() >= deadline) {
      Log(LogLevel::kInfo, "{}: replay did not reach a fence in {:.0f} ms; catching up", what, WaitedMs(started));
      return false;
    }
    RETURN_IF_ERROR(ReplayAvailable(milliseconds(50)));
    if (stream_->Queued() == 0) stream_->WaitQueued(milliseconds(5));
  }
  fence_round_trip_ = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  Log(LogLevel::kDebug, "{}: replay reached a fence in {:.1f} ms", what, WaitedMs(started));
  return true;
}

absl::StatusOr<bool> Rewrite::AwaitQuietTable(PgConn* conn, uint32_t oid, const std::string& table, LockMode want,
                                              std::string_view what, Clock::time_point deadline, bool replay) {
  int last_pid = -1;
  auto report = [&](const LockHolder* h, double waited_ms) {
    if (!h) {
      if (last_pid >= 0)
        Log(LogLevel::kInfo, "{}: no conflicting lock on {} after waiting {:.1f} s", what,
            table, waited_ms / 1000.0);
      lock_wait_.clear();
      lock_wait_s_ = 0;
      PublishProgress(phase_);
      return;
    }
    lock_wait_ = std::string(what);
    lock_wait_s_ = waited_ms / 1000.0;
    lock_wait_holder_ = *h;
    if (h->pid != last_pid) {
      last_pid = h->pid;
      std::string named = DescribeHolder(*h);
      Log(LogLevel::kInfo, "{}: not asking for {} on {} yet: {}", what, LockModeName(want), table, named);
      auto& holders = summary_.lock_holders;
      const std::string key = fmt::format("pid {} ", h->pid);
      bool seen = std::any_of(holders.begin(), holders.end(),
                              [&](const std::string& s) { return s.rfind(key, 0) == 0; });
      if (!seen && holders.size() < 5) holders.push_back(named);
    }
    PublishProgress(phase_);
  };
  std::function<absl::Status()> idle;
  if (replay) idle = [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckStop());
    return CatchUp(milliseconds(20));
  };
  else idle = [&]() -> absl::Status { return CheckStop(); };
  ASSIGN_OR_RETURN(LockWaitOutcome out, WaitForQuietTable(conn, oid, want, deadline, idle, report));
  if (what == "cutover") summary_.cutover_lock_wait_s += out.waited_ms / 1000.0;
  if (what == "verify") summary_.verify_lock_wait_s += out.waited_ms / 1000.0;
  if (!out.quiet) {
    Log(LogLevel::kInfo, "{}: still not asking after {:.1f} s: {}", what, out.waited_ms / 1000.0,
        out.blocker ? DescribeHolder(*out.blocker) : std::string("?"));
    lock_wait_.clear();
    PublishProgress(phase_);
  }
  return out.quiet;
}

void Rewrite::SyncBlockedSummary() {
  summary_.blocked_ms = cutover_blocked_.total_ms;
  summary_.blocked_max_ms = cutover_blocked_.max_ms;
  summary_.cutover_lock_failures = cutover_blocked_.failed;
}

absl::StatusOr<bool> Rewrite::PrepareLockRequest(PgConn* conn, LockMode want, std::string_view what, int attempt) {
  const auto deadline = Clock::now() + config_.cutover_lock_timeout;
  for (;;) {
    ASSIGN_OR_RETURN(bool fenced, PreFence(what));
    // A long first one was a backlog: the second is the round trip alone.
    if (fenced && fence_round_trip_ > milliseconds(40)) {
      ASSIGN_OR_RETURN(fenced, PreFence(what));
    }
    if (!fenced) return false;
    auto asked = Clock::now();
    ASSIGN_OR_RETURN(bool quiet, AwaitQuietTable(conn, plan_.model.oid, QualifiedName(plan_.model.names.schema,
                                                 plan_.model.names.table), want, what, deadline, /*replay=*/true));
    if (!quiet) return false;
    // A wait lets the replay fall behind again: fence once more, while
    // there is time.
    if (WaitedMs(asked) < 20 || Clock::now() >= deadline) break;
  }
  if (ShouldPause(config_.test, fmt::format("{}-lock-checked", what), attempt))
    RETURN_IF_ERROR(PauseHere(config_.test, nullptr, stop_));
  return true;
}

}  // namespace shadowcopy::engine

namespace shadowcopy::engine {

// For a lock request made inside a transaction that holds other work (the
// swap's rehearsal, DDL while preparing): waits for a quiet moment and
// takes the lock with the short lock_timeout under a savepoint, again while
// time is left. UnavailableError (naming the holder) when none came.
absl::Status Rewrite::LockWhenQuiet(PgConn* conn, uint32_t oid, const std::string& table, LockMode want,
                                    std::string_view what, const std::string& lock_sql, BlockedTime* blocked) {
  // One attempt's worth: the callers retry (the rehearsal then goes on
  // without the swap's locks).
  const auto deadline = Clock::now() + config_.cutover_lock_timeout;
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(bool quiet, AwaitQuietTable(conn, oid, table, want, what, deadline, /*replay=*/false));
    if (!quiet)
      return absl::UnavailableError(fmt::format(
          "{}: {} stayed locked by other sessions for {} ms (long transactions on it?)", what, table,
          config_.cutover_lock_timeout.count()));
    if (ShouldPause(config_.test, fmt::format("{}-lock-checked", what), attempt))
      RETURN_IF_ERROR(PauseHere(config_.test, nullptr, stop_));
    RETURN_IF_ERROR(conn->Exec("SAVEPOINT shadowcopy_lock").status());
    RETURN_IF_ERROR(conn->Exec(ShortLockTimeoutSql()).status());
    BlockedSpan blocking(blocked);
    auto locked = conn->Exec(lock_sql);
    if (locked.ok()) {
      blocking.End(/*ok=*/true);  // the start of the hold; the caller adds the rest
      return conn->Exec("RELEASE SAVEPOINT shadowcopy_lock").status();
    }
    RETURN_IF_ERROR(conn->Exec("ROLLBACK TO SAVEPOINT shadowcopy_lock").status());
    blocking.End(/*ok=*/false);
    if (!IsRetryable(locked.status())) return locked.status();
    Log(LogLevel::kInfo, "{}: {}; waiting again", what, locked.status().message());
  }
}

}  // namespace shadowcopy::engine
