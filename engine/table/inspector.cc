#include "engine/table/inspector.h"

#include "common/quote.h"
#include "common/status.h"
#include "engine/table/inheritance.h"
#include "engine/table/leftovers.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

absl::Status Precondition(std::string message) {
  return absl::FailedPreconditionError(std::move(message));
}

}  // namespace

std::string OldSuffixAt(absl::Time t) {
  return "_old_" + absl::FormatTime("%Y%m%d%H%M%S", t, absl::UTCTimeZone());
}

std::string OldObjectName(const std::string& name, const std::string& suffix) {
  std::string plain = sql::AffixedName("_", name, suffix);
  if (plain.size() < 63) return plain;
  uint32_t h = 2166136261u;
  for (unsigned char ch : name) h = (h ^ ch) * 16777619u;
  return sql::AffixedName("_", name, fmt::format("_{:08x}{}", h, suffix));
}

ObjectNames NamesFor(const std::string& schema, const std::string& table, uint32_t oid,
                     const std::string& old_suffix) {
  ObjectNames n;
  n.schema = schema;
  n.table = table;
  n.shadow = sql::AffixedName("_", table, "_shadow");
  n.old_suffix = old_suffix;
  n.old_table = sql::AffixedName("_", table, old_suffix);
  n.slot = fmt::format("shadowcopy_{}", oid);
  n.publication = n.slot;
  return n;
}

absl::StatusOr<Inspection> Inspector::Inspect(const Config& config) {
  Inspection in;
  RETURN_IF_ERROR(ResolveTable(config, &in));
  RETURN_IF_ERROR(LoadColumnsAndKey(&in));
  RETURN_IF_ERROR(CheckServer(&in));
  RETURN_IF_ERROR(CheckPrivileges(in));
  RETURN_IF_ERROR(CheckUnsupported(in));
  return in;
}

absl::StatusOr<Inspection> Inspector::InspectForBackfill(const Config& config) {
  Inspection in;
  RETURN_IF_ERROR(ResolveTable(config, &in, /*for_backfill=*/true));
  RETURN_IF_ERROR(LoadColumns(&in));
  RETURN_IF_ERROR(ChooseBackfillKey(&in));
  return in;
}

absl::Status Inspector::ResolveTable(const Config& config, Inspection* out, bool for_backfill) {
  ASSIGN_OR_RETURN(auto ns, conn_->Query("SELECT 1 FROM pg_namespace WHERE nspname = $1",
                                         {config.schema}));
  if (ns.Rows() == 0)
    return absl::NotFoundError(fmt::format("schema {} does not exist", QuoteIdent(config.schema)));
  ASSIGN_OR_RETURN(
      auto r, conn_->Query(
                  "SELECT c.oid, c.relkind, c.relreplident, pg_get_userbyid(c.relowner), "
                  "c.reltuples, c.relispartition, "
                  "EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid OR inhparent = c.oid), "
                  "pg_table_size(c.oid), c.relpersistence "
                  "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE n.nspname = $1 AND c.relname = $2",
                  {config.schema, config.table}));
  std::string qualified = QualifiedName(config.schema, config.table);
  if (r.Rows() == 0) return absl::NotFoundError(fmt::format("table {} does not exist", qualified));
  char kind = r.Get(0, 1)[0];
  switch (kind) {
    case 'r': break;
    case 'p': return Precondition(fmt::format("{} is a partitioned table; not supported", qualified));
    case 'v': return Precondition(fmt::format("{} is a view, not a table", qualified));
    case 'm': return Precondition(fmt::format("{} is a materialized view, not a table", qualified));
    case 'f': return Precondition(fmt::format("{} is a foreign table; not supported", qualified));
    default: return Precondition(fmt::format("{} is not an ordinary table", qualified));
  }
  if (r.GetBool(0, 5) && for_backfill)
    return Precondition(fmt::format("{} is a partition; not supported", qualified));
  if (r.GetBool(0, 6)) {
    if (for_backfill)
      return Precondition(fmt::format("{} takes part in table inheritance; not supported", qualified));
    RETURN_IF_ERROR(CheckTree(conn_, static_cast<uint32_t>(r.GetInt(0, 0)), qualified));
  }
  if (r.Get(0, 8) == "u" && !for_backfill)
    return Precondition(fmt::format(
        "{} is UNLOGGED: its changes are not in the WAL, so they cannot be replayed online", qualified));
  if (r.Get(0, 8) == "t") return Precondition(fmt::format("{} is a temporary table", qualified));
  out->oid = static_cast<uint32_t>(r.GetInt(0, 0));
  out->replica_identity = r.Get(0, 2)[0];
  out->owner = r.GetString(0, 3);
  out->estimated_rows = std::max(0.0, std::stod(r.GetString(0, 4)));
  out->table_bytes = r.GetInt(0, 7);
  out->names = NamesFor(config.schema, config.table, out->oid, OldSuffixAt(absl::Now()));
  return absl::OkStatus();
}

absl::Status Inspector::LoadColumnsAndKey(Inspection* out) {
  RETURN_IF_ERROR(LoadColumns(out));
  return ChooseKey(out);
}

absl::Status Inspector::LoadColumns(Inspection* out) {
  ASSIGN_OR_RETURN(auto cols, conn_->Query(
                                  "SELECT attnum, attname, format_type(atttypid, atttypmod), "
                                  "atttypid, attnotnull, attgenerated <> '', attidentity "
                                  "FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 "
                                  "AND NOT attisdropped ORDER BY attnum",
                                  {std::to_string(out->oid)}));
  for (int i = 0; i < cols.Rows(); ++i) {
    ColumnInfo c;
    c.attnum = static_cast<int>(cols.GetInt(i, 0));
    c.name = cols.GetString(i, 1);
    c.type = cols.GetString(i, 2);
    c.type_oid = static_cast<uint32_t>(cols.GetInt(i, 3));
    c.not_null = cols.GetBool(i, 4);
    c.generated = cols.GetBool(i, 5);
    c.identity = cols.Get(i, 6).empty() ? 0 : cols.Get(i, 6)[0];
    out->columns.push_back(std::move(c));
  }
  return absl::OkStatus();
}

// A backfill walks the table in key order and needs no replication: any
// unique index over NOT NULL plain columns will do, the primary key first.
absl::Status Inspector::ChooseBackfillKey(Inspection* out) {
  ASSIGN_OR_RETURN(auto r, conn_->Query(
      "SELECT c.relname, "
      "(SELECT array_agg(a.attname ORDER BY k.ord)::text[] FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, ord) "
      " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) "
      "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
      "WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indimmediate "
      "AND i.indpred IS NULL AND i.indexprs IS NULL AND 0 <> ALL (i.indkey) "
      "AND (SELECT bool_and(a.attnotnull) FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) k(attnum) "
      "     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) "
      "ORDER BY i.indisprimary DESC, i.indisreplident DESC, i.indnkeyatts, c.relname LIMIT 1",
      {std::to_string(out->oid)}));
  if (r.Rows() == 0)
    return Precondition(fmt::format(
        "{} has no usable key: a backfill walks the table by its primary key or a unique index over NOT NULL "
        "columns", QualifiedName(out->names.schema, out->names.table)));
  out->key_index = r.GetString(0, 0);
  ASSIGN_OR_RETURN(auto names, conn_->Query("SELECT unnest($1::text[])", {r.GetString(0, 1)}));
  for (int i = 0; i < names.Rows(); ++i) out->key_names.push_back(names.GetString(i, 0));
  return absl::OkStatus();
}

// The key to copy and replay by. Replay needs the key of every deleted or
// updated row, and pgoutput sends the replica identity's columns: so the key
// is the replica identity index (USING INDEX), else the primary key
// (DEFAULT). With FULL the whole old row is sent and any unique index on NOT
// NULL columns will do (as pg_repack accepts).
absl::Status Inspector::ChooseKey(Inspection* out) {
  std::string qualified = QualifiedName(out->names.schema, out->names.table);
  if (out->replica_identity == 'n')
    return Precondition(fmt::format(
        "{} has REPLICA IDENTITY NOTHING; its updates and deletes cannot be replicated", qualified));
  ASSIGN_OR_RETURN(auto r, conn_->Query(
      "SELECT c.relname, i.indisprimary, i.indisreplident, "
      "(SELECT array_agg(a.attname ORDER BY k.ord)::text[] FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, ord) "
      " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum), "
      "(SELECT bool_and(a.attnotnull) FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) k(attnum) "
      " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) "
      "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
      "WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indimmediate "
      "AND i.indpred IS NULL AND i.indexprs IS NULL AND 0 <> ALL (i.indkey) "
      "ORDER BY i.indisreplident DESC, i.indisprimary DESC, i.indnkeyatts, c.relname",
      {std::to_string(out->oid)}));
  int chosen = -1;
  for (int i = 0; i < r.Rows() && chosen < 0; ++i) {
    bool ok = out->replica_identity == 'i' ? r.GetBool(i, 2)
              : out->replica_identity == 'd' ? r.GetBool(i, 1)
                                               : r.GetBool(i, 4);
    if (ok) chosen = i;
  }
  if (chosen < 0 && out->replica_identity == 'd') {
    // No primary key: a unique index over NOT NULL columns will do (as with
    // pg_repack). Its updates and deletes must name the key in the WAL, so the
    // run sets REPLICA IDENTITY USING INDEX for its duration (a published
    // table without a replica identity would make the application's UPDATEs
    // fail) and puts DEFAULT back afterwards.
    for (int i = 0; i < r.Rows() && chosen < 0; ++i)
      if (r.GetBool(i, 4)) chosen = i;
    if (chosen >= 0) {
      out->set_replica_identity = true;
      out->warnings.push_back(fmt::format(
          "no primary key: the run sets REPLICA IDENTITY USING INDEX {} on the table (a brief lock) and "
          "puts DEFAULT back afterwards", QuoteIdent(r.GetString(chosen, 0))));
    }
  }
  if (chosen < 0) {
    if (out->replica_identity == 'd')
      return Precondition(fmt::format(
          "{} has no primary key; add one, or set REPLICA IDENTITY USING INDEX on a unique index "
          "over NOT NULL columns (a key is needed to copy and replay by)", qualified));
    return Precondition(fmt::format("{} has no usable key (a unique index over NOT NULL columns)", qualified));
  }
  out->key_index = r.GetString(chosen, 0);
  std::string arr(r.Get(chosen, 3));  // {a,b} text[] output
  ASSIGN_OR_RETURN(auto names, conn_->Query("SELECT unnest($1::text[])", {arr}));
  for (int i = 0; i < names.Rows(); ++i) out->key_names.push_back(names.GetString(i, 0));
  return absl::OkStatus();
}

absl::Status Inspector::CheckServer(Inspection* out) {
  ASSIGN_OR_RETURN(auto r, conn_->Exec(
                               "SELECT current_setting('wal_level'), "
                               "current_setting('max_replication_slots')::int - "
                               "(SELECT count(*) FROM pg_replication_slots), "
                               "current_setting('max_wal_senders')::int - "
                               "(SELECT count(*) FROM pg_stat_replication), "
                               "current_setting('server_version')"));
  if (r.Get(0, 0) != "logical")
    return Precondition(fmt::format(
        "wal_level is '{}'; logical replication needs wal_level = logical (set it and restart "
        "PostgreSQL)",
        r.Get(0, 0)));
  if (r.GetInt(0, 1) < 1)
    return Precondition("no free replication slot (raise max_replication_slots)");
  if (r.GetInt(0, 2) < 1) return Precondition("no free WAL sender (raise max_wal_senders)");
  out->server_version = r.GetString(0, 3);
  return absl::OkStatus();
}

absl::Status Inspector::CheckPrivileges(const Inspection& in) {
  ASSIGN_OR_RETURN(auto r, conn_->Query(
                               "SELECT r.rolsuper, r.rolreplication, "
                               "pg_has_role(current_user, c.relowner, 'USAGE'), "
                               "has_schema_privilege(current_user, c.relnamespace, 'CREATE'), "
                               "has_database_privilege(current_database(), 'CREATE'), current_user "
                               "FROM pg_roles r, pg_class c WHERE r.rolname = current_user "
                               "AND c.oid = $1",
                               {std::to_string(in.oid)}));
  if (r.Rows() != 1) return absl::InternalError("cannot read the current role");
  bool super = r.GetBool(0, 0);
  std::string who = r.GetString(0, 5);
  if (!super && !r.GetBool(0, 1))
    return absl::PermissionDeniedError(fmt::format(
        "role {} needs the REPLICATION attribute (or superuser) to create a replication slot", who));
  if (!super && !r.GetBool(0, 2))
    return absl::PermissionDeniedError(
        fmt::format("role {} does not own {} (needed to rename and replace it)", who,
                    QualifiedName(in.names.schema, in.names.table)));
  if (!super && !r.GetBool(0, 3))
    return absl::PermissionDeniedError(fmt::format(
        "role {} has no CREATE privilege on schema {}", who, QuoteIdent(in.names.schema)));
  if (!super && !r.GetBool(0, 4))
    return absl::PermissionDeniedError(fmt::format(
        "role {} has no CREATE privilege on the database (needed for a publication)", who));
  return absl::OkStatus();
}

absl::Status Inspector::CheckUnsupported(const Inspection& in) {
  // Objects the swap cannot carry over: refuse up front rather than leave the
  // application with a table that silently lost them.
  ASSIGN_OR_RETURN(
      auto r, conn_->Query(
                  "WITH RECURSIVE deps(oid) AS ("
                  "  SELECT r.ev_class FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
                  "  WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1 AND r.ev_class <> $1 "
                  "  UNION SELECT r.ev_class FROM deps JOIN pg_depend d ON d.refobjid = deps.oid "
                  "  AND d.classid = 'pg_rewrite'::regclass JOIN pg_rewrite r ON r.oid = d.objid "
                  "  WHERE r.ev_class <> deps.oid) "
                  "SELECT 'a dependent materialized view ' || c.oid::regclass::text || "
                  "' (it would need a full refresh at the swap)' "
                  "FROM deps JOIN pg_class c ON c.oid = deps.oid WHERE c.relkind = 'm' "
                  "UNION ALL SELECT 'a rule ' || quote_ident(rulename) FROM pg_rewrite "
                  "WHERE ev_class = $1 AND rulename <> '_RETURN' "
                  "UNION ALL SELECT 'a dependent object using its row type: ' || "
                  "pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend d "
                  "JOIN pg_class c ON c.oid = $1 WHERE d.refclassid = 'pg_type'::regclass "
                  "AND d.refobjid = c.reltype AND d.deptype = 'n' "
                  "UNION ALL SELECT 'a dependent function ' || pg_describe_object(d.classid, d.objid, 0) "
                  "FROM pg_depend d WHERE d.refobjid = $1 AND d.classid = 'pg_proc'::regclass",
                  {std::to_string(in.oid)}));
  if (r.Rows() == 0) return absl::OkStatus();
  return Precondition(fmt::format("{} has {}, which the swap cannot carry over",
                                  QualifiedName(in.names.schema, in.names.table), r.Get(0, 0)));
}

absl::Status Inspector::CheckNoLeftovers(const Inspection& in) {
  const auto& n = in.names;
  LeftoverFacts f;
  f.schema = n.schema;
  f.table = n.table;
  f.old_table = n.old_table;
  ASSIGN_OR_RETURN(
      auto r, conn_->Query(
                  "SELECT 'replication slot ' || slot_name FROM pg_replication_slots "
                  "WHERE slot_name = $1 "
                  "UNION ALL SELECT 'publication ' || pubname FROM pg_publication WHERE pubname = $2 "
                  "UNION ALL SELECT 'table ' || c.oid::regclass::text FROM pg_class c "
                  "JOIN pg_namespace s ON s.oid = c.relnamespace "
                  "WHERE s.nspname = $3 AND c.relname = $4",
                  {n.slot, n.publication, n.schema, n.shadow}));
  for (int i = 0; i < r.Rows(); ++i) f.objects.push_back(r.GetString(i, 0));
  ASSIGN_OR_RETURN(auto old,
                   conn_->Query("SELECT to_regclass($1) IS NOT NULL", {QualifiedName(n.schema, n.old_table)}));
  f.old_table_exists = old.GetBool(0, 0);
  // The run's record, by name: after a swap the table has another oid than
  // the one its slot and publication are named after.
  ASSIGN_OR_RETURN(auto st, conn_->Exec("SELECT to_regclass('shadowcopy.runs') IS NOT NULL"));
  if (st.GetBool(0, 0)) {
    ASSIGN_OR_RETURN(auto run, conn_->Query("SELECT run_id, table_oid = $3::oid, phase = 'swapped' FROM "
                                            "shadowcopy.runs WHERE schema_name = $1 AND table_name = $2 AND "
                                            "finished_at IS NULL ORDER BY started_at DESC LIMIT 1",
                                            {n.schema, n.table, std::to_string(in.oid)}));
    if (run.Rows() > 0) {
      f.run_id = run.GetString(0, 0);
      f.run_resumable = run.GetBool(0, 1);
      f.run_swapped = run.GetBool(0, 2);
    }
  }
  std::string refusal = LeftoverRefusal(f);
  return refusal.empty() ? absl::OkStatus() : Precondition(std::move(refusal));
}

}  // namespace shadowcopy::engine
