#include "engine/rewrite/old_tables.h"

#include <string>

#include "common/log.h"
#include "common/pg.h"
#include "common/quote.h"
#include "common/status.h"
#include "engine/table/old_names.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

absl::StatusOr<std::vector<Leftover>> RunOldTableCleanup(const Config& config, bool all) {
  ConnectOptions co;
  co.dsn = config.dsn;
  co.application_name = "shadowcopy_cleanup";
  ASSIGN_OR_RETURN(auto conn, PgConn::Connect(co));
  std::vector<Leftover> found;
  ASSIGN_OR_RETURN(auto st, conn->Exec("SELECT to_regclass('shadowcopy.runs') IS NOT NULL"));
  if (!st.GetBool(0, 0)) return found;
  PgParams by{config.schema, config.table};
  if (all) by = {std::nullopt, std::nullopt};
  // The swap recorded after_swap in its own transaction: from then on the
  // original (table_oid) is the run's old table. Only a relation with that
  // oid AND the name the run gave it (its recorded suffix; to_jsonb reads a
  // state table an older version created without that column) is ours: an
  // oid reused after a drop, or a table renamed since, is not touched.
  ASSIGN_OR_RETURN(auto r, conn->Query(
      "SELECT n.nspname, c.relname, r.table_name, coalesce(to_jsonb(r)->>'old_suffix', $3), r.run_id, "
      "to_char(r.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"'), "
      "pg_size_pretty(pg_total_relation_size(c.oid)) "
      "FROM shadowcopy.runs r JOIN pg_class c ON c.oid = r.table_oid AND c.relkind IN ('r', 'p') "
      "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = r.schema_name "
      "WHERE r.after_swap IS NOT NULL AND r.finished_at IS NOT NULL "
      "AND ($1::text IS NULL OR (r.schema_name = $1 AND r.table_name = $2)) "
      "ORDER BY r.finished_at, r.run_id",
      {by[0], by[1], std::string(kLegacyOldSuffix)}));
  for (int i = 0; i < r.Rows(); ++i) {
    const std::string schema = r.GetString(i, 0), relname = r.GetString(i, 1);
    if (relname != OldTableName(r.GetString(i, 2), r.GetString(i, 3))) continue;
    const std::string q = QualifiedName(schema, relname);
    found.push_back({"old table",
                     fmt::format("{} ({}; kept by run {} finished {})", q, r.GetString(i, 6), r.GetString(i, 4),
                                 r.GetString(i, 5)),
                     fmt::format("DROP TABLE {}", q), false, "would drop", "dropped"});
  }
  if (!config.execute) return found;
  // Never behind a long lock queue: a table someone still reads is reported.
  RETURN_IF_ERROR(conn->Exec("SET lock_timeout = '5s'").status());
  for (const auto& l : found) {
    RETURN_IF_ERROR(Annotate(conn->Exec(l.drop_sql).status(), fmt::format("dropping {} {}", l.kind, l.name)));
    Log(LogLevel::kInfo, "dropped {} {}", l.kind, l.name);
  }
  return found;
}

}  // namespace shadowcopy::engine
