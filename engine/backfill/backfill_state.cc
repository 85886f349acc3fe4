#include "engine/backfill/backfill_state.h"

#include "common/status.h"
#include "engine/table/sql_builder.h"
#include "engine/table/state_tables.h"

namespace shadowcopy::engine {

absl::Status BackfillState::EnsureSchema(PgConn* conn) {
  // Created when missing; columns added later are added to an older table
  // by the ALTERs below, so the table's shape never depends on which
  // version created it.
  return CreateStateTables(conn,
      "CREATE SCHEMA IF NOT EXISTS shadowcopy; "
      "CREATE TABLE IF NOT EXISTS shadowcopy.backfills ("
      "  run_id text PRIMARY KEY, format_version int NOT NULL, schema_name text NOT NULL, "
      "  table_name text NOT NULL, table_oid oid NOT NULL, operation text NOT NULL, "
      "  set_text text NOT NULL, where_text text NOT NULL, key_columns text[] NOT NULL, "
      "  span_first text[] NOT NULL, span_last text[] NOT NULL, cursor_key text[], "
      "  done boolean NOT NULL DEFAULT false, "
      "  started_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), "
      "  finished_at timestamptz, outcome text); "
      "ALTER TABLE shadowcopy.backfills "
      "  ADD COLUMN IF NOT EXISTS rows_changed bigint NOT NULL DEFAULT 0, "
      "  ADD COLUMN IF NOT EXISTS keys_covered bigint NOT NULL DEFAULT 0, "
      "  ADD COLUMN IF NOT EXISTS batches bigint NOT NULL DEFAULT 0, "
      "  ADD COLUMN IF NOT EXISTS last_error text");
}

absl::StatusOr<std::optional<BackfillRecord>> BackfillState::FindUnfinished(PgConn* conn,
                                                                             const std::string& schema,
                                                                             const std::string& table) {
  ASSIGN_OR_RETURN(auto exists, conn->Exec("SELECT to_regclass('shadowcopy.backfills') IS NOT NULL"));
  if (!exists.GetBool(0, 0)) return std::optional<BackfillRecord>();
  ASSIGN_OR_RETURN(auto r, conn->Query(
      "SELECT run_id, format_version, table_oid, operation, set_text, where_text, key_columns::text, "
      "span_first::text, span_last::text, cursor_key::text, done, rows_changed, keys_covered, batches, "
      "coalesce(last_error, ''), started_at::text "
      "FROM shadowcopy.backfills WHERE schema_name = $1 AND table_name = $2 AND finished_at IS NULL "
      "ORDER BY started_at DESC LIMIT 1", {schema, table}));
  if (r.Rows() == 0) return std::optional<BackfillRecord>();
  BackfillRecord rec;
  rec.run_id = r.GetString(0, 0);
  rec.format_version = static_cast<int>(r.GetInt(0, 1));
  rec.schema = schema;
  rec.table = table;
  rec.table_oid = static_cast<uint32_t>(r.GetInt(0, 2));
  rec.operation = r.GetString(0, 3);
  rec.set_text = r.GetString(0, 4);
  rec.where_text = r.GetString(0, 5);
  ASSIGN_OR_RETURN(rec.key_columns, ParseTextArray(conn, r.Get(0, 6)));
  ASSIGN_OR_RETURN(rec.span_first, ParseTextArray(conn, r.Get(0, 7)));
  ASSIGN_OR_RETURN(rec.span_last, ParseTextArray(conn, r.Get(0, 8)));
  if (!r.IsNull(0, 9)) {
    ASSIGN_OR_RETURN(auto cursor, ParseTextArray(conn, r.Get(0, 9)));
    rec.cursor = std::move(cursor);
  }
  rec.done = r.GetBool(0, 10);
  rec.rows_changed = r.GetInt(0, 11);
  rec.keys_covered = r.GetInt(0, 12);
  rec.batches = r.GetInt(0, 13);
  rec.last_error = r.GetString(0, 14);
  rec.started_at = r.GetString(0, 15);
  return std::optional<BackfillRecord>(std::move(rec));
}

absl::Status BackfillState::Create(PgConn* conn, const BackfillRecord& rec) {
  return conn->Query(
      "INSERT INTO shadowcopy.backfills (run_id, format_version, schema_name, table_name, table_oid, "
      "operation, set_text, where_text, key_columns, span_first, span_last) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
      {run_id_, std::to_string(kBackfillFormatVersion), rec.schema, rec.table, std::to_string(rec.table_oid),
       rec.operation, rec.set_text, rec.where_text, TextArrayOf(rec.key_columns), TextArrayOf(rec.span_first),
       TextArrayOf(rec.span_last)}).status();
}

std::pair<std::string, PgParams> BackfillState::Checkpoint(const std::optional<std::vector<std::string>>& cursor,
                                                           bool done, int64_t rows_changed,
                                                           int64_t keys_covered) const {
  PgParams p{run_id_, cursor ? std::optional<std::string>(TextArrayOf(*cursor)) : std::nullopt,
             done ? "true" : "false", std::to_string(rows_changed), std::to_string(keys_covered)};
  return {"UPDATE shadowcopy.backfills SET cursor_key = coalesce($2::text[], cursor_key), done = $3::boolean, "
          "rows_changed = rows_changed + $4::bigint, keys_covered = keys_covered + $5::bigint, "
          "batches = batches + 1, last_error = NULL, updated_at = now() WHERE run_id = $1", p};
}

absl::Status BackfillState::RecordStop(PgConn* conn, const std::string& reason) const {
  return conn->Query("UPDATE shadowcopy.backfills SET last_error = $2, updated_at = now() WHERE run_id = $1",
                     {run_id_, reason}).status();
}

absl::Status BackfillState::Finish(PgConn* conn, const std::string& outcome) const {
  return conn->Query("UPDATE shadowcopy.backfills SET done = true, outcome = $2, finished_at = now(), "
                     "updated_at = now() WHERE run_id = $1", {run_id_, outcome}).status();
}

}  // namespace shadowcopy::engine
