#include "engine/workflow/migrate_window_record.h"

#include "common/status.h"
#include "engine/table/state_tables.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

absl::StatusOr<bool> WindowTablesExist(PgConn* conn) {
  ASSIGN_OR_RETURN(PgResult r, conn->Query("SELECT to_regclass('shadowcopy.migrations') IS NOT NULL AND "
                                           "to_regclass('shadowcopy.revert_windows') IS NOT NULL AND "
                                           "to_regclass('shadowcopy.runs') IS NOT NULL"));
  return r.GetBool(0, 0);
}

}  // namespace

absl::StatusOr<std::optional<StepWindow>> FindStepWindow(PgConn* conn, const MigrationFile& file,
                                                         const std::string& schema, const std::string& table) {
  ASSIGN_OR_RETURN(bool exist, WindowTablesExist(conn));
  if (!exist) return std::optional<StepWindow>();
  ASSIGN_OR_RETURN(PgResult r, conn->Query(
      "SELECT w.run_id, w.state, coalesce(w.outcome, ''), "
      "  coalesce(to_char(w.until_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ''), "
      "  coalesce(greatest(extract(epoch FROM w.until_at - now()), 0), 0)::float8 "
      "FROM shadowcopy.revert_windows w JOIN shadowcopy.runs r ON r.run_id = w.run_id, shadowcopy.migrations m "
      "WHERE m.version = $1 AND w.schema_name = $2 AND w.table_name = $3 AND w.state <> 'prepared' "
      "AND r.started_at >= coalesce(m.step_started, m.installed_on) ORDER BY r.started_at DESC LIMIT 1",
      {file.name.version.Key(), schema, table}));
  if (r.Rows() == 0) return std::optional<StepWindow>();
  StepWindow w;
  w.run_id = r.GetString(0, 0);
  w.state = r.GetString(0, 1);
  w.outcome = r.GetString(0, 2);
  w.until = r.GetString(0, 3);
  w.seconds_left = std::stod(r.GetString(0, 4));
  return std::optional<StepWindow>(w);
}

absl::Status RecordWindowOpen(PgConn* conn, const MigrationFile& file, int applied,
                              const std::vector<std::string>& hashes, const StepWindow& window,
                              const std::string& socket_path, int64_t execution_ms) {
  return conn->Query(
      "UPDATE shadowcopy.migrations SET state = 'applied', statements_applied = $2::int, "
      "  statement_hashes = $3::text[], step = 0, execution_ms = $4::bigint, error = NULL, error_statement = NULL, "
      "  revert_window = 'open', revert_window_run = $5, revert_window_socket = NULLIF($6, ''), "
      "  revert_window_until = (SELECT until_at FROM shadowcopy.revert_windows WHERE run_id = $5), "
      "  updated_at = now() WHERE version = $1",
      {file.name.version.Key(), std::to_string(applied), engine::TextArrayOf(hashes), std::to_string(execution_ms),
       window.run_id, socket_path}).status();
}

absl::Status MarkUndoneByRevert(PgConn* conn, const MigrationFile& file, int64_t execution_ms) {
  return conn->Query(
      "WITH u AS (UPDATE shadowcopy.migrations SET state = 'undone', revert_window = 'reverted', "
      "  statements_applied = 0, statement_hashes = '{}', step = 0, error = NULL, error_statement = NULL, "
      "  updated_at = now() WHERE version = $1 RETURNING version, file, checksum) "
      "INSERT INTO shadowcopy.migration_events (version, event, file, checksum, execution_ms) "
      "SELECT version, 'reverted', file, checksum, $2::bigint FROM u",
      {file.name.version.Key(), std::to_string(execution_ms)}).status();
}

absl::StatusOr<std::map<std::string, WindowFacts>> ReadWindows(PgConn* conn,
                                                               std::map<std::string, std::string>* sockets) {
  std::map<std::string, WindowFacts> out;
  ASSIGN_OR_RETURN(bool exist, WindowTablesExist(conn));
  if (!exist) return out;
  ASSIGN_OR_RETURN(PgResult cols, conn->Query(
      "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'shadowcopy.migrations'::regclass "
      "AND attname = 'revert_window' AND NOT attisdropped)"));
  if (!cols.GetBool(0, 0)) return out;
  ASSIGN_OR_RETURN(PgResult r, conn->Query(
      "SELECT m.version, m.revert_window, coalesce(m.revert_window_socket, ''), "
      "  CASE WHEN w.state = 'open' AND NOT EXISTS (SELECT FROM pg_replication_slots s "
      "    WHERE s.slot_name = w.slot_name) THEN 'slot gone' ELSE coalesce(w.state, '') END, "
      "  coalesce(w.schema_name, ''), coalesce(w.table_name, ''), "
      "  coalesce(to_char(m.revert_window_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ''), "
      // The run's own advisory lock (engine/table/run_lock.h TryRunLock:
      // 0x5C << 40 | the table's oid when the run started; 23552 = 0x5C << 8).
      "  EXISTS (SELECT FROM shadowcopy.runs r JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted "
      "    AND l.classid = 23552 AND l.objid = r.table_oid AND l.objsubid = 1 "
      "    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "    WHERE r.run_id = m.revert_window_run) "
      "FROM shadowcopy.migrations m LEFT JOIN shadowcopy.revert_windows w ON w.run_id = m.revert_window_run "
      "WHERE m.revert_window IS NOT NULL"));
  for (int i = 0; i < r.Rows(); ++i) {
    WindowFacts f;
    f.recorded = r.GetString(i, 1);
    f.live = r.GetString(i, 3);
    f.schema = r.GetString(i, 4);
    f.table = r.GetString(i, 5);
    f.until = r.GetString(i, 6);
    f.run_alive = r.GetBool(i, 7);
    if (sockets != nullptr && !r.Get(i, 2).empty()) (*sockets)[r.GetString(i, 0)] = r.GetString(i, 2);
    out[r.GetString(i, 0)] = std::move(f);
  }
  return out;
}

}  // namespace shadowcopy::workflow
