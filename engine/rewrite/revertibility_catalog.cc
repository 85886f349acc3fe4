// The facts of the revertibility analysis, read inside the transaction that
// built the shadow (the dry run's, rolled back afterwards).
#include "engine/rewrite/revertibility_catalog.h"

#include <map>

#include "common/quote.h"
#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

constexpr const char* kRevertColumnsSql =
    "SELECT attnum, attname, format_type(atttypid, atttypmod), attnotnull, atthasdef OR attidentity <> '' "
    "FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' "
    "ORDER BY attnum";

absl::StatusOr<std::map<int, RevertColumn>> RevertColumnsOf(PgConn* conn, uint32_t oid) {
  ASSIGN_OR_RETURN(auto r, conn->Query(kRevertColumnsSql, {std::to_string(oid)}));
  std::map<int, RevertColumn> out;
  for (int i = 0; i < r.Rows(); ++i)
    out[static_cast<int>(r.GetInt(i, 0))] = {r.GetString(i, 1), r.GetString(i, 2), r.GetBool(i, 3), r.GetBool(i, 4)};
  return out;
}

}  // namespace

absl::StatusOr<RevertFacts> ReadRevertFacts(PgConn* conn, uint32_t orig_oid, const ShadowPlan& plan) {
  RevertFacts f;
  // The shadow was created LIKE the original and then altered: attnums are
  // kept, a dropped column is marked dropped, an added one gets a new attnum.
  ASSIGN_OR_RETURN(auto old_cols, RevertColumnsOf(conn, orig_oid));
  ASSIGN_OR_RETURN(auto new_cols, RevertColumnsOf(conn, plan.shadow_oid));
  std::string targets, sources;
  for (const auto& [attnum, col] : old_cols) {
    RevertPair p;
    p.old_col = col;
    auto it = new_cols.find(attnum);
    p.kept = it != new_cols.end();
    if (p.kept) {
      p.new_col = it->second;
      for (const auto& m : plan.model.columns)
        if (m.source_name == col.name) p.has_using = !m.using_expr.empty();
      targets += (targets.empty() ? "" : ", ") + QuoteIdent(col.name);
      sources += (sources.empty() ? "" : ", ") + QuoteIdent(p.new_col.name);
    }
    f.columns.push_back(std::move(p));
  }
  for (const auto& [attnum, col] : new_cols)
    if (!old_cols.count(attnum)) f.added.push_back(col);
  // The original's unique indexes whose counterpart the ALTER dropped.
  ASSIGN_OR_RETURN(auto uniq, conn->Query("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                          "WHERE i.indrelid = $1 AND i.indisunique ORDER BY 1",
                                          {std::to_string(orig_oid)}));
  for (int i = 0; i < uniq.Rows(); ++i) {
    std::string name = uniq.GetString(i, 0);
    bool alive = false;
    for (const auto& [orig, sh] : plan.index_names) alive = alive || (orig == name && !sh.empty());
    if (name == plan.key_index) alive = true;
    if (!alive) f.lost_unique.push_back(name);
  }
  // Whether PostgreSQL can write each new column back into the old one at
  // all (an assignment cast exists): planned against an empty copy of the
  // original's columns, so no lock beyond ACCESS SHARE is taken.
  if (!targets.empty()) {
    const std::string probe = "_shadowcopy_revert_probe";
    RETURN_IF_ERROR(conn->Exec("SAVEPOINT revert_probe").status());
    auto st = conn->Exec(fmt::format("CREATE TEMP TABLE {} (LIKE {})", QuoteIdent(probe),
                                     QualifiedName(plan.model.names.schema, plan.model.names.table))).status();
    if (st.ok())
      st = conn->Exec(fmt::format("EXPLAIN INSERT INTO {} ({}) SELECT {} FROM {}", QuoteIdent(probe), targets,
                                  sources, QualifiedName(plan.model.names.schema, plan.model.names.shadow))).status();
    if (!st.ok() && conn->Healthy()) {
      f.reverse_cast_missing = true;
      f.reverse_cast_error = std::string(st.message());
    }
    RETURN_IF_ERROR(conn->Exec("ROLLBACK TO SAVEPOINT revert_probe").status());
  }
  return f;
}

}  // namespace shadowcopy::engine
