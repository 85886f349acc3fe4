#include "engine/workflow/migrate_history.h"

#include "common/status.h"
#include "engine/table/state_tables.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

std::string Key(const MigrationFile& f) {
  std::string key = f.name.version.ToString();
  while (key.size() > 2 && key.substr(key.size() - 2) == ".0") key.resize(key.size() - 2);
  return key;
}

}  // namespace

absl::Status EnsureHistory(PgConn* conn) {
  return engine::CreateStateTables(conn,
      "CREATE SCHEMA IF NOT EXISTS shadowcopy; "
      "CREATE TABLE IF NOT EXISTS shadowcopy.migrations ("
      "  version text PRIMARY KEY, description text NOT NULL, file text NOT NULL, checksum text NOT NULL, "
      "  installed_by text NOT NULL DEFAULT current_user, installed_on timestamptz NOT NULL DEFAULT now(), "
      "  execution_ms bigint NOT NULL DEFAULT 0, "
      "  state text NOT NULL CHECK (state IN ('applied', 'failed', 'running')), "
      "  statements_applied int NOT NULL DEFAULT 0, statements_total int NOT NULL DEFAULT 0, "
      "  statement_hashes text[] NOT NULL DEFAULT '{}', error text, error_statement text, plan jsonb, "
      "  baseline boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL DEFAULT now())");
}

absl::StatusOr<std::vector<HistoryRow>> LoadHistory(PgConn* conn) {
  ASSIGN_OR_RETURN(PgResult exists, conn->Query("SELECT to_regclass('shadowcopy.migrations') IS NOT NULL"));
  if (!exists.GetBool(0, 0)) return std::vector<HistoryRow>();
  ASSIGN_OR_RETURN(PgResult r, conn->Query(
      "SELECT version, description, file, checksum, installed_by, "
      "  to_char(installed_on AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), execution_ms, state, "
      "  statements_applied, statements_total, array_length(statement_hashes, 1), error, error_statement, "
      "  baseline, array_to_string(statement_hashes, ',') "
      "FROM shadowcopy.migrations"));
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
  auto r = conn->Query(
      "INSERT INTO shadowcopy.migrations AS m (version, description, file, checksum, state, statements_total, plan) "
      "VALUES ($1, $2, $3, $4, 'running', $5::int, $7::jsonb) "
      "ON CONFLICT (version) DO UPDATE SET description = $2, file = $3, checksum = $4, state = 'running', "
      "  statements_total = $5::int, installed_by = current_user, installed_on = now(), updated_at = now(), "
      "  error = NULL, error_statement = NULL, baseline = false, plan = $7::jsonb, "
      "  statements_applied = CASE WHEN $6::bool THEN m.statements_applied ELSE 0 END, "
      "  statement_hashes = CASE WHEN $6::bool THEN m.statement_hashes ELSE '{}' END",
      {Key(file), file.name.description, file.file, file.checksum, std::to_string(total),
       keep_applied ? "true" : "false", plan_json});
  return r.status();
}

std::pair<std::string, PgParams> UnitDoneSql(const MigrationFile& file, int applied,
                                             const std::vector<std::string>& hashes) {
  return {"UPDATE shadowcopy.migrations SET statements_applied = $2::int, statement_hashes = $3::text[], "
          "updated_at = now() WHERE version = $1",
          {Key(file), std::to_string(applied), engine::TextArrayOf(hashes)}};
}

absl::Status MarkApplied(PgConn* conn, const MigrationFile& file, int64_t execution_ms) {
  return conn->Query("UPDATE shadowcopy.migrations SET state = 'applied', execution_ms = $2::bigint, "
                     "error = NULL, error_statement = NULL, updated_at = now() WHERE version = $1",
                     {Key(file), std::to_string(execution_ms)})
      .status();
}

absl::Status MarkFailed(PgConn* conn, const MigrationFile& file, int64_t execution_ms, const std::string& error,
                        const std::string& statement) {
  return conn->Query("UPDATE shadowcopy.migrations SET state = 'failed', execution_ms = $2::bigint, "
                     "error = $3, error_statement = NULLIF($4, ''), updated_at = now() WHERE version = $1",
                     {Key(file), std::to_string(execution_ms), error, statement})
      .status();
}

absl::StatusOr<int> InsertBaseline(PgConn* conn, const std::vector<const MigrationFile*>& files) {
  int inserted = 0;
  for (const MigrationFile* f : files) {
    ASSIGN_OR_RETURN(PgResult r, conn->Query(
        "INSERT INTO shadowcopy.migrations (version, description, file, checksum, state, baseline) "
        "VALUES ($1, $2, $3, $4, 'applied', true) ON CONFLICT (version) DO NOTHING",
        {Key(*f), f->name.description, f->file, f->checksum}));
    inserted += static_cast<int>(r.Affected());
  }
  return inserted;
}

}  // namespace shadowcopy::workflow
