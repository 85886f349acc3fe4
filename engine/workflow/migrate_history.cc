#include "engine/workflow/migrate_history.h"

#include "common/status.h"
#include "engine/table/state_tables.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {

absl::Status EnsureHistory(PgConn* conn) {
  return engine::CreateStateTables(conn,
      "CREATE SCHEMA IF NOT EXISTS shadowcopy; "
      "CREATE TABLE IF NOT EXISTS shadowcopy.migrations ("
      "  version text PRIMARY KEY, description text NOT NULL, file text NOT NULL, checksum text NOT NULL, "
      "  installed_by text NOT NULL DEFAULT current_user, installed_on timestamptz NOT NULL DEFAULT now(), "
      "  execution_ms bigint NOT NULL DEFAULT 0, "
      "  state text NOT NULL CONSTRAINT migrations_state_check "
      "    CHECK (state IN ('applied', 'failed', 'running', 'undoing', 'undone')), "
      "  statements_applied int NOT NULL DEFAULT 0, statements_total int NOT NULL DEFAULT 0, "
      "  statement_hashes text[] NOT NULL DEFAULT '{}', error text, error_statement text, plan jsonb, "
      "  baseline boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL DEFAULT now(), "
      "  undo_file text, undo_checksum text); "
      // A history made before undo files ran: its states and columns, once.
      "DO $$ BEGIN "
      "  IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'shadowcopy.migrations'::regclass "
      "                 AND attname = 'undo_file' AND NOT attisdropped) THEN "
      "    ALTER TABLE shadowcopy.migrations ADD COLUMN undo_file text, ADD COLUMN undo_checksum text, "
      "      DROP CONSTRAINT IF EXISTS migrations_state_check, ADD CONSTRAINT migrations_state_check "
      "      CHECK (state IN ('applied', 'failed', 'running', 'undoing', 'undone')); "
      "  END IF; "
      "END $$; "
      // Append-only: each completed undo (the history row itself says
      // `undone` until the migration is applied again).
      "CREATE TABLE IF NOT EXISTS shadowcopy.migration_events ("
      "  id bigserial PRIMARY KEY, version text NOT NULL, event text NOT NULL, file text NOT NULL, "
      "  checksum text NOT NULL, undo_file text, undo_checksum text, by_user text NOT NULL DEFAULT current_user, "
      "  at timestamptz NOT NULL DEFAULT now(), execution_ms bigint NOT NULL DEFAULT 0); "
      "ALTER TABLE shadowcopy.migrations ADD COLUMN IF NOT EXISTS step int NOT NULL DEFAULT 0, "
      "  ADD COLUMN IF NOT EXISTS step_started timestamptz, ADD COLUMN IF NOT EXISTS backup text, "
      "  ADD COLUMN IF NOT EXISTS step_statement text; "
      // The revert window of a migration's online rewrite (migrate_window_record.h).
      "ALTER TABLE shadowcopy.migrations ADD COLUMN IF NOT EXISTS revert_window text, "
      "  ADD COLUMN IF NOT EXISTS revert_window_run text, ADD COLUMN IF NOT EXISTS revert_window_until timestamptz, "
      "  ADD COLUMN IF NOT EXISTS revert_window_socket text");
}

absl::StatusOr<std::vector<HistoryRow>> LoadHistory(PgConn* conn) {
  ASSIGN_OR_RETURN(PgResult exists, conn->Query("SELECT to_regclass('shadowcopy.migrations') IS NOT NULL"));
  if (!exists.GetBool(0, 0)) return std::vector<HistoryRow>();
  ASSIGN_OR_RETURN(PgResult r, conn->Query(
      "SELECT version, description, file, checksum, installed_by, "
      "  to_char(installed_on AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), execution_ms, state, "
      "  statements_applied, statements_total, array_length(statement_hashes, 1), error, error_statement, "
      "  baseline, array_to_string(statement_hashes, ','), coalesce((to_jsonb(m) ->> 'step')::int, 0), "
      "  coalesce(to_jsonb(m) ->> 'step_statement', '') "
      "FROM shadowcopy.migrations m"));
  std::vector<HistoryRow> rows;
  for (int i = 0; i < r.Rows(); ++i) {
    HistoryRow h;
    h.version = r.GetString(i, 0);
    h.description = r.GetString(i, 1);
    h.file = r.GetString(i, 2);
    h.checksum = r.GetString(i, 3);
    h.installed_by = r.GetString(i, 4);
    h.installed_on = r.GetString(i, 5);
    h.execution_ms = r.GetInt(i, 6);
    h.state = r.GetString(i, 7);
    h.statements_applied = static_cast<int>(r.GetInt(i, 8));
    h.statements_total = static_cast<int>(r.GetInt(i, 9));
    h.error = r.GetOptional(i, 11);
    h.error_statement = r.GetOptional(i, 12);
    h.baseline = r.GetBool(i, 13);
    h.step = static_cast<int>(r.GetInt(i, 15));
    h.step_statement = r.GetString(i, 16);
    for (std::string_view rest = r.Get(i, 14); !rest.empty();) {
      size_t comma = rest.find(',');
      h.statement_hashes.emplace_back(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    rows.push_back(std::move(h));
  }
  return rows;
}

absl::Status MarkRunning(PgConn* conn, const MigrationFile& file, int total, bool keep_applied,
                         const std::string& plan_json) {
  if (file.name.kind == FileKind::kUndo) {
    // The row of the applied migration: its statements' progress now counts
    // the undo file's (the forward run starts from zero again anyway).
    ASSIGN_OR_RETURN(PgResult u, conn->Query(
        "UPDATE shadowcopy.migrations SET state = 'undoing', undo_file = $2, undo_checksum = $3, "
        "  statements_total = $4::int, error = NULL, error_statement = NULL, updated_at = now(), "
        "  statements_applied = CASE WHEN $5::bool THEN statements_applied ELSE 0 END, "
        "  statement_hashes = CASE WHEN $5::bool THEN statement_hashes ELSE '{}' END "
        "WHERE version = $1 AND state IN ('applied', 'undoing')",
        {file.name.version.Key(), file.file, file.checksum, std::to_string(total), keep_applied ? "true" : "false"}));
    if (u.Affected() != 1)
      return absl::FailedPreconditionError(
          fmt::format("version {} is not applied any more; nothing was undone", file.name.version.Key()));
    return absl::OkStatus();
  }
  auto r = conn->Query(
      "INSERT INTO shadowcopy.migrations AS m (version, description, file, checksum, state, statements_total, plan) "
      "VALUES ($1, $2, $3, $4, 'running', $5::int, $7::jsonb) "
      "ON CONFLICT (version) DO UPDATE SET description = $2, file = $3, checksum = $4, state = 'running', "
      "  statements_total = $5::int, installed_by = current_user, installed_on = now(), updated_at = now(), "
      "  error = NULL, error_statement = NULL, baseline = false, plan = $7::jsonb, undo_file = NULL, "
      "  undo_checksum = NULL, revert_window = NULL, revert_window_run = NULL, revert_window_until = NULL, "
      "  revert_window_socket = NULL, "
      "  statements_applied = CASE WHEN $6::bool THEN m.statements_applied ELSE 0 END, "
      "  statement_hashes = CASE WHEN $6::bool THEN m.statement_hashes ELSE '{}' END, "
      "  step = CASE WHEN $6::bool THEN m.step ELSE 0 END",
      {file.name.version.Key(), file.name.description, file.file, file.checksum, std::to_string(total),
       keep_applied ? "true" : "false", plan_json});
  return r.status();
}

std::pair<std::string, PgParams> UnitDoneSql(const MigrationFile& file, int applied,
                                             const std::vector<std::string>& hashes) {
  return {"UPDATE shadowcopy.migrations SET statements_applied = $2::int, statement_hashes = $3::text[], "
          "step = 0, updated_at = now() WHERE version = $1",
          {file.name.version.Key(), std::to_string(applied), engine::TextArrayOf(hashes)}};
}

std::pair<std::string, PgParams> StepDoneSql(const MigrationFile& file, int step, const std::string& hash) {
  return {"UPDATE shadowcopy.migrations SET step = $2::int, step_statement = $3, updated_at = now() "
          "WHERE version = $1",
          {file.name.version.Key(), std::to_string(step), hash}};
}

absl::Status MarkStepStarted(PgConn* conn, const MigrationFile& file) {
  return conn->Query("UPDATE shadowcopy.migrations SET step_started = clock_timestamp() WHERE version = $1",
                     {file.name.version.Key()})
      .status();
}

absl::Status RecordBackup(PgConn* conn, const MigrationFile& file, const std::string& path) {
  return conn->Query("UPDATE shadowcopy.migrations SET backup = $2 WHERE version = $1", {file.name.version.Key(), path}).status();
}

absl::StatusOr<bool> EngineRunFinishedSinceStep(PgConn* conn, const MigrationFile& file, bool backfill,
                                                const std::string& schema, const std::string& table) {
  const char* runs = backfill ? "shadowcopy.backfills" : "shadowcopy.runs";
  ASSIGN_OR_RETURN(PgResult exists, conn->Query(fmt::format("SELECT to_regclass('{}') IS NOT NULL", runs)));
  if (!exists.GetBool(0, 0)) return false;
  ASSIGN_OR_RETURN(PgResult r, conn->Query(fmt::format(
      "SELECT EXISTS (SELECT 1 FROM {} r, shadowcopy.migrations m WHERE m.version = $1 "
      "AND m.step_started IS NOT NULL AND r.schema_name = $2 AND r.table_name = $3 AND r.outcome = 'success' "
      "AND r.started_at >= m.step_started)", runs), {file.name.version.Key(), schema, table}));
  return r.GetBool(0, 0);
}

absl::StatusOr<std::optional<std::string>> UnfinishedEngineRun(PgConn* conn, bool backfill,
                                                               const std::string& schema, const std::string& table) {
  const char* runs = backfill ? "shadowcopy.backfills" : "shadowcopy.runs";
  ASSIGN_OR_RETURN(PgResult exists, conn->Query(fmt::format("SELECT to_regclass('{}') IS NOT NULL", runs)));
  if (!exists.GetBool(0, 0)) return std::optional<std::string>();
  ASSIGN_OR_RETURN(PgResult r, conn->Query(fmt::format(
      "SELECT {} FROM {} WHERE schema_name = $1 AND table_name = $2 AND finished_at IS NULL "
      "ORDER BY started_at DESC LIMIT 1", backfill ? "operation || ' ' || set_text || ' WHERE ' || where_text"
                                                   : "alter_text", runs), {schema, table}));
  if (r.Rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r.GetString(0, 0));
}

absl::Status MarkApplied(PgConn* conn, const MigrationFile& file, int64_t execution_ms) {
  if (file.name.kind == FileKind::kUndo)
    return conn->Query(
        "WITH u AS (UPDATE shadowcopy.migrations SET state = 'undone', execution_ms = $2::bigint, error = NULL, "
        "  error_statement = NULL, statements_applied = 0, statement_hashes = '{}', updated_at = now() "
        "  WHERE version = $1 RETURNING version, file, checksum, undo_file, undo_checksum) "
        "INSERT INTO shadowcopy.migration_events (version, event, file, checksum, undo_file, undo_checksum, "
        "  execution_ms) SELECT version, 'undone', file, checksum, undo_file, undo_checksum, $2::bigint FROM u",
        {file.name.version.Key(), std::to_string(execution_ms)}).status();
  // A migration whose revert window was open: the window has closed; its
  // time stays the one it took up to the window.
  return conn->Query("UPDATE shadowcopy.migrations SET state = 'applied', "
                     "execution_ms = CASE WHEN revert_window = 'open' THEN execution_ms ELSE $2::bigint END, "
                     "revert_window = CASE WHEN revert_window = 'open' THEN 'closed' ELSE revert_window END, "
                     "error = NULL, error_statement = NULL, updated_at = now() WHERE version = $1",
                     {file.name.version.Key(), std::to_string(execution_ms)})
      .status();
}

absl::Status MarkFailed(PgConn* conn, const MigrationFile& file, int64_t execution_ms, const std::string& error,
                        const std::string& statement) {
  // A failed undo stays `undoing`: the next `migrate down` resumes it.
  if (file.name.kind == FileKind::kUndo)
    return conn->Query("UPDATE shadowcopy.migrations SET execution_ms = $2::bigint, error = $3, "
                       "error_statement = NULLIF($4, ''), updated_at = now() WHERE version = $1",
                       {file.name.version.Key(), std::to_string(execution_ms), error, statement})
        .status();
  return conn->Query("UPDATE shadowcopy.migrations SET state = 'failed', execution_ms = $2::bigint, "
                     "error = $3, error_statement = NULLIF($4, ''), updated_at = now() WHERE version = $1",
                     {file.name.version.Key(), std::to_string(execution_ms), error, statement})
      .status();
}

absl::StatusOr<int> InsertBaseline(PgConn* conn, const std::vector<const MigrationFile*>& files) {
  int inserted = 0;
  for (const MigrationFile* f : files) {
    ASSIGN_OR_RETURN(PgResult r, conn->Query(
        "INSERT INTO shadowcopy.migrations (version, description, file, checksum, state, baseline) "
        "VALUES ($1, $2, $3, $4, 'applied', true) "
        "ON CONFLICT (version) DO UPDATE SET description = $2, file = $3, checksum = $4, state = 'applied', "
        "  baseline = true, statements_applied = 0, statements_total = 0, statement_hashes = '{}', error = NULL, "
        "  error_statement = NULL, undo_file = NULL, undo_checksum = NULL, installed_by = current_user, "
        "  installed_on = now(), updated_at = now(), execution_ms = 0 "
        "WHERE shadowcopy.migrations.state = 'undone'",
        {f->name.version.Key(), f->name.description, f->file, f->checksum}));
    inserted += static_cast<int>(r.Affected());
  }
  return inserted;
}

}  // namespace shadowcopy::workflow
