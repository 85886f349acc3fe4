#include "engine/rewrite/shadow_builder.h"

#include <algorithm>

#include "common/quote.h"
#include "common/status.h"
#include "engine/rewrite/index_definition.h"
#include "engine/rewrite/using_probe.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

absl::StatusOr<ShadowPlan> ShadowBuilder::Build(const Inspection& in) {
  ShadowPlan plan;
  plan.model.oid = in.oid;
  plan.model.names = in.names;
  plan.model.source_columns = in.columns;
  plan.model.estimated_rows = in.estimated_rows;
  plan.model.replica_identity = in.replica_identity;
  plan.model.owner = in.owner;
  if (!config_.alter.empty()) {  // before anything is created
    RETURN_IF_ERROR(ValidateAlterText(config_.alter));
    std::vector<MappedColumn> columns(in.columns.size());
    for (size_t i = 0; i < in.columns.size(); ++i) {
      columns[i].source_name = in.columns[i].name;
      columns[i].kept = !in.columns[i].generated;
    }
    RETURN_IF_ERROR(AttachUsingExpressions(config_.alter, in.names.table, in.key_names, &columns));
  }
  RETURN_IF_ERROR(CreateLike(in, &plan));
  RETURN_IF_ERROR(ApplyAlter(in, &plan));
  RETURN_IF_ERROR(MapColumns(in, &plan));
  RETURN_IF_ERROR(ProbeUsingExpressions(conn_, plan.model));
  RETURN_IF_ERROR(CheckKey(in, &plan, /*find_index=*/true));
  RETURN_IF_ERROR(DeferIndexes(&plan));
  RETURN_IF_ERROR(DeferUnvalidatedChecks(in, &plan));
  return plan;
}

absl::StatusOr<ShadowPlan> ShadowBuilder::Reattach(const Inspection& in, ShadowPlan plan) {
  plan.model.oid = in.oid;
  plan.model.names = in.names;
  plan.model.source_columns = in.columns;
  plan.model.estimated_rows = in.estimated_rows;
  plan.model.replica_identity = in.replica_identity;
  plan.model.owner = in.owner;
  ASSIGN_OR_RETURN(auto r, conn_->Query("SELECT $1::regclass::oid",
                                        {QualifiedName(in.names.schema, in.names.shadow)}));
  plan.shadow_oid = static_cast<uint32_t>(r.GetInt(0, 0));
  std::string key_index = plan.key_index;
  RETURN_IF_ERROR(MapColumns(in, &plan));
  // A key index built after the copy may not exist yet.
  ASSIGN_OR_RETURN(auto k, conn_->Query("SELECT to_regclass($1) IS NULL",
                                        {QualifiedName(in.names.schema, key_index)}));
  plan.key_index_deferred = k.GetBool(0, 0);
  if (plan.key_index_deferred && plan.deferred_indexes.empty())
    return absl::FailedPreconditionError("the shadow table's key index is missing");
  RETURN_IF_ERROR(CheckKey(in, &plan, /*find_index=*/!plan.key_index_deferred));
  if (plan.key_index != key_index)
    return absl::FailedPreconditionError("the shadow table's key index changed since the run started");
  return plan;
}

namespace {
// The columns of an int2vector of attribute numbers (an index's indkey, a
// statistics object's stxkeys) by name, 0 (an expression) as "0": attribute
// numbers differ between a table with dropped columns and its LIKE copy, the
// names do not (the pairing runs before the ALTER).
std::string ColumnNamesSql(const std::string& keys, const std::string& rel) {
  return fmt::format(
      "coalesce((SELECT string_agg(CASE WHEN k.attnum = 0 THEN '0' ELSE quote_ident(a.attname) END, ',' "
      "ORDER BY k.n) FROM unnest({}::int2[]) WITH ORDINALITY k(attnum, n) LEFT JOIN pg_attribute a "
      "ON a.attrelid = {} AND a.attnum = k.attnum), '')", keys, rel);
}
}  // namespace

// Each index as (name, structural signature, valid), in OID order. LIKE
// creates the shadow's indexes in the original's OID order, so equal
// positions are the same index; the signature (access method, columns by
// name, uniqueness, predicate presence) double-checks it.
absl::StatusOr<std::vector<ShadowBuilder::IndexSignature>> ShadowBuilder::IndexSignatures(uint32_t oid) {
  ASSIGN_OR_RETURN(auto r, conn_->Query(
                               "SELECT c.relname, am.amname || ':' || " +
                                   ColumnNamesSql("i.indkey", "i.indrelid") + " || ':' || "
                               "i.indisunique || ':' || i.indisprimary || ':' || "
                               "(i.indpred IS NOT NULL) || ':' || (i.indexprs IS NOT NULL), i.indisvalid "
                               "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                               "JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = $1 "
                               "ORDER BY i.indexrelid",
                               {std::to_string(oid)}));
  std::vector<IndexSignature> out;
  for (int i = 0; i < r.Rows(); ++i) out.push_back({r.GetString(i, 0), r.GetString(i, 1), r.GetBool(i, 2)});
  return out;
}

absl::Status ShadowBuilder::CreateLike(const Inspection& in, ShadowPlan* plan) {
  const auto& n = in.names;
  std::string orig = QualifiedName(n.schema, n.table);
  std::string shadow = QualifiedName(n.schema, n.shadow);
  ASSIGN_OR_RETURN(auto ts, conn_->Query(
      "SELECT coalesce((SELECT spcname FROM pg_tablespace WHERE oid = reltablespace), '') "
      "FROM pg_class WHERE oid = $1", {std::to_string(in.oid)}));
  std::string tablespace = ts.Get(0, 0).empty() ? "" : " TABLESPACE " + QuoteIdent(ts.Get(0, 0));
  RETURN_IF_ERROR(Annotate(
      conn_->Exec(fmt::format("CREATE TABLE {} (LIKE {} INCLUDING ALL){}", shadow, orig, tablespace)).status(),
      "creating the shadow table"));
  ASSIGN_OR_RETURN(auto r, conn_->Query("SELECT $1::regclass::oid", {shadow}));
  plan->shadow_oid = static_cast<uint32_t>(r.GetInt(0, 0));
  RETURN_IF_ERROR(CopyTableSettings(in));
  return PairIndexesAndStatistics(in, plan);
}

// What LIKE ... INCLUDING ALL does not copy but the shadow needs before the
// ALTER (column names are still the original's): owner, reloptions (heap and
// TOAST), per-column statistics targets and attribute options.
absl::Status ShadowBuilder::CopyTableSettings(const Inspection& in) {
  std::string shadow = QualifiedName(in.names.schema, in.names.shadow);
  ASSIGN_OR_RETURN(auto r, conn_->Query(
      "SELECT array_to_string(o.reloptions, ', '), "
      "(SELECT string_agg('toast.' || x, ', ') FROM pg_class t, unnest(t.reloptions) x "
      " WHERE t.oid = o.reltoastrelid), pg_get_userbyid(o.relowner) <> current_user "
      "FROM pg_class o WHERE o.oid = $1", {std::to_string(in.oid)}));
  for (int col : {0, 1})
    if (!r.IsNull(0, col) && !r.Get(0, col).empty())
      RETURN_IF_ERROR(conn_->Exec(fmt::format("ALTER TABLE {} SET ({})", shadow, r.Get(0, col))).status());
  if (r.GetBool(0, 2))
    RETURN_IF_ERROR(conn_->Exec(fmt::format("ALTER TABLE {} OWNER TO {}", shadow, QuoteIdent(in.owner))).status());
  ASSIGN_OR_RETURN(auto cols, conn_->Query(
      "SELECT attname, attstattarget, array_to_string(attoptions, ', ') FROM pg_attribute "
      "WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped "
      "AND (attstattarget >= 0 OR attoptions IS NOT NULL)", {std::to_string(in.oid)}));
  for (int i = 0; i < cols.Rows(); ++i) {
    std::string col = QuoteIdent(cols.Get(i, 0));
    if (cols.GetInt(i, 1) >= 0)
      RETURN_IF_ERROR(conn_->Exec(fmt::format("ALTER TABLE {} ALTER COLUMN {} SET STATISTICS {}", shadow,
                                              col, cols.GetInt(i, 1))).status());
    if (!cols.IsNull(i, 2) && !cols.Get(i, 2).empty())
      RETURN_IF_ERROR(conn_->Exec(fmt::format("ALTER TABLE {} ALTER COLUMN {} SET ({})", shadow, col,
                                              cols.Get(i, 2))).status());
  }
  // Identity sequences: LIKE makes new ones with the original's options
  // spelled out; give them the original's data type too, so they are the same
  // sequence definition (pg_dump shows no difference).
  ASSIGN_OR_RETURN(auto ids, conn_->Query(
      "SELECT pg_get_serial_sequence($1, a.attname), format_type(sq.seqtypid, NULL) "
      "FROM pg_attribute a JOIN pg_sequence sq "
      "ON sq.seqrelid = pg_get_serial_sequence($2, a.attname)::regclass "
      "WHERE a.attrelid = $3 AND a.attidentity <> '' AND NOT a.attisdropped",
      {shadow, QualifiedName(in.names.schema, in.names.table), std::to_string(in.oid)}));
  for (int i = 0; i < ids.Rows(); ++i)
    if (!ids.IsNull(i, 0))
      RETURN_IF_ERROR(conn_->Exec(fmt::format("ALTER SEQUENCE {} AS {}", ids.Get(i, 0), ids.Get(i, 1))).status());
  // No autovacuum on the shadow while it is ours: an auto-analyze after the
  // copy would hold a lock the swap's rename must wait for (the swap runs
  // while writers are blocked). We ANALYZE it ourselves before the cutover;
  // the swap restores the original's settings.
  return conn_->Exec(fmt::format(
      "ALTER TABLE {} SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)", shadow)).status();
}

absl::Status ShadowBuilder::PairIndexesAndStatistics(const Inspection& in, ShadowPlan* plan) {
  ASSIGN_OR_RETURN(auto orig_idx, IndexSignatures(in.oid));
  ASSIGN_OR_RETURN(auto shadow_idx, IndexSignatures(plan->shadow_oid));
  if (orig_idx.size() != shadow_idx.size())
    return absl::InternalError("the shadow's indexes do not match the original's");
  for (size_t i = 0; i < orig_idx.size(); ++i) {
    if (orig_idx[i].signature != shadow_idx[i].signature)
      return absl::InternalError("cannot match the shadow's indexes with the original's");
    if (!orig_idx[i].valid) {
      // An INVALID index (a failed CREATE INDEX CONCURRENTLY) enforces and
      // serves nothing; LIKE made a valid copy, which would start enforcing
      // it (or fail the build after the whole copy). Leave it out, as the
      // old table behaves.
      RETURN_IF_ERROR(conn_->Exec(fmt::format("DROP INDEX {}", QualifiedName(in.names.schema,
                                                                              shadow_idx[i].name))).status());
      like_index_pairs_.emplace_back(orig_idx[i].name, "");  // the old one's name is freed at the swap
      plan->warnings.push_back(fmt::format(
          "index {} is INVALID (a failed CREATE INDEX CONCURRENTLY?): it is left out of the new table; "
          "create it again afterwards if it is wanted", QuoteIdent(orig_idx[i].name)));
      continue;
    }
    like_index_pairs_.emplace_back(orig_idx[i].name, shadow_idx[i].name);
  }
  // Statistics targets of index columns (ALTER INDEX ... ALTER COLUMN n SET
  // STATISTICS), which LIKE does not copy.
  ASSIGN_OR_RETURN(auto targets, conn_->Query(
      "SELECT c.relname, a.attnum, a.attstattarget FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
      "JOIN pg_attribute a ON a.attrelid = i.indexrelid WHERE i.indrelid = $1 AND a.attstattarget >= 0",
      {std::to_string(in.oid)}));
  for (int i = 0; i < targets.Rows(); ++i)
    for (const auto& [orig, sh] : like_index_pairs_)
      if (orig == targets.Get(i, 0) && !sh.empty())
        RETURN_IF_ERROR(conn_->Exec(fmt::format("ALTER INDEX {} ALTER COLUMN {} SET STATISTICS {}",
                                                QualifiedName(in.names.schema, sh), targets.GetInt(i, 1),
                                                targets.GetInt(i, 2))).status());
  // Extended statistics: LIKE copies them in the original's oid order too.
  const std::string kStats =
      "SELECT n.nspname, s.stxname, " + ColumnNamesSql("s.stxkeys", "s.stxrelid") +
      " || ':' || (s.stxexprs IS NOT NULL) || ':' || s.stxkind::text, s.stxstattarget "
      "FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace "
      "WHERE s.stxrelid = $1 ORDER BY s.oid";
  ASSIGN_OR_RETURN(auto so, conn_->Query(kStats, {std::to_string(in.oid)}));
  ASSIGN_OR_RETURN(auto ss, conn_->Query(kStats, {std::to_string(plan->shadow_oid)}));
  if (so.Rows() != ss.Rows()) return absl::InternalError("the shadow's statistics do not match the original's");
  for (int i = 0; i < so.Rows(); ++i) {
    if (so.Get(i, 2) != ss.Get(i, 2))
      return absl::InternalError("cannot match the shadow's statistics with the original's");
    plan->statistics_names.push_back({so.GetString(i, 0), so.GetString(i, 1), ss.GetString(i, 0), ss.GetString(i, 1)});
    if (so.GetInt(i, 3) >= 0)  // ALTER STATISTICS ... SET STATISTICS, which LIKE does not copy
      RETURN_IF_ERROR(conn_->Exec(fmt::format("ALTER STATISTICS {} SET STATISTICS {}",
                                              QualifiedName(ss.GetString(i, 0), ss.GetString(i, 1)),
                                              so.GetInt(i, 3))).status());
  }
  return absl::OkStatus();
}

absl::Status ShadowBuilder::ApplyAlter(const Inspection& in, ShadowPlan* plan) {
  std::string shadow = QualifiedName(in.names.schema, in.names.shadow);
  ASSIGN_OR_RETURN(auto before, conn_->Query("SELECT relfilenode FROM pg_class WHERE oid = $1",
                                             {std::to_string(plan->shadow_oid)}));
  if (config_.alter.empty()) {
    plan->plain_alter_rewrites = true;  // a rebuild always rewrites
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(ValidateAlterText(config_.alter));
  // One extended-protocol statement: the server refuses a second one.
  ASSIGN_OR_RETURN(std::string alter, AlterTextForShadow(config_.alter, in.names.table, in.names.shadow));
  auto st = conn_->Query(fmt::format("ALTER TABLE {} {}", shadow, alter)).status();
  if (!st.ok()) {
    return absl::InvalidArgumentError(fmt::format("invalid --alter: {}", st.message()));
  }
  ASSIGN_OR_RETURN(auto after, conn_->Query(
                                   "SELECT c.relfilenode, c.relname, n.nspname, c.relkind, c.relpersistence "
                                   "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                   "WHERE c.oid = $1",
                                   {std::to_string(plan->shadow_oid)}));
  if (after.Rows() != 1 || after.Get(0, 1) != in.names.shadow || after.Get(0, 2) != in.names.schema ||
      after.Get(0, 3) != "r")
    return absl::InvalidArgumentError("--alter cannot rename, move or convert the table itself");
  // An unlogged (or temporary) shadow loses its rows in a crash: never copy
  // into one, whatever made it so.
  if (after.Get(0, 4) != "p")
    return absl::InvalidArgumentError("--alter cannot make the table unlogged or temporary");
  plan->plain_alter_rewrites = after.Get(0, 0) != before.Get(0, 0);
  return absl::OkStatus();
}

absl::Status ShadowBuilder::MapColumns(const Inspection& in, ShadowPlan* plan) {
  ASSIGN_OR_RETURN(auto r, conn_->Query(
                               "SELECT attnum, attname, format_type(atttypid, atttypmod), "
                               "attisdropped, attgenerated <> '', attidentity = 'a' FROM pg_attribute "
                               "WHERE attrelid = $1 AND attnum > 0 ORDER BY attnum",
                               {std::to_string(plan->shadow_oid)}));
  auto& m = plan->model;
  int tuple_index = 0;
  for (size_t i = 0; i < in.columns.size(); ++i) {
    const auto& src = in.columns[i];
    // pgoutput does not send stored generated columns, and they are
    // recomputed in the shadow: they take no part in the mapping.
    if (src.generated) continue;
    MappedColumn c;
    c.source_name = src.name;
    c.source_type = src.type;
    c.tuple_index = tuple_index++;
    int row = -1;
    for (int j = 0; j < r.Rows(); ++j)
      if (r.GetInt(j, 0) == static_cast<int64_t>(i + 1)) row = j;
    if (row >= 0 && !r.GetBool(row, 3) && !r.GetBool(row, 4)) {
      c.kept = true;
      c.target_name = r.GetString(row, 1);
      c.target_type = r.GetString(row, 2);
      c.type_changed = c.target_type != c.source_type;
      c.target_identity_always = r.GetBool(row, 5);
    }
    m.columns.push_back(std::move(c));
  }
  if (!config_.alter.empty())
    RETURN_IF_ERROR(AttachUsingExpressions(config_.alter, in.names.table, in.key_names, &m.columns));
  for (const auto& c : m.columns) {
    if (!c.using_expr.empty())
      plan->notes.push_back(fmt::format("column {} is converted USING {}", QuoteIdent(c.source_name), c.using_expr));
    if (c.kept && c.target_name != c.source_name)
      plan->notes.push_back(fmt::format("column {} is renamed to {}", QuoteIdent(c.source_name),
                                        QuoteIdent(c.target_name)));
    if (!c.kept) plan->notes.push_back(fmt::format("column {} is dropped", QuoteIdent(c.source_name)));
  }
  return absl::OkStatus();
}

absl::Status ShadowBuilder::CheckKey(const Inspection& in, ShadowPlan* plan, bool find_index) {
  auto& m = plan->model;
  for (size_t k = 0; k < in.key_names.size(); ++k) {
    for (size_t i = 0; i < m.columns.size(); ++i) {
      if (m.columns[i].source_name != in.key_names[k]) continue;
      if (!m.columns[i].kept)
        return absl::FailedPreconditionError(fmt::format(
            "the ALTER drops key column {}; the online copy needs the same key on both tables",
            QuoteIdent(in.key_names[k])));
      m.columns[i].key_position = static_cast<int>(k);
      m.key_columns.push_back(static_cast<int>(i));
    }
  }
  if (m.key_columns.size() != in.key_names.size())
    return absl::FailedPreconditionError("a key column is generated; not supported");
  if (!find_index) return absl::OkStatus();
  // ON CONFLICT (<key>) needs a unique index on exactly the key's columns in
  // the shadow, present whenever replay runs.
  std::string wanted;
  {
    std::vector<std::string> names;
    for (int idx : m.key_columns) names.push_back(m.columns[idx].target_name);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) wanted += n + '\n';
  }
  ASSIGN_OR_RETURN(auto r, conn_->Query(
      "SELECT c.relname, (SELECT string_agg(a.attname, E'\\n' ORDER BY a.attname COLLATE \"C\") || E'\\n' "
      " FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) k(attnum) JOIN pg_attribute a ON a.attrelid = i.indrelid "
      " AND a.attnum = k.attnum) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
      "WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL "
      "ORDER BY i.indisprimary DESC, c.relname",
      {std::to_string(plan->shadow_oid)}));
  for (int i = 0; i < r.Rows(); ++i)
    if (!r.IsNull(i, 1) && r.Get(i, 1) == wanted) {
      plan->key_index = r.GetString(i, 0);
      return absl::OkStatus();
    }
  return absl::FailedPreconditionError(
      "the ALTER changes or drops the key (" + in.key_index +
      "); the online copy needs the old and the new table to share a unique key");
}

// The definition of row `i` of kIndexDefinitionsSql with its storage
// parameters and tablespace (see index_definition.h).
absl::StatusOr<std::string> ShadowBuilder::WithStorage(const PgResult& r, int i) {
  IndexDefinition d;
  bool constraint = !r.IsNull(i, 2);
  d.definition = constraint ? r.GetString(i, 3) : r.GetString(i, 1);
  if (constraint) {
    d.constraint_type = r.Get(i, 9)[0];
    d.deferrable = r.GetBool(i, 10);
    d.initially_deferred = r.GetBool(i, 11);
  }
  d.options = r.GetOptional(i, 6);
  d.tablespace = r.GetOptional(i, 7);
  d.predicate = r.GetOptional(i, 8);
  return DefinitionWithStorage(d);
}

// Drops the shadow's indexes the query selects (one row each: name,
// definition, constraint name and definition, comments) and appends the
// statements that build them again to `out`.
absl::Status ShadowBuilder::DropAndRecord(const ShadowPlan& plan, const PgResult& r, std::vector<std::string>* out) {
  std::string shadow = QualifiedName(plan.model.names.schema, plan.model.names.shadow);
  for (int i = 0; i < r.Rows(); ++i) {
    std::string index_name = r.GetString(i, 0);
    ASSIGN_OR_RETURN(std::string definition, WithStorage(r, i));
    if (!r.IsNull(i, 2)) {
      out->push_back(fmt::format("ALTER TABLE {} ADD CONSTRAINT {} {}", shadow, QuoteIdent(r.Get(i, 2)), definition));
      RETURN_IF_ERROR(conn_->Exec(fmt::format("ALTER TABLE {} DROP CONSTRAINT {}", shadow,
                                              QuoteIdent(r.Get(i, 2))))
                          .status());
    } else {
      out->push_back(definition);
      RETURN_IF_ERROR(conn_->Exec(fmt::format("DROP INDEX {}", QualifiedName(plan.model.names.schema, index_name)))
                          .status());
    }
    if (!r.IsNull(i, 12))
      out->push_back(fmt::format("ALTER INDEX {} {}", QualifiedName(plan.model.names.schema, index_name),
                                 r.Get(i, 12)));
    // LIKE copied the comments; the index built after the copy gets them again.
    if (!r.IsNull(i, 4))
      out->push_back(fmt::format("COMMENT ON INDEX {} IS {}",
                                 QualifiedName(plan.model.names.schema, index_name), QuoteLiteral(r.Get(i, 4))));
    if (!r.IsNull(i, 5))
      out->push_back(fmt::format("COMMENT ON CONSTRAINT {} ON {} IS {}", QuoteIdent(r.Get(i, 2)), shadow,
                                 QuoteLiteral(r.Get(i, 5))));
  }
  return absl::OkStatus();
}

namespace {
constexpr const char* kIndexDefinitionsSql =
    "SELECT c.relname, pg_get_indexdef(i.indexrelid), con.conname, "
    "pg_get_constraintdef(con.oid), obj_description(i.indexrelid, 'pg_class'), "
    "obj_description(con.oid, 'pg_constraint'), "
    "(SELECT string_agg(split_part(o, '=', 1) || '=' || quote_literal(substr(o, strpos(o, '=') + 1)), ', ') "
    " FROM unnest(c.reloptions) o), "
    "(SELECT quote_ident(spcname) FROM pg_tablespace WHERE oid = c.reltablespace), "
    "pg_get_expr(i.indpred, i.indrelid), con.contype, con.condeferrable, con.condeferred, "
    "(SELECT string_agg(format('ALTER COLUMN %s SET STATISTICS %s', a.attnum, a.attstattarget), ', ' "
    " ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0) "
    "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid "
    "AND con.conrelid = i.indrelid AND con.contype IN ('u', 'x', 'p') "
    "WHERE i.indrelid = $1 AND (c.relname = $2) = $3 ORDER BY i.indexrelid";
}  // namespace

absl::Status ShadowBuilder::DeferKeyIndex(ShadowPlan* plan) {
  ASSIGN_OR_RETURN(auto r, conn_->Query(kIndexDefinitionsSql,
                                        {std::to_string(plan->shadow_oid), plan->key_index, "true"}));
  if (r.Rows() != 1) return absl::InternalError("the shadow table's key index is missing");
  std::vector<std::string> key;
  RETURN_IF_ERROR(DropAndRecord(*plan, r, &key));
  plan->deferred_indexes.insert(plan->deferred_indexes.begin(), key.begin(), key.end());
  plan->key_index_deferred = true;
  return absl::OkStatus();
}

absl::Status ShadowBuilder::DeferIndexes(ShadowPlan* plan) {
  ASSIGN_OR_RETURN(auto r, conn_->Query(kIndexDefinitionsSql,
                                        {std::to_string(plan->shadow_oid), plan->key_index, "false"}));
  RETURN_IF_ERROR(DropAndRecord(*plan, r, &plan->deferred_indexes));
  // Index names after the ALTER: keep the pairs whose shadow index survived
  // (the ALTER may drop one with its column; a retyped column's index is
  // rebuilt under the same name).
  ASSIGN_OR_RETURN(auto alive, conn_->Query(
                                   "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                   "WHERE i.indrelid = $1",
                                   {std::to_string(plan->shadow_oid)}));
  std::vector<std::string> names;
  for (int i = 0; i < alive.Rows(); ++i) names.push_back(alive.GetString(i, 0));
  for (int i = 0; i < r.Rows(); ++i) names.push_back(r.GetString(i, 0));
  // An index or statistics object the ALTER dropped (or an INVALID index
  // left out) keeps a pair with no shadow name: the swap only moves the old
  // one out of the way, so its name is free as after a plain ALTER TABLE.
  for (const auto& [orig, sh] : like_index_pairs_)
    plan->index_names.emplace_back(orig, std::find(names.begin(), names.end(), sh) != names.end() ? sh : "");
  ASSIGN_OR_RETURN(auto stats, conn_->Query(
                                   "SELECT n.nspname, s.stxname FROM pg_statistic_ext s "
                                   "JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE s.stxrelid = $1",
                                   {std::to_string(plan->shadow_oid)}));
  for (auto& s : plan->statistics_names) {
    bool alive_stat = false;
    for (int i = 0; i < stats.Rows(); ++i)
      alive_stat = alive_stat || (stats.Get(i, 0) == s.shadow_schema && stats.Get(i, 1) == s.shadow_name);
    if (!alive_stat) s.shadow_name.clear();
  }
  return absl::OkStatus();
}

// A CHECK constraint the original has NOT VALID holds for new rows only: LIKE
// copies it as a validated one, which rows of the original may violate. It is
// dropped from the shadow and added again NOT VALID after the copy (the
// application's rows replayed from then on satisfy it, as the original
// checked them).
absl::Status ShadowBuilder::DeferUnvalidatedChecks(const Inspection& in, ShadowPlan* plan) {
  ASSIGN_OR_RETURN(auto r, conn_->Query(
      "SELECT s.conname, pg_get_constraintdef(s.oid), obj_description(s.oid, 'pg_constraint') "
      "FROM pg_constraint o JOIN pg_constraint s ON s.conrelid = $2 AND s.contype = 'c' AND s.conname = o.conname "
      "WHERE o.conrelid = $1 AND o.contype = 'c' AND NOT o.convalidated ORDER BY o.oid",
      {std::to_string(in.oid), std::to_string(plan->shadow_oid)}));
  std::string shadow = QualifiedName(in.names.schema, in.names.shadow);
  for (int i = 0; i < r.Rows(); ++i) {
    std::string name = QuoteIdent(r.Get(i, 0));
    RETURN_IF_ERROR(conn_->Exec(fmt::format("ALTER TABLE {} DROP CONSTRAINT {}", shadow, name)).status());
    plan->deferred_indexes.push_back(
        fmt::format("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID", shadow, name, r.Get(i, 1)));
    if (!r.IsNull(i, 2))
      plan->deferred_indexes.push_back(
          fmt::format("COMMENT ON CONSTRAINT {} ON {} IS {}", name, shadow, QuoteLiteral(r.Get(i, 2))));
  }
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
