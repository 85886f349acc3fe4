// Reads, on the connection holding the cutover lock, everything the swap
// carries over (see swap.h).
#include "common/quote.h"
#include "common/status.h"
#include "engine/rewrite/swap.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

absl::Status ReadTableBasics(PgConn* conn, const std::string& oid, SwapCatalog* cat) {
  // Sequences owned by a column: serial ('a', ALTER SEQUENCE OWNED BY) and
  // identity ('i'). The shadow's serial default already calls the same
  // sequence; an identity column got a new sequence of its own.
  ASSIGN_OR_RETURN(auto seqs, conn->Query(
      "SELECT s.oid::regclass::text, a.attname, d.deptype = 'i', s.relname "
      "FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
      "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
      "WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass "
      "AND d.refobjid = $1 AND d.deptype IN ('a', 'i') ORDER BY a.attnum", {oid}));
  for (int i = 0; i < seqs.Rows(); ++i)
    cat->sequences.push_back({seqs.GetString(i, 0), seqs.GetString(i, 1), seqs.GetBool(i, 2),
                              seqs.GetString(i, 3), ""});
  ASSIGN_OR_RETURN(auto grants, conn->Query(
      "SELECT a.privilege_type, "
      "CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END, "
      "a.is_grantable FROM pg_class c, aclexplode(c.relacl) a "
      "WHERE c.oid = $1 AND a.grantee <> c.relowner", {oid}));
  for (int i = 0; i < grants.Rows(); ++i)
    cat->grants.push_back({grants.GetString(i, 0), grants.GetString(i, 1), grants.GetBool(i, 2)});
  ASSIGN_OR_RETURN(auto cgrants, conn->Query(
      "SELECT at.attname, a.privilege_type, "
      "CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END, a.is_grantable "
      "FROM pg_attribute at, aclexplode(at.attacl) a WHERE at.attrelid = $1 AND at.attnum > 0 "
      "AND NOT at.attisdropped AND at.attacl IS NOT NULL ORDER BY at.attnum", {oid}));
  for (int i = 0; i < cgrants.Rows(); ++i)
    cat->column_grants.push_back(
        {cgrants.GetString(i, 0), {cgrants.GetString(i, 1), cgrants.GetString(i, 2), cgrants.GetBool(i, 3)}});
  ASSIGN_OR_RETURN(auto misc, conn->Query(
      "SELECT obj_description(c.oid, 'pg_class'), c.relreplident, "
      "coalesce((SELECT substr(o, 20) FROM unnest(c.reloptions) o "
      "WHERE o LIKE 'autovacuum\\_enabled=%'), ''), "
      "coalesce((SELECT substr(o, 20) FROM unnest(t.reloptions) o "
      "WHERE o LIKE 'autovacuum\\_enabled=%'), ''), c.relrowsecurity, c.relforcerowsecurity, "
      "coalesce((SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
      "WHERE i.indrelid = c.oid AND i.indisreplident), ''), "
      "coalesce((SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
      "WHERE i.indrelid = c.oid AND i.indisclustered), '') "
      "FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.oid = $1", {oid}));
  cat->comment = misc.GetOptional(0, 0);
  cat->replica_identity = misc.Get(0, 1)[0];
  cat->autovacuum_enabled = misc.GetString(0, 2);
  cat->toast_autovacuum_enabled = misc.GetString(0, 3);
  cat->row_security = misc.GetBool(0, 4);
  cat->force_row_security = misc.GetBool(0, 5);
  cat->replica_identity_index = misc.GetString(0, 6);
  cat->clustered_index = misc.GetString(0, 7);
  return absl::OkStatus();
}

// The shadow's own identity sequences (LIKE ... INCLUDING IDENTITY made new ones).
absl::Status ReadShadowSequences(PgConn* conn, const ShadowPlan& plan, SwapCatalog* cat) {
  for (auto& s : cat->sequences) {
    if (!s.identity) continue;
    for (const auto& c : plan.model.columns) {
      if (c.source_name != s.column || !c.kept) continue;
      ASSIGN_OR_RETURN(auto r, conn->Query(
          "SELECT pg_get_serial_sequence($1, $2)::regclass::text",
          {QualifiedName(plan.model.names.schema, plan.model.names.shadow), c.target_name}));
      if (!r.IsNull(0, 0)) s.shadow_sequence = r.GetString(0, 0);
    }
  }
  return absl::OkStatus();
}

absl::Status ReadForeignKeys(PgConn* conn, const std::string& oid, SwapCatalog* cat) {
  ASSIGN_OR_RETURN(auto r, conn->Query(
      "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated, "
      "obj_description(oid, 'pg_constraint'), conrelid = $1 "
      "FROM pg_constraint WHERE contype = 'f' AND (conrelid = $1 OR confrelid = $1) "
      "ORDER BY conrelid = $1 DESC, oid", {oid}));
  for (int i = 0; i < r.Rows(); ++i) {
    ForeignKey fk{r.GetString(i, 0), r.GetString(i, 1), r.GetString(i, 2), r.GetBool(i, 3),
                  r.GetOptional(i, 4)};
    // A self-reference is both: re-created once, on the new table.
    if (r.GetBool(i, 5)) cat->outgoing_fks.push_back(std::move(fk));
    else cat->incoming_fks.push_back(std::move(fk));
  }
  return absl::OkStatus();
}

absl::Status ReadTriggersAndPolicies(PgConn* conn, const std::string& oid, SwapCatalog* cat) {
  ASSIGN_OR_RETURN(auto t, conn->Query(
      "SELECT tgname, pg_get_triggerdef(oid), tgenabled, obj_description(oid, 'pg_trigger') "
      "FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal AND tgparentid = 0 ORDER BY tgname", {oid}));
  for (int i = 0; i < t.Rows(); ++i)
    cat->triggers.push_back({t.GetString(i, 0), t.GetString(i, 1), t.Get(i, 2)[0], t.GetOptional(i, 3)});
  ASSIGN_OR_RETURN(auto p, conn->Query(
      "SELECT pol.polname, "
      "'AS ' || CASE WHEN pol.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END || "
      "' FOR ' || CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' "
      "WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END || "
      "' TO ' || coalesce((SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' "
      "ELSE quote_ident(pg_get_userbyid(r)) END, ', ') FROM unnest(pol.polroles) r), 'PUBLIC') || "
      "coalesce(' USING (' || pg_get_expr(pol.polqual, pol.polrelid) || ')', '') || "
      "coalesce(' WITH CHECK (' || pg_get_expr(pol.polwithcheck, pol.polrelid) || ')', ''), "
      "obj_description(pol.oid, 'pg_policy') "
      "FROM pg_policy pol WHERE pol.polrelid = $1 ORDER BY pol.polname", {oid}));
  for (int i = 0; i < p.Rows(); ++i)
    cat->policies.push_back({p.GetString(i, 0), p.GetString(i, 1), p.GetOptional(i, 2)});
  return absl::OkStatus();
}

absl::Status ReadViews(PgConn* conn, const std::string& oid, SwapCatalog* cat) {
  ASSIGN_OR_RETURN(auto v, conn->Query(
      "WITH RECURSIVE deps(oid, depth) AS ("
      "  SELECT r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
      "  WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass "
      "  AND d.refobjid = $1 AND r.ev_class <> $1 "
      "  UNION SELECT r.ev_class, deps.depth + 1 FROM deps JOIN pg_depend d "
      "  ON d.refobjid = deps.oid AND d.classid = 'pg_rewrite'::regclass "
      "  AND d.refclassid = 'pg_class'::regclass JOIN pg_rewrite r ON r.oid = d.objid "
      "  WHERE r.ev_class <> deps.oid) "
      "SELECT c.oid::regclass::text, max(deps.depth), pg_get_viewdef(c.oid), "
      "coalesce(array_to_string(c.reloptions, ', '), ''), pg_get_userbyid(c.relowner), "
      "obj_description(c.oid, 'pg_class'), c.oid "
      "FROM deps JOIN pg_class c ON c.oid = deps.oid GROUP BY c.oid ORDER BY 2, c.oid", {oid}));
  for (int i = 0; i < v.Rows(); ++i) {
    DependentView view{v.GetString(i, 0), static_cast<int>(v.GetInt(i, 1)), v.GetString(i, 2),
                       v.GetString(i, 3), v.GetString(i, 4), {}, v.GetOptional(i, 5)};
    ASSIGN_OR_RETURN(auto g, conn->Query(
        "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END, "
        "a.is_grantable FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1 "
        "AND a.grantee <> c.relowner", {v.GetString(i, 6)}));
    for (int j = 0; j < g.Rows(); ++j) view.grants.push_back({g.GetString(j, 0), g.GetString(j, 1), g.GetBool(j, 2)});
    cat->views.push_back(std::move(view));
  }
  return absl::OkStatus();
}

absl::Status ReadPublications(PgConn* conn, const std::string& oid, const std::string& ours,
                              SwapCatalog* cat) {
  ASSIGN_OR_RETURN(auto p, conn->Query(
      "SELECT p.pubname, "
      "coalesce('(' || (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n) "
      "  FROM unnest(pr.prattrs) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a "
      "  ON a.attrelid = pr.prrelid AND a.attnum = k.attnum) || ')', ''), "
      "coalesce('WHERE (' || pg_get_expr(pr.prqual, pr.prrelid) || ')', '') "
      "FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid "
      "WHERE pr.prrelid = $1 AND p.pubname <> $2 ORDER BY p.pubname", {oid, ours}));
  for (int i = 0; i < p.Rows(); ++i)
    cat->publications.push_back({p.GetString(i, 0), p.GetString(i, 1), p.GetString(i, 2)});
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SwapCatalog> ReadSwapCatalog(PgConn* conn, const ShadowPlan& plan) {
  SwapCatalog cat;
  std::string oid = std::to_string(plan.model.oid);
  RETURN_IF_ERROR(ReadTableBasics(conn, oid, &cat));
  RETURN_IF_ERROR(ReadShadowSequences(conn, plan, &cat));
  RETURN_IF_ERROR(ReadForeignKeys(conn, oid, &cat));
  RETURN_IF_ERROR(ReadTriggersAndPolicies(conn, oid, &cat));
  RETURN_IF_ERROR(ReadViews(conn, oid, &cat));
  RETURN_IF_ERROR(ReadPublications(conn, oid, plan.model.names.publication, &cat));
  ASSIGN_OR_RETURN(cat.inheritance, ReadTreeForSwap(conn, plan.model.oid, QualifiedName(plan.model.names.schema, plan.model.names.table)));
  return cat;
}

}  // namespace shadowcopy::engine
