#include "throttler/probes.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <charconv>
#include <cstdlib>
#include <map>
#include <set>

#include "fmt/format.h"

namespace shadowcopy::throttler {
namespace {

Reading Unreadable(Signal signal, std::string source, const absl::Status& st, TimePoint now) {
  Reading r;
  r.signal = signal;
  r.source = std::move(source);
  r.error = std::string(st.message());
  r.read_at = now;
  return r;
}

Reading Value(Signal signal, std::string source, double value, TimePoint now) {
  Reading r;
  r.signal = signal;
  r.source = std::move(source);
  r.value = value;
  r.read_at = now;
  return r;
}

std::optional<double> ParseNumber(std::string_view text) {
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

// {1,2,3} -> "{1,2,3}" (an int[] parameter's text)
std::string PgIntArray(const std::vector<int>& values) {
  return fmt::format("{{{}}}", fmt::join(values, ","));
}

// "{1,2,3}" -> {1,2,3}
std::vector<int> ParseIntArray(std::string_view text) {
  std::vector<int> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) ++i;
    int v = 0;
    auto r = std::from_chars(text.data() + i, text.data() + text.size(), v);
    if (r.ec != std::errc()) break;
    out.push_back(v);
    i = r.ptr - text.data();
  }
  return out;
}

}  // namespace

std::vector<Reading> ProbeStandbys(PgConn& primary, WalTimeline* timeline, TimePoint now) {
  // The flush position, not the insert position: an idle server's flush
  // position is the end of its last record, which a caught-up standby has
  // replayed exactly.
  auto res = primary.Exec(
      "SELECT pg_current_wal_flush_lsn()::text, r.pid, r.application_name, "
      "host(r.client_addr), r.replay_lsn::text, "
      "COALESCE(EXTRACT(epoch FROM r.replay_lag), 0)::float8 "
      "FROM (SELECT 1) one LEFT JOIN pg_stat_replication r ON r.state <> 'backup' AND NOT EXISTS "
      "(SELECT 1 FROM pg_replication_slots s WHERE s.active_pid = r.pid AND s.slot_type = 'logical')");
  if (!res.ok()) return {Unreadable(Signal::kReplicaLag, "standbys", res.status(), now)};
  if (res->Rows() > 0 && !res->IsNull(0, 0)) {
    if (auto lsn = ParseLsn(res->Get(0, 0))) timeline->Record(now, *lsn);
  }
  std::vector<Reading> out;
  for (int i = 0; i < res->Rows(); ++i) {
    if (res->IsNull(i, 1)) continue;  // no standby at all
    std::string name = res->GetString(i, 2);
    if (name.empty() || name == "walreceiver") {
      name = res->IsNull(i, 3) ? fmt::format("walsender pid {}", res->GetString(i, 1))
                               : res->GetString(i, 3);
    }
    double lag = ParseNumber(res->Get(i, 5)).value_or(0);
    if (!res->IsNull(i, 4)) {
      if (auto replayed = ParseLsn(res->Get(i, 4))) lag = std::max(lag, timeline->LagSeconds(*replayed, now));
    }
    out.push_back(Value(Signal::kReplicaLag, name, lag, now));
  }
  return out;
}

Reading ProbeReplica(PgConn& replica, const std::string& source, TimePoint now) {
  auto res = replica.Exec(
      "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() IS NULL "
      "OR pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn() "
      "THEN COALESCE(EXTRACT(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) "
      "ELSE 0 END::float8");
  if (!res.ok()) return Unreadable(Signal::kReplicaLag, source, res.status(), now);
  if (!res->GetBool(0, 0))
    return Unreadable(Signal::kReplicaLag, source, absl::FailedPreconditionError("not a standby"), now);
  return Value(Signal::kReplicaLag, source, std::max(0.0, ParseNumber(res->Get(0, 1)).value_or(0)), now);
}

Reading ProbeSlot(PgConn& primary, const std::string& slot, TimePoint now) {
  auto res = primary.Query(
      "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 "
      "FROM pg_replication_slots WHERE slot_name = $1",
      {slot});
  if (!res.ok()) return Unreadable(Signal::kReplayLagBytes, slot, res.status(), now);
  if (res->Rows() == 0)
    return Unreadable(Signal::kReplayLagBytes, slot, absl::NotFoundError("the slot does not exist"), now);
  return Value(Signal::kReplayLagBytes, slot, std::max(0.0, ParseNumber(res->Get(0, 0)).value_or(0)), now);
}

Reading ProbeLockWaiters(PgConn& primary, const std::vector<int>& own_pids, TimePoint now) {
  auto waiting = primary.Exec(
      "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()");
  if (!waiting.ok()) return Unreadable(Signal::kLockWaiters, "", waiting.status(), now);
  if (waiting->Rows() == 0) return Value(Signal::kLockWaiters, "", 0, now);
  std::string pids = "{";
  for (int i = 0; i < waiting->Rows(); ++i) pids += (i ? "," : "") + waiting->GetString(i, 0);
  pids += "}";
  auto blocking = primary.Query("SELECT p, pg_blocking_pids(p)::text FROM unnest($1::int[]) p", {pids});
  if (!blocking.ok()) return Unreadable(Signal::kLockWaiters, "", blocking.status(), now);
  std::set<int> ours(own_pids.begin(), own_pids.end());
  int count = 0;
  std::string first;
  for (int i = 0; i < blocking->Rows(); ++i) {
    int waiter = static_cast<int>(blocking->GetInt(i, 0));
    bool waiter_ours = ours.count(waiter) > 0;
    for (int blocker : ParseIntArray(blocking->Get(i, 1))) {
      if (waiter_ours == (ours.count(blocker) > 0)) continue;  // both ours or both theirs
      ++count;
      if (first.empty())
        first = waiter_ours ? fmt::format("our pid {} waits for pid {}", waiter, blocker)
                            : fmt::format("pid {} waits for our pid {}", waiter, blocker);
      break;  // one count per waiting session
    }
  }
  Reading r = Value(Signal::kLockWaiters, "", count, now);
  r.detail = first;
  return r;
}

Reading ProbeActiveBackends(PgConn& primary, TimePoint now) {
  auto res = primary.Exec(
      "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
      "AND backend_type = 'client backend' AND pid <> pg_backend_pid()");
  if (!res.ok()) return Unreadable(Signal::kActiveBackends, "", res.status(), now);
  return Value(Signal::kActiveBackends, "", static_cast<double>(res->GetInt(0, 0)), now);
}

Reading ProbeThrottleQuery(PgConn& conn, const std::string& sql, TimePoint now) {
  auto res = conn.Query(sql);
  if (!res.ok()) return Unreadable(Signal::kThrottleQuery, "", res.status(), now);
  if (res->Rows() < 1 || res->Cols() < 1 || res->IsNull(0, 0))
    return Unreadable(Signal::kThrottleQuery, "", absl::InvalidArgumentError("returned no value"), now);
  auto v = ParseNumber(res->Get(0, 0));
  if (!v)
    return Unreadable(Signal::kThrottleQuery, "",
                      absl::InvalidArgumentError(fmt::format("returned '{}', not a number", res->Get(0, 0))),
                      now);
  return Value(Signal::kThrottleQuery, "", *v, now);
}

absl::StatusOr<double> RunCanary(PgConn& conn) {
  auto t = std::chrono::steady_clock::now();
  auto res = conn.Exec("SELECT txid_current()");
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  // A statement timeout (the session stays healthy) is a slow sample.
  if (!res.ok() && (!conn.Healthy() || res.status().code() != absl::StatusCode::kUnavailable)) return res.status();
  return ms;
}

// The application's sessions in pg_stat_activity: client backends of this
// database other than this session, $1 (our own pids, an int[]) and
// shadowcopy's.
constexpr std::string_view kApplicationSessions =
    "backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = current_database() "
    "AND pid <> ALL ($1::int[]) AND application_name NOT LIKE 'shadowcopy%'";

absl::StatusOr<double> ProbeStatementsInFlight(PgConn& conn, const std::vector<int>& own_pids) {
  auto res = conn.Query(fmt::format(
      "SELECT count(*), COALESCE(percentile_disc(0.5) WITHIN GROUP (ORDER BY age), 0)::float8 FROM ("
      "SELECT EXTRACT(epoch FROM clock_timestamp() - query_start) * 1000 AS age FROM pg_stat_activity "
      "WHERE state = 'active' AND {} AND wait_event IS DISTINCT FROM 'SyncRep' "
      "AND query_start > clock_timestamp() - interval '5 s') a",
      kApplicationSessions), {PgIntArray(own_pids)});
  if (!res.ok()) return res.status();
  const double in_flight = ParseNumber(res->Get(0, 0)).value_or(0);
  if (in_flight < kMinStatementsInFlight) return 0.0;
  return std::max(0.0, ParseNumber(res->Get(0, 1)).value_or(0));
}

absl::StatusOr<bool> ProbeDatabaseQuiet(PgConn& conn, const std::vector<int>& own_pids) {
  auto res = conn.Query(fmt::format(
      "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE {} "
      "AND (state IS DISTINCT FROM 'idle' OR state_change IS NULL "
      "OR state_change > clock_timestamp() - interval '{} s'))",
      kApplicationSessions, kQuietLookbackSeconds), {PgIntArray(own_pids)});
  if (!res.ok()) return res.status();
  return res->Get(0, 0) == "t";
}

Reading ProbeFlagFile(const std::string& path, TimePoint now) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return Value(Signal::kFlagFile, path, 1, now);
  if (errno == ENOENT) return Value(Signal::kFlagFile, path, 0, now);
  return Unreadable(Signal::kFlagFile, path, absl::UnavailableError(std::strerror(errno)), now);
}

}  // namespace shadowcopy::throttler
