#include "engine/rewrite/lock_gate.h"

#include <algorithm>
#include <thread>

#include "common/retry.h"
#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

std::string DrainWontFitWhy(size_t pending, double us_per_change, std::chrono::milliseconds left) {
  if (pending < kMinChangesToJudge) return "";
  const double need_ms = us_per_change * static_cast<double>(pending) / 1000.0;
  if (need_ms <= static_cast<double>(left.count())) return "";
  return fmt::format("{} changes received (a large transaction) would take ~{:.0f} ms to replay, {} ms are left",
                     pending, need_ms, std::max<int64_t>(0, left.count()));
}

double NextReplayCost(double current_us, size_t changes, double group_us) {
  if (changes < kMinChangesToMeasure) return current_us;
  const double sample = std::min(200.0, group_us / static_cast<double>(changes));
  return 0.7 * current_us + 0.3 * sample;
}
namespace {

using Clock = std::chrono::steady_clock;

// Relation locks of other sessions on the table (and a partition's parent,
// and an inheritance parent's descendants, which LOCK TABLE takes too),
// with who holds them. pg_locks shows fast-path locks too. A session with
// no transaction any more (pg_stat_activity read a moment after pg_locks)
// is a writer that just committed: age 0. No session at all (a prepared
// transaction): age unknown, taken as old.
constexpr char kTableLocksSql[] =
    "SELECT l.pid, l.mode, l.granted, coalesce(a.application_name, ''), coalesce(a.usename::text, ''), "
    "CASE WHEN a.pid IS NULL THEN -1 WHEN a.xact_start IS NULL THEN 0 "
    "ELSE extract(epoch FROM clock_timestamp() - a.xact_start) * 1000 END::float8, "
    "coalesce(left(a.query, 60), '') "
    "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'relation' "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND (l.relation = $1::oid OR l.relation = (SELECT i.inhparent FROM pg_inherits i "
    "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhrelid = $1::oid AND c.relispartition) "
    "OR l.relation IN (WITH RECURSIVE d(oid) AS (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::oid "
    "UNION SELECT i.inhrelid FROM pg_inherits i JOIN d ON i.inhparent = d.oid) SELECT oid FROM d)) "
    "AND l.pid IS DISTINCT FROM pg_backend_pid()";

}  // namespace

absl::StatusOr<std::vector<LockHolder>> ReadTableLocks(PgConn* conn, uint32_t oid) {
  ASSIGN_OR_RETURN(auto r, conn->Query(kTableLocksSql, {std::to_string(oid)}));
  std::vector<LockHolder> out;
  for (int i = 0; i < r.Rows(); ++i) {
    LockHolder h;
    h.pid = r.IsNull(i, 0) ? 0 : static_cast<int>(r.GetInt(i, 0));
    h.mode = r.GetString(i, 1);
    h.granted = r.GetBool(i, 2);
    h.application_name = r.GetString(i, 3);
    h.usename = r.GetString(i, 4);
    h.xact_age_ms = std::strtod(r.GetString(i, 5).c_str(), nullptr);
    h.query = r.GetString(i, 6);
    out.push_back(std::move(h));
  }
  return out;
}

absl::StatusOr<LockWaitOutcome> WaitForQuietTable(
    PgConn* conn, uint32_t oid, LockMode want, Clock::time_point deadline,
    const std::function<absl::Status()>& idle,
    const std::function<void(const LockHolder*, double waited_ms)>& report) {
  LockWaitOutcome out;
  const auto started = Clock::now();
  const double young_ms = static_cast<double>(kShortLockTimeout.count());
  for (;;) {
    ASSIGN_OR_RETURN(auto locks, ReadTableLocks(conn, oid));
    auto blocker = FirstBlocker(locks, want, young_ms);
    out.waited_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    if (!blocker) {
      out.quiet = true;
      if (report) report(nullptr, out.waited_ms);
      return out;
    }
    out.blocker = blocker;
    if (report) report(&*blocker, out.waited_ms);
    if (Clock::now() >= deadline) return out;
    if (idle) RETURN_IF_ERROR(idle());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

absl::Status ExecWhenTableQuiet(PgConn* conn, uint32_t oid, LockMode want, const std::string& sql,
                                std::chrono::milliseconds budget) {
  const auto deadline = Clock::now() + budget;
  std::optional<LockHolder> last;
  for (;;) {
    ASSIGN_OR_RETURN(LockWaitOutcome out, WaitForQuietTable(conn, oid, want, deadline, nullptr, nullptr));
    if (out.blocker) last = out.blocker;
    if (out.quiet) {
      RETURN_IF_ERROR(conn->Exec(fmt::format("SET lock_timeout = '{}ms'", kShortLockTimeout.count())).status());
      auto done = conn->Exec(sql);
      RETURN_IF_ERROR(conn->Exec("RESET lock_timeout").status());
      if (done.ok()) return absl::OkStatus();
      if (!IsRetryable(done.status())) return done.status();
    }
    if (Clock::now() >= deadline)
      return absl::UnavailableError(fmt::format("the table stayed locked for {} ms{}", budget.count(),
                                                last ? ": " + DescribeHolder(*last) : std::string()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace shadowcopy::engine
