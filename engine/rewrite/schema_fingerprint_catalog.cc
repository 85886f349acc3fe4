// Reads the schema fingerprint of a table from the catalog (see
// schema_fingerprint.h). Each query returns one row per object: its name
// first, then one column per field, the column's alias naming the field. A
// NULL field is left out of the definition.
#include <libpq-fe.h>

#include <chrono>

#include "common/log.h"
#include "common/status.h"
#include "engine/rewrite/schema_fingerprint.h"

namespace shadowcopy::engine {
namespace {

struct ObjectQuery {
  const char* kind;
  const char* sql;  // $1: the table's oid
};

// Names of types, collations, functions and operators in the definitions
// come out schema-qualified: they are read with search_path = pg_catalog
// (kPinned).
const ObjectQuery kQueries[] = {
    {"table",
     "SELECT '', pg_get_userbyid(c.relowner) AS owner, c.relpersistence AS persistence, "
     "am.amname AS \"access method\", ts.spcname AS tablespace, "
     "(SELECT string_agg(o, ', ' ORDER BY o) FROM unnest(c.reloptions) o "
     " WHERE o NOT LIKE 'autovacuum\\_enabled=%') AS options, "
     "(SELECT string_agg(o, ', ' ORDER BY o) FROM pg_class t, unnest(t.reloptions) o "
     " WHERE t.oid = c.reltoastrelid AND o NOT LIKE 'autovacuum\\_enabled=%') AS \"toast options\", "
     "(SELECT string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno) FROM pg_inherits i "
     " WHERE i.inhrelid = c.oid) AS inherits, "
     "pg_get_expr(c.relpartbound, c.oid) AS \"partition bound\", "
     "nullif(c.reloftype, 0)::regtype::text AS \"of type\" "
     "FROM pg_class c LEFT JOIN pg_am am ON am.oid = c.relam "
     "LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace WHERE c.oid = $1"},
    {"column",
     "SELECT a.attname, a.attnum AS position, format_type(a.atttypid, a.atttypmod) AS type, "
     "a.attnotnull AS \"not null\", pg_get_expr(d.adbin, d.adrelid) AS \"default\", "
     "nullif(a.attidentity, '') AS identity, nullif(a.attgenerated, '') AS generated, "
     "(SELECT format('%s start %s increment %s min %s max %s cache %s cycle %s', "
     "  format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, "
     "  s.seqcycle) FROM pg_depend dep JOIN pg_sequence s ON s.seqrelid = dep.objid "
     " WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass "
     " AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype = 'i') "
     "AS \"identity sequence\", "
     "CASE WHEN a.attcollation <> 0 THEN a.attcollation::regcollation::text END AS collation, "
     "a.attstorage AS storage, {compression} AS compression, "
     "a.attstattarget AS statistics, array_to_string(a.attoptions, ', ') AS options, "
     "col_description(a.attrelid, a.attnum) AS comment "
     "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
     "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped"},
    // The replica identity mark (indisreplident) is left out: the run may set it.
    {"index",
     "SELECT c.relname, pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid AS valid, "
     "i.indisclustered AS clustered, ts.spcname AS tablespace, "
     "obj_description(i.indexrelid, 'pg_class') AS comment "
     "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
     "LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace WHERE i.indrelid = $1"},
    // Foreign keys (f) and constraint triggers (t) are read again by the swap.
    {"constraint",
     "SELECT conname, pg_get_constraintdef(oid) AS definition, convalidated AS validated, "
     "obj_description(oid, 'pg_constraint') AS comment "
     "FROM pg_constraint WHERE conrelid = $1 AND contype IN ('c', 'p', 'u', 'x')"},
    {"statistics",
     "SELECT n.nspname || '.' || s.stxname, pg_get_statisticsobjdef(s.oid) AS definition, "
     "s.stxstattarget AS target, obj_description(s.oid, 'pg_statistic_ext') AS comment "
     "FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE s.stxrelid = $1"},
    {"rule",
     "SELECT rulename, pg_get_ruledef(oid) AS definition, ev_enabled AS enabled "
     "FROM pg_rewrite WHERE ev_class = $1 AND rulename <> '_RETURN'"},
};

// Settings that shape how definitions are printed, pinned for the reads
// (locally) so that two sessions print the same definition alike: names
// schema-qualified, constants of defaults and predicates in one style.
const char* const kPinned[][2] = {
    {"search_path", "pg_catalog"}, {"DateStyle", "ISO, MDY"},   {"IntervalStyle", "postgres"},
    {"TimeZone", "UTC"},           {"extra_float_digits", "1"}, {"bytea_output", "hex"},
};

// "SELECT current_setting(...), ..." of the pinned settings (`kind` 0), or
// set_config(..., true) of each to its pinned value (1) or to $1, $2, ... (2).
std::string PinnedSql(int kind) {
  std::string sql = "SELECT ";
  int i = 0;
  for (const auto& p : kPinned) {
    if (i++) sql += ", ";
    std::string name = std::string("'") + p[0] + "'";
    if (kind == 0) sql += "current_setting(" + name + ")";
    else if (kind == 1) sql += "set_config(" + name + ", '" + p[1] + "', true)";
    else sql += "set_config(" + name + ", $" + std::to_string(i) + ", true)";
  }
  return sql;
}

// A value on one line: newlines and backslashes escaped.
std::string OneLine(std::string_view v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\') out += "\\\\";
    else if (ch == '\n') out += "\\n";
    else out += ch;
  }
  return out;
}

absl::Status ReadObjects(PgConn* conn, const ObjectQuery& q, const std::string& oid, SchemaFingerprint* fp) {
  std::string sql = q.sql;
  // Per-column compression exists from PostgreSQL 14.
  if (auto at = sql.find("{compression}"); at != std::string::npos)
    sql.replace(at, 13, conn->ServerVersion() >= 140000 ? "nullif(a.attcompression, '')" : "NULL::text");
  ASSIGN_OR_RETURN(auto r, conn->Query(sql, {oid}));
  for (int row = 0; row < r.Rows(); ++row) {
    FingerprintObject o{q.kind, r.GetString(row, 0), ""};
    for (int col = 1; col < r.Cols(); ++col) {
      if (r.IsNull(row, col)) continue;
      o.definition += PQfname(r.raw(), col);
      o.definition += ": ";
      o.definition += OneLine(r.Get(row, col));
      o.definition += '\n';
    }
    fp->push_back(std::move(o));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SchemaFingerprint> ReadSchemaFingerprint(PgConn* conn, uint32_t oid) {
  const bool own_transaction = !conn->InTransaction();
  if (own_transaction) RETURN_IF_ERROR(conn->Exec("BEGIN").status());
  SchemaFingerprint fp;
  absl::Status st = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto saved, conn->Exec(PinnedSql(0)));
    RETURN_IF_ERROR(conn->Exec(PinnedSql(1)).status());
    for (const auto& q : kQueries) RETURN_IF_ERROR(ReadObjects(conn, q, std::to_string(oid), &fp));
    PgParams restore;
    for (int i = 0; i < saved.Cols(); ++i) restore.push_back(saved.GetString(0, i));
    return conn->Query(PinnedSql(2), restore).status();
  }();
  if (own_transaction) conn->RollbackQuietly();
  RETURN_IF_ERROR(st);
  if (fp.empty() || fp.front().kind != "table")
    return absl::NotFoundError("the table to fingerprint is gone");
  SortFingerprint(&fp);
  return fp;
}

absl::Status ConfirmBuiltFrom(PgConn* conn, uint32_t oid, const SchemaFingerprint& built_from) {
  ASSIGN_OR_RETURN(auto now, ReadSchemaFingerprint(conn, oid));
  if (now == built_from) return absl::OkStatus();
  return absl::UnavailableError("the original table's definition changed while the shadow table was created");
}

absl::Status CheckSchemaUnchanged(PgConn* locked_conn, uint32_t oid, const std::string& table,
                                  const SchemaFingerprint& built_from) {
  if (built_from.empty()) return absl::InternalError("the run has no record of the original's definition");
  auto started = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(auto now, ReadSchemaFingerprint(locked_conn, oid));
  if (now == built_from) {
    Log(LogLevel::kDebug, "the original's definition is unchanged (compared {} objects in {:.1f} ms)", now.size(),
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    return absl::OkStatus();
  }
  return DriftError(table, DescribeDrift(built_from, now));
}

}  // namespace shadowcopy::engine
