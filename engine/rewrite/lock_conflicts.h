// PostgreSQL's table lock modes and their conflict table (the documentation's
// "Conflicting Lock Modes"), and which session a lock request of ours would
// queue behind. Pure logic: rows of pg_locks in, a decision out.
//
// Thread-safety: pure functions.
#ifndef SHADOWCOPY_ENGINE_REWRITE_LOCK_CONFLICTS_H_
#define SHADOWCOPY_ENGINE_REWRITE_LOCK_CONFLICTS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shadowcopy::engine {

enum class LockMode {
  kAccessShare,
  kRowShare,
  kRowExclusive,
  kShareUpdateExclusive,
  kShare,
  kShareRowExclusive,
  kExclusive,
  kAccessExclusive,
};

// pg_locks.mode ("RowShareLock"); nullopt for anything else.
std::optional<LockMode> ParseLockMode(std::string_view pg_locks_mode);
// As LOCK TABLE spells it: "ROW SHARE".
std::string_view LockModeName(LockMode mode);
// Whether a lock in mode `a` and one in mode `b` on the same table, held by
// two different transactions, exclude each other. Symmetric.
bool LocksConflict(LockMode a, LockMode b);

// One row of pg_locks on the table, with its session's pg_stat_activity.
struct LockHolder {
  int pid = 0;
  std::string mode;              // pg_locks.mode
  bool granted = true;
  std::string application_name;
  std::string usename;
  double xact_age_ms = -1;       // < 0: not known (no transaction start)
  std::string query;             // the session's current or last query
};

// The session a request for `want` would queue behind: a waiter in a
// conflicting mode (it is ahead of us in the queue), or a granted lock in a
// conflicting mode whose transaction is at least `young_ms` old. A younger
// holder is an ordinary short writer transaction: waiting for a moment with
// none of those on a busy table may never come, and the request's short
// lock_timeout bounds what it costs if it lasts. Waiters come first, then
// the oldest holder. nullopt: the table is quiet for `want`.
std::optional<LockHolder> FirstBlocker(const std::vector<LockHolder>& locks, LockMode want, double young_ms);

// "pid 123 (application psql, user alice) holding ROW SHARE for 2.1 s:
// SELECT * FROM orders WHERE ..." (the query as given: pg_locks readers cut
// it to its first 60 characters).
std::string DescribeHolder(const LockHolder& h);

// The time writers were blocked by one kind of lock request, over its
// attempts: from just before the request entered the queue until it was
// released, failed attempts included.
struct BlockedTime {
  int attempts = 0;
  int failed = 0;        // attempts that timed out or gave up under the lock
  double total_ms = 0;
  double max_ms = 0;
  void Add(double ms, bool ok) {
    attempts++;
    if (!ok) failed++;
    total_ms += ms;
    if (ms > max_ms) max_ms = ms;
  }
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_LOCK_CONFLICTS_H_
