#include "engine/rewrite/old_tables.h"

#include "common/log.h"
#include "common/pg.h"
#include "common/quote.h"
#include "common/status.h"
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
  // The swap recorded after_swap in its own transaction: the original
  // (table_oid) is the old table from then on, unless it carries the
  // table's name again.
  ASSIGN_OR_RETURN(auto r, conn->Query(
      "SELECT c.oid::regclass::text, r.run_id, to_char(r.finished_at, 'YYYY-MM-DD HH24:MI:SS TZ'), "
      "pg_size_pretty(pg_total_relation_size(c.oid)), format('DROP TABLE %s', c.oid::regclass) "
      "FROM shadowcopy.runs r JOIN pg_class c ON c.oid = r.table_oid AND c.relkind IN ('r', 'p') "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE r.after_swap IS NOT NULL AND r.finished_at IS NOT NULL "
      "AND NOT (n.nspname = r.schema_name AND c.relname = r.table_name) "
      "AND ($1::text IS NULL OR (r.schema_name = $1 AND r.table_name = $2)) "
      "ORDER BY r.finished_at, r.run_id", by));
  for (int i = 0; i < r.Rows(); ++i)
    found.push_back({"old table",
                     fmt::format("{} ({}; kept by run {} finished {})", r.GetString(i, 0), r.GetString(i, 3),
                                 r.GetString(i, 1), r.GetString(i, 2)),
                     r.GetString(i, 4), false, "would drop", "dropped"});
  if (!config.execute) return found;
  RETURN_IF_ERROR(conn->Exec("SET lock_timeout = '5s'").status());
  for (const auto& l : found) {
    RETURN_IF_ERROR(Annotate(conn->Exec(l.drop_sql).status(), fmt::format("dropping {} {}", l.kind, l.name)));
    Log(LogLevel::kInfo, "dropped {} {}", l.kind, l.name);
  }
  return found;
}

}  // namespace shadowcopy::engine
