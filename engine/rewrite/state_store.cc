#include "engine/rewrite/state_store.h"

#include "common/quote.h"
#include "common/status.h"
#include "engine/table/inspector.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

absl::Status StateStore::EnsureSchema(PgConn* conn) {
  return CreateStateTables(conn,
      "CREATE SCHEMA IF NOT EXISTS shadowcopy; "
      "CREATE TABLE IF NOT EXISTS shadowcopy.runs ("
      "  run_id text PRIMARY KEY, format_version int NOT NULL, schema_name text NOT NULL, "
      "  table_name text NOT NULL, table_oid oid NOT NULL, alter_text text NOT NULL, "
      "  shadow_name text NOT NULL, slot_name text NOT NULL, publication_name text NOT NULL, "
      "  phase text NOT NULL, copy_high_water text[], copy_done boolean NOT NULL DEFAULT false, "
      "  deferred_indexes text[] NOT NULL, "
      "  index_names text[] NOT NULL, statistics_names text[] NOT NULL, key_index text NOT NULL, "
      "  after_swap text[], "
      "  started_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), "
      "  finished_at timestamptz, outcome text); "
      "ALTER TABLE shadowcopy.runs ADD COLUMN IF NOT EXISTS after_swap text[]; "
      "ALTER TABLE shadowcopy.runs ADD COLUMN IF NOT EXISTS schema_fingerprint text[]; "
      // The suffix of the old table's name (NULL: recorded before each run
      // had its own, "_old").
      "ALTER TABLE shadowcopy.runs ADD COLUMN IF NOT EXISTS old_suffix text; "
      // The replay's position has a row of its own: the copy batch and the
      // replay group each update only their own row, so they never conflict.
      "CREATE TABLE IF NOT EXISTS shadowcopy.replay_positions ("
      "  run_id text PRIMARY KEY REFERENCES shadowcopy.runs ON DELETE CASCADE, "
      "  applied_lsn pg_lsn NOT NULL DEFAULT '0/0', updated_at timestamptz NOT NULL DEFAULT now())");
}

absl::Status StateStore::Create(PgConn* conn, const ShadowPlan& plan, const std::string& alter,
                               const SchemaFingerprint& fingerprint) {
  const auto& n = plan.model.names;
  std::vector<std::string> idx, stats;
  for (const auto& [o, s] : plan.index_names) {
    idx.push_back(o);
    idx.push_back(s);
  }
  for (const auto& s : plan.statistics_names) {
    for (const auto* v : {&s.orig_schema, &s.orig_name, &s.shadow_schema, &s.shadow_name}) stats.push_back(*v);
  }
  RETURN_IF_ERROR(conn->Query(
      "INSERT INTO shadowcopy.runs (run_id, format_version, schema_name, table_name, table_oid, "
      "alter_text, shadow_name, slot_name, publication_name, phase, deferred_indexes, index_names, "
      "statistics_names, key_index, schema_fingerprint, old_suffix) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'prepare', $10, $11, $12, $13, $14, $15)",
      {run_id_, std::to_string(kStateFormatVersion), n.schema, n.table, std::to_string(plan.model.oid), alter,
       n.shadow, n.slot, n.publication, TextArrayOf(plan.deferred_indexes), TextArrayOf(idx), TextArrayOf(stats),
       plan.key_index, TextArrayOf(FingerprintToFlat(fingerprint)), n.old_suffix}).status());
  return conn->Query("INSERT INTO shadowcopy.replay_positions (run_id) VALUES ($1)", {run_id_}).status();
}

absl::StatusOr<std::optional<RunRecord>> StateStore::FindUnfinished(PgConn* conn, const std::string& schema,
                                                                     const std::string& table) {
  ASSIGN_OR_RETURN(auto exists, conn->Exec("SELECT to_regclass('shadowcopy.runs') IS NOT NULL"));
  if (!exists.GetBool(0, 0)) return std::optional<RunRecord>();
  ASSIGN_OR_RETURN(auto r, conn->Query(
      "SELECT run_id, format_version, table_oid, alter_text, phase, copy_high_water::text, copy_done, "
      "coalesce((SELECT p.applied_lsn FROM shadowcopy.replay_positions p WHERE p.run_id = r.run_id), "
      "'0/0')::text, deferred_indexes::text, index_names::text, statistics_names::text, key_index, "
      "after_swap::text, schema_fingerprint::text, coalesce(to_jsonb(r)->>'old_suffix', $3) "
      "FROM shadowcopy.runs r WHERE schema_name = $1 AND table_name = $2 AND finished_at IS NULL "
      "ORDER BY started_at DESC LIMIT 1", {schema, table, std::string(kLegacyOldSuffix)}));
  if (r.Rows() == 0) return std::optional<RunRecord>();
  RunRecord rec;
  rec.run_id = r.GetString(0, 0);
  rec.format_version = static_cast<int>(r.GetInt(0, 1));
  rec.schema = schema;
  rec.table = table;
  rec.table_oid = static_cast<uint32_t>(r.GetInt(0, 2));
  rec.alter = r.GetString(0, 3);
  rec.phase = r.GetString(0, 4);
  rec.old_suffix = r.GetString(0, 14);
  if (!r.IsNull(0, 5)) {
    ASSIGN_OR_RETURN(auto hw, ParseTextArray(conn, r.Get(0, 5)));
    rec.copy_high_water = std::move(hw);
  }
  rec.copy_done = r.GetBool(0, 6);
  rec.applied_lsn = ParseLsn(r.Get(0, 7)).value_or(0);
  ASSIGN_OR_RETURN(rec.deferred_indexes, ParseTextArray(conn, r.Get(0, 8)));
  ASSIGN_OR_RETURN(auto idx, ParseTextArray(conn, r.Get(0, 9)));
  for (size_t i = 0; i + 1 < idx.size(); i += 2) rec.index_names.emplace_back(idx[i], idx[i + 1]);
  ASSIGN_OR_RETURN(auto st, ParseTextArray(conn, r.Get(0, 10)));
  for (size_t i = 0; i + 3 < st.size(); i += 4) rec.statistics_names.push_back({st[i], st[i + 1], st[i + 2], st[i + 3]});
  rec.key_index = r.GetString(0, 11);
  if (!r.IsNull(0, 12)) {
    ASSIGN_OR_RETURN(rec.after_swap, ParseTextArray(conn, r.Get(0, 12)));
  }
  if (!r.IsNull(0, 13)) {
    ASSIGN_OR_RETURN(auto flat, ParseTextArray(conn, r.Get(0, 13)));
    ASSIGN_OR_RETURN(rec.schema_fingerprint, FingerprintFromFlat(flat));
  }
  return std::optional<RunRecord>(std::move(rec));
}

absl::Status StateStore::SetPhase(PgConn* conn, const std::string& phase) {
  return conn->Query("UPDATE shadowcopy.runs SET phase = $2, updated_at = now() WHERE run_id = $1",
                     {run_id_, phase}).status();
}

absl::Status StateStore::Finish(PgConn* conn, const std::string& outcome) {
  return conn->Query("UPDATE shadowcopy.runs SET phase = 'finished', outcome = $2, finished_at = now(), "
                     "updated_at = now() WHERE run_id = $1", {run_id_, outcome}).status();
}

absl::Status StateStore::Delete(PgConn* conn, const std::string& run_id) {
  return conn->Query("DELETE FROM shadowcopy.runs WHERE run_id = $1", {run_id}).status();
}

std::pair<std::string, PgParams> StateStore::CopyCheckpoint(
    const std::optional<std::vector<std::string>>& high_water, bool done) const {
  PgParams p{run_id_, high_water ? std::optional<std::string>(TextArrayOf(*high_water)) : std::nullopt,
             done ? "true" : "false"};
  return {"UPDATE shadowcopy.runs SET copy_high_water = coalesce($2::text[], copy_high_water), "
          "copy_done = $3::boolean, updated_at = now() WHERE run_id = $1", p};
}

std::pair<std::string, PgParams> StateStore::AfterSwap(const std::vector<std::string>& statements) const {
  return {"UPDATE shadowcopy.runs SET after_swap = $2::text[], phase = 'swapped', updated_at = now() "
          "WHERE run_id = $1", {run_id_, TextArrayOf(statements)}};
}

std::pair<std::string, PgParams> StateStore::AfterSwapStatementDone(const std::string& statement) const {
  return {"UPDATE shadowcopy.runs SET after_swap = after_swap[2:], updated_at = now() "
          "WHERE run_id = $1 AND after_swap[1] = $2 RETURNING 1", {run_id_, statement}};
}

std::pair<std::string, PgParams> StateStore::ApplyCheckpoint(Lsn end_lsn) const {
  return {"UPDATE shadowcopy.replay_positions SET applied_lsn = greatest(applied_lsn, $2::pg_lsn), "
          "updated_at = now() WHERE run_id = $1", {run_id_, FormatLsn(end_lsn)}};
}

}  // namespace shadowcopy::engine
