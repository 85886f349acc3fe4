// Waiting for a moment when a lock request of ours would not queue: reads
// pg_locks for the table (one query) until no other session holds or awaits
// a lock that conflicts with the mode wanted (lock_conflicts.h), replaying
// meanwhile. The check is racy by nature: the request that follows it runs
// with a short lock_timeout, which bounds what a holder arriving in between
// costs the application.
//
// Thread-safety: one thread (the rewrite's).
#ifndef SHADOWCOPY_ENGINE_REWRITE_LOCK_GATE_H_
#define SHADOWCOPY_ENGINE_REWRITE_LOCK_GATE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/rewrite/lock_conflicts.h"

namespace shadowcopy::engine {

// The lock_timeout of a request made after the check: a holder that came
// in between blocks writers behind us for at most this long.
inline constexpr std::chrono::milliseconds kShortLockTimeout{50};

// The locks other sessions hold or await on table `oid` (and, for a
// partition, on its parent; for an inheritance parent, on its descendants:
// the cutover locks them too), with their sessions. One query; `conn` may be inside a transaction.
absl::StatusOr<std::vector<LockHolder>> ReadTableLocks(PgConn* conn, uint32_t oid);

struct LockWaitOutcome {
  bool quiet = false;                  // a quiet moment came before the deadline
  double waited_ms = 0;                // time spent waiting for it
  std::optional<LockHolder> blocker;   // the last session waited for
};

// Polls until the table is quiet for `want` (FirstBlocker finds nobody with
// transactions younger than kShortLockTimeout ignored) or `deadline`.
// Between polls runs `idle` (replay; ~20 ms) and tells `report` whom it
// waits for (nullptr once quiet).
absl::StatusOr<LockWaitOutcome> WaitForQuietTable(
    PgConn* conn, uint32_t oid, LockMode want, std::chrono::steady_clock::time_point deadline,
    const std::function<absl::Status()>& idle,
    const std::function<void(const LockHolder*, double waited_ms)>& report);

// Under a lock that blocks writers, the drain's judgement (pure): whether
// replaying `pending` received changes at `us_per_change` each fits in the
// `left` time of the attempt's budget. "" when it does (or when the backlog
// is under kMinChangesToJudge: a small one always gets its chance), else
// why not. The attempt then releases the lock at once.
inline constexpr size_t kMinChangesToJudge = 500;
std::string DrainWontFitWhy(size_t pending, double us_per_change, std::chrono::milliseconds left);

// The replay's recent cost per change, after a group of `changes` took
// `group_us`: a moving average of groups of at least kMinChangesToMeasure
// (smaller ones are mostly round trips), each sample capped at 200 us so
// that one slow group (a conflict replayed event by event) does not make
// every later backlog look too large.
inline constexpr size_t kMinChangesToMeasure = 200;
double NextReplayCost(double current_us, size_t changes, double group_us);

// How long ExecWhenTableQuiet may wait for the work done after a run.
inline constexpr std::chrono::milliseconds kAfterRunLockBudget{30000};

// Runs `sql`, one statement that needs `want` on table `oid`, outside a
// transaction block: at a quiet moment and with kShortLockTimeout, again
// until `budget` is spent, so that work done after the run (resetting the
// replica identity, dropping a table) never makes writers queue behind it
// for long. UnavailableError naming the last holder when no attempt got
// the lock; the statement's own error otherwise.
absl::Status ExecWhenTableQuiet(PgConn* conn, uint32_t oid, LockMode want, const std::string& sql,
                                std::chrono::milliseconds budget);

// Adds the time from its making to End() (or its destruction: a failed
// attempt) to a BlockedTime. Made just before a lock request is sent and
// ended once the lock is released: the time writers may queue behind us.
class BlockedSpan {
 public:
  explicit BlockedSpan(BlockedTime* acc) : acc_(acc), start_(std::chrono::steady_clock::now()) {}
  ~BlockedSpan() { End(false); }
  BlockedSpan(const BlockedSpan&) = delete;
  BlockedSpan& operator=(const BlockedSpan&) = delete;
  double End(bool ok) {
    if (!acc_) return 0;
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
    acc_->Add(ms, ok);
    acc_ = nullptr;
    return ms;
  }

 private:
  BlockedTime* acc_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_LOCK_GATE_H_
