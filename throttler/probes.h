// Probes: the SQL (and file system) reads behind each throttle signal. Each
// returns readings for the policy; a failure becomes an unreadable reading
// (never an error the caller must handle), which the policy treats as over
// the limit.
//
// Thread-safety: functions over a connection the caller owns; the throttler
// calls them from its own thread.
#ifndef SHADOWCOPY_THROTTLER_PROBES_H_
#define SHADOWCOPY_THROTTLER_PROBES_H_

#include <string>
#include <vector>

#include "common/pg.h"
#include "throttler/policy.h"
#include "throttler/wal_timeline.h"

namespace shadowcopy::throttler {

// Lag of every physical standby of `primary`, one reading each (source: its
// application_name, else its address or walsender pid). Logical walsenders
// (ours included: their pid is a logical slot's active_pid) and base backups
// are skipped. A caught-up standby's NULL replay_lag is 0. The lag is the
// larger of replay_lag and the `timeline` estimate (records the primary's
// flush position first), which also sees a standby whose replay is stuck.
// No standby: no reading.
std::vector<Reading> ProbeStandbys(PgConn& primary, WalTimeline* timeline, TimePoint now);

// Lag measured on a standby itself (`source` names it): now() −
// pg_last_xact_replay_timestamp() while it has received WAL it has not
// replayed, else 0. Unreadable when the server is not in recovery.
Reading ProbeReplica(PgConn& replica, const std::string& source, TimePoint now);

// WAL bytes between the primary's current position and `slot`'s
// confirmed_flush_lsn. Unreadable when the slot does not exist.
Reading ProbeSlot(PgConn& primary, const std::string& slot, TimePoint now);

// Lock waits between the application and our sessions (`own_pids`): an
// application session waiting for a lock one of ours holds, or one of ours
// waiting for an application session's lock (which others then queue
// behind). Waits between application sessions are not counted. Calls
// pg_blocking_pids (which takes the lock manager's locks) only for backends
// whose wait_event_type is Lock, and not at all when none waits.
Reading ProbeLockWaiters(PgConn& primary, const std::vector<int>& own_pids, TimePoint now);

// Active client backends, this session excluded.
Reading ProbeActiveBackends(PgConn& primary, TimePoint now);

// The number the operator's query returns (first column of the first row);
// NULL, no row, non-numeric or an error: unreadable.
Reading ProbeThrottleQuery(PgConn& conn, const std::string& sql, TimePoint now);

// The canary: one tiny write transaction (`SELECT txid_current()` in
// autocommit: it takes an xid, writes and flushes a commit record, so it
// waits where the application's writes wait: CPU, the WAL, the proc array).
// Returns how long it took in ms; a statement timeout returns the time it
// waited (a sample, not an error); a lost connection is an error.
absl::StatusOr<double> RunCanary(PgConn& conn);

// The median age (ms) of the statements the application has in flight:
// active client backends of this database other than this session,
// `own_pids` and shadowcopy's sessions, younger than 5 s (a long report is
// not the application's latency) and not waiting for a synchronous
// standby's answer (the standby's health: the replica signals' business).
// 0 with fewer than kMinStatementsInFlight of them: one statement's age (a
// lone slow query, a maintenance command) says nothing about how the
// application's statements fare.
inline constexpr int kMinStatementsInFlight = 3;
absl::StatusOr<double> ProbeStatementsInFlight(PgConn& conn, const std::vector<int>& own_pids);

// True when no client session of this database other than this one,
// `own_pids` and shadowcopy's ran a statement in the last
// kQuietLookbackSeconds (or is in one, or in a transaction): no application
// to take a baseline of. A session whose state this role may not read
// counts as busy.
inline constexpr int kQuietLookbackSeconds = 5;
absl::StatusOr<bool> ProbeDatabaseQuiet(PgConn& conn, const std::vector<int>& own_pids);

// 1 when `path` exists, else 0.
Reading ProbeFlagFile(const std::string& path, TimePoint now);

}  // namespace shadowcopy::throttler

#endif  // SHADOWCOPY_THROTTLER_PROBES_H_
