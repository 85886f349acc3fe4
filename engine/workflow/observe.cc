#include "engine/workflow/observe.h"

#include <string_view>

#include "common/status.h"

namespace shadowcopy::workflow {
namespace {

// User schemas only: the catalogs, TOAST and temporary schemas are left out.
constexpr std::string_view kUserSchema =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    " AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'";

uint32_t Oid(const PgResult& r, int row, int col) { return static_cast<uint32_t>(r.GetInt(row, col)); }

}  // namespace

absl::StatusOr<CatalogSnapshot> ReadSnapshot(PgConn* conn) {
  CatalogSnapshot snap;
  ASSIGN_OR_RETURN(auto rels, conn->Query(std::string(
      "SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind, c.relfilenode,"
      " coalesce(i.indrelid, 0) FROM pg_catalog.pg_class c"
      " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
      " LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid WHERE ") + std::string(kUserSchema)));
  for (int i = 0; i < rels.Rows(); ++i) {
    RelationEntry e;
    e.name = rels.GetString(i, 1);
    e.relkind = rels.Get(i, 2).empty() ? '?' : rels.Get(i, 2)[0];
    e.filenode = Oid(rels, i, 3);
    e.table_oid = Oid(rels, i, 4);
    snap.relations[Oid(rels, i, 0)] = std::move(e);
  }
  ASSIGN_OR_RETURN(auto cols, conn->Query(std::string(
      "SELECT a.attrelid, a.attnum, quote_ident(a.attname), a.attnotnull FROM pg_catalog.pg_attribute a"
      " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
      " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
      " WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND ") +
      std::string(kUserSchema)));
  for (int i = 0; i < cols.Rows(); ++i)
    snap.columns[{Oid(cols, i, 0), static_cast<int>(cols.GetInt(i, 1))}] = {cols.GetString(i, 2),
                                                                            cols.GetBool(i, 3)};
  ASSIGN_OR_RETURN(auto cons, conn->Query(std::string(
      "SELECT co.oid, co.conrelid, quote_ident(co.conname), co.contype, co.convalidated"
      " FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_class c ON c.oid = co.conrelid"
      " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE ") + std::string(kUserSchema)));
  for (int i = 0; i < cons.Rows(); ++i) {
    ConstraintEntry e;
    e.table_oid = Oid(cons, i, 1);
    e.name = cons.GetString(i, 2);
    e.type = cons.Get(i, 3).empty() ? '?' : cons.Get(i, 3)[0];
    e.validated = cons.GetBool(i, 4);
    snap.constraints[Oid(cons, i, 0)] = std::move(e);
  }
  return snap;
}

absl::StatusOr<std::vector<HeldLock>> ReadHeldLocks(PgConn* conn) {
  ASSIGN_OR_RETURN(auto r, conn->Query(
      "SELECT relation, mode FROM pg_catalog.pg_locks WHERE pid = pg_catalog.pg_backend_pid()"
      " AND locktype = 'relation' AND granted AND database ="
      " (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())"));
  std::vector<HeldLock> out;
  for (int i = 0; i < r.Rows(); ++i) out.push_back({Oid(r, i, 0), r.GetString(i, 1)});
  return out;
}

}  // namespace shadowcopy::workflow
