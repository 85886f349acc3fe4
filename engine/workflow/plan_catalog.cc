#include "engine/workflow/plan_catalog.h"

#include "common/pg.h"
#include "common/status.h"
#include "engine/workflow/plan_statement.h"

namespace shadowcopy::workflow {
namespace {

// A table never analyzed has no row estimate: count it when that is cheap.
constexpr int64_t kCountBelowBytes = 64 << 20;

absl::Status ReadRelation(PgConn& conn, const std::string& name, PlanFacts* facts) {
  ASSIGN_OR_RETURN(PgResult rel, conn.Query("SELECT c.oid, c.reltuples::bigint, pg_total_relation_size(c.oid), "
                                            "pg_relation_size(c.oid), c.relkind::text "
                                            "FROM pg_class c WHERE c.oid = to_regclass($1)",
                                            {name}));
  if (rel.Rows() == 0) return absl::OkStatus();
  const std::string oid = rel.GetString(0, 0);
  if (!facts->sizes.count(name)) {
    RelationSize size;
    size.rows = rel.GetInt(0, 1);
    size.bytes = rel.GetInt(0, 2);
    if (size.rows < 0) {
      size.rows = rel.GetInt(0, 3) / 100;
      if (rel.GetInt(0, 3) < kCountBelowBytes && (rel.Get(0, 4) == "r" || rel.Get(0, 4) == "p")) {
        ASSIGN_OR_RETURN(PgResult n, conn.Query("SELECT count(*) FROM " + name));
        size.rows = n.GetInt(0, 0);
      }
    }
    facts->sizes[name] = size;
  }
  ASSIGN_OR_RETURN(PgResult cols, conn.Query("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                             "WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped",
                                             {oid}));
  for (int i = 0; i < cols.Rows(); ++i)
    facts->column_types.emplace(name + "." + IdentAsNeeded(cols.Get(i, 0)), cols.GetString(i, 1));
  if (!facts->primary_keys.count(name)) {
    ASSIGN_OR_RETURN(PgResult pk, conn.Query("SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                                             "ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
                                             "WHERE i.indrelid = $1::oid AND i.indisprimary",
                                             {oid}));
    for (int i = 0; i < pk.Rows(); ++i) facts->primary_keys[name].push_back(pk.GetString(i, 0));
  }
  if (facts->index_columns.count(name)) return absl::OkStatus();
  ASSIGN_OR_RETURN(PgResult idx,
                   conn.Query("SELECT string_agg(coalesce(a.attname, ''), E'\\n' ORDER BY k.n) "
                              "FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n) "
                              "LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                              "WHERE i.indrelid = $1::oid GROUP BY i.indexrelid",
                              {oid}));
  auto& indexes = facts->index_columns[name];
  for (int i = 0; i < idx.Rows(); ++i) {
    std::vector<std::string> columns;
    std::string_view all = idx.Get(i, 0);
    size_t b = 0;
    while (b <= all.size()) {
      size_t e = all.find('\n', b);
      if (e == std::string_view::npos) e = all.size();
      if (e == b) break;  // an expression: no plain column from here
      columns.emplace_back(all.substr(b, e - b));
      b = e + 1;
    }
    if (!columns.empty()) indexes.push_back(columns);
  }
  return absl::OkStatus();
}

}  // namespace

std::set<std::string> NamedRelations(const PlanFacts& facts) {
  std::set<std::string> out;
  for (const StatementFacts& sf : facts.statements) {
    StatementShape s = ClassifyStatement(sf.statement.sql);
    if (!s.relation.empty()) out.insert(s.relation);
    for (const auto& r : s.relations) out.insert(r);
    for (const auto& r : s.references) out.insert(r);
    for (const auto& a : s.actions)
      if (!a.constraint.references.empty()) out.insert(a.constraint.references);
    for (const ObservedLock& l : sf.observation.locks) out.insert(l.relation);
    for (const auto& r : sf.observation.rewrites) out.insert(r);
  }
  return out;
}

absl::Status ReadTargetCatalog(const std::string& dsn, PlanFacts* facts) {
  ConnectOptions options;
  options.dsn = dsn;
  options.application_name = "shadowcopy plan";
  options.settings = {{"default_transaction_read_only", "on"}};
  ASSIGN_OR_RETURN(auto conn, PgConn::Connect(options));
  ASSIGN_OR_RETURN(PgResult db, conn->Query("SELECT current_database(), current_setting('server_version_num')"));
  if (facts->target.empty()) facts->target = db.GetString(0, 0);
  if (facts->server_version_num == 0) facts->server_version_num = static_cast<int>(db.GetInt(0, 1));
  for (const std::string& name : NamedRelations(*facts)) RETURN_IF_ERROR(ReadRelation(*conn, name, facts));
  return absl::OkStatus();
}

}  // namespace shadowcopy::workflow
