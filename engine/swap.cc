#include "engine/swap.h"

#include "common/quote.h"
#include "common/status.h"
#include "engine/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

absl::StatusOr<SwapCatalog> ReadSwapCatalog(PgConn* conn, const ShadowPlan& plan) {
  SwapCatalog cat;
  std::string oid = std::to_string(plan.model.oid);
  // Sequences owned by a column: serial ('a', ALTER SEQUENCE OWNED BY) and
  // identity ('i'). The shadow's serial default already calls the same
  // sequence; an identity column got a new sequence of its own.
  ASSIGN_OR_RETURN(auto seqs, conn->Query(
                                  "SELECT s.oid::regclass::text, a.attname, d.deptype = 'i' "
                                  "FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
                                  "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
                                  "WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass "
                                  "AND d.refobjid = $1 AND d.deptype IN ('a', 'i') ORDER BY a.attnum",
                                  {oid}));
  for (int i = 0; i < seqs.Rows(); ++i)
    cat.sequences.push_back({seqs.GetString(i, 0), seqs.GetString(i, 1), seqs.GetBool(i, 2)});
  ASSIGN_OR_RETURN(auto grants, conn->Query(
                                    "SELECT a.privilege_type, "
                                    "CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END, "
                                    "a.is_grantable FROM pg_class c, aclexplode(c.relacl) a "
                                    "WHERE c.oid = $1 AND a.grantee <> c.relowner",
                                    {oid}));
  for (int i = 0; i < grants.Rows(); ++i)
    cat.grants.push_back({grants.GetString(i, 0), grants.GetString(i, 1), grants.GetBool(i, 2)});
  ASSIGN_OR_RETURN(auto misc, conn->Query(
                                  "SELECT obj_description(c.oid, 'pg_class'), c.relreplident, "
                                  "coalesce((SELECT substr(o, 20) FROM unnest(c.reloptions) o "
                                  "WHERE o LIKE 'autovacuum\\_enabled=%'), ''), "
                                  "coalesce((SELECT substr(o, 20) FROM unnest(t.reloptions) o "
                                  "WHERE o LIKE 'autovacuum\\_enabled=%'), '') "
                                  "FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid "
                                  "WHERE c.oid = $1",
                                  {oid}));
  cat.comment = misc.GetOptional(0, 0);
  cat.replica_identity = misc.Get(0, 1)[0];
  cat.autovacuum_enabled = misc.GetString(0, 2);
  cat.toast_autovacuum_enabled = misc.GetString(0, 3);
  return cat;
}

namespace {

const MappedColumn* FindBySource(const TableModel& m, const std::string& name) {
  for (const auto& c : m.columns)
    if (c.source_name == name) return &c;
  return nullptr;
}

}  // namespace

SwapStatements BuildSwapStatements(const ShadowPlan& plan, const SwapCatalog& cat) {
  const auto& n = plan.model.names;
  std::string orig = QualifiedName(n.schema, n.table);
  std::string shadow = QualifiedName(n.schema, n.shadow);
  SwapStatements result;
  std::vector<std::string>& out = result.in_lock;
  out.push_back(fmt::format("ALTER TABLE {} RENAME TO {}", orig, QuoteIdent(n.old_table)));
  // Indexes (and the constraints they back) take the original's names:
  // application code names them (ON CONFLICT ON CONSTRAINT orders_pkey).
  for (const auto& [orig_index, shadow_index] : plan.index_names) {
    out.push_back(fmt::format("ALTER INDEX {} RENAME TO {}", QualifiedName(n.schema, orig_index),
                              QuoteIdent(sql::AffixedName("_", orig_index, "_old"))));
    out.push_back(fmt::format("ALTER INDEX {} RENAME TO {}", QualifiedName(n.schema, shadow_index),
                              QuoteIdent(orig_index)));
  }
  out.push_back(fmt::format("ALTER TABLE {} RENAME TO {}", shadow, QuoteIdent(n.table)));
  for (const auto& s : cat.sequences) {
    const MappedColumn* c = FindBySource(plan.model, s.column);
    if (c == nullptr || !c->kept) continue;
    if (s.identity) {
      // An identity sequence cannot be re-owned: move the new one to the old
      // one's position so generated keys never collide.
      out.push_back(fmt::format(
          "SELECT setval(pg_get_serial_sequence({}, {}), s.last_value, s.is_called) FROM {} AS s",
          QuoteLiteral(orig), QuoteLiteral(c->target_name), s.sequence));
    } else {
      // Otherwise dropping the old table would drop the sequence the new
      // table's default calls.
      result.after_commit.push_back(fmt::format("ALTER SEQUENCE {} OWNED BY {}.{}", s.sequence, orig,
                                QuoteIdent(c->target_name)));
    }
  }
  for (const auto& g : cat.grants) {
    out.push_back(fmt::format("GRANT {} ON {} TO {}{}", g.privilege, orig,
                              g.grantee.empty() ? "PUBLIC" : QuoteIdent(g.grantee),
                              g.grantable ? " WITH GRANT OPTION" : ""));
  }
  if (cat.comment)
    out.push_back(fmt::format("COMMENT ON TABLE {} IS {}", orig, QuoteLiteral(*cat.comment)));
  // Autovacuum was off on the shadow while it was ours; restore the original's.
  std::string reset;
  if (cat.autovacuum_enabled.empty()) reset += "autovacuum_enabled";
  if (cat.toast_autovacuum_enabled.empty()) reset += std::string(reset.empty() ? "" : ", ") + "toast.autovacuum_enabled";
  if (!reset.empty()) out.push_back(fmt::format("ALTER TABLE {} RESET ({})", orig, reset));
  std::string set;
  if (!cat.autovacuum_enabled.empty()) set += "autovacuum_enabled = " + QuoteLiteral(cat.autovacuum_enabled);
  if (!cat.toast_autovacuum_enabled.empty())
    set += std::string(set.empty() ? "" : ", ") + "toast.autovacuum_enabled = " + QuoteLiteral(cat.toast_autovacuum_enabled);
  if (!set.empty()) out.push_back(fmt::format("ALTER TABLE {} SET ({})", orig, set));
  if (cat.replica_identity == 'f')
    out.push_back(fmt::format("ALTER TABLE {} REPLICA IDENTITY FULL", orig));
  return result;
}

}  // namespace shadowcopy::engine
