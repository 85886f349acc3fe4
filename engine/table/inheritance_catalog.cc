// The catalog half of engine/table/inheritance.h: reads the tree, checks it, and
// prepares or checks the shadow, on a borrowed connection.
#include <utility>
#include <vector>

#include "common/quote.h"
#include "common/status.h"
#include "engine/table/inheritance.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

// A partition's columns are exactly its partitioned table's (name, type,
// collation, NOT NULL): ATTACH refuses any difference, as PostgreSQL refuses
// to change a partition's columns on their own. Reads the catalog only (the
// original stays attached, so ATTACH itself cannot be rehearsed here).
absl::Status CheckPartitionColumns(PgConn* conn, uint32_t oid, const InheritanceInfo& info,
                                   const std::string& table, const std::string& shadow) {
  ASSIGN_OR_RETURN(auto r, conn->Query(
      "WITH p AS (SELECT attname, atttypid, atttypmod, attcollation, attnotnull FROM pg_attribute "
      "  WHERE attrelid = (SELECT inhparent FROM pg_inherits WHERE inhrelid = $1) AND attnum > 0 "
      "  AND NOT attisdropped), "
      "s AS (SELECT attname, atttypid, atttypmod, attcollation, attnotnull FROM pg_attribute "
      "  WHERE attrelid = $2::regclass AND attnum > 0 AND NOT attisdropped) "
      "SELECT coalesce(p.attname, s.attname) FROM p FULL JOIN s ON s.attname = p.attname "
      "WHERE p.attname IS NULL OR s.attname IS NULL OR (p.atttypid, p.atttypmod, p.attcollation) "
      "IS DISTINCT FROM (s.atttypid, s.atttypmod, s.attcollation) OR (p.attnotnull AND NOT s.attnotnull) "
      "ORDER BY 1 LIMIT 1", {std::to_string(oid), shadow}));
  if (r.Rows() == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(fmt::format(
      "the ALTER changes column {}, which partition {} shares with {}; a partition's columns cannot change "
      "on their own", QuoteIdent(r.Get(0, 0)), table, info.parents[0].name));
}

// What INHERIT (and ATTACH PARTITION) would find missing in `child` (both
// qualified): the first of `parent`'s columns without a same-named column of
// the same type, typmod and collation (NOT NULL where the parent's is), or
// inheritable CHECK constraints without a same-named one of the same
// definition; "" when none. Reads the catalog only: a rehearsed INHERIT
// would lock the child (ACCESS EXCLUSIVE), and the dry run locks nothing.
absl::StatusOr<std::string> FirstMismatch(PgConn* conn, const std::string& parent, const std::string& child) {
  ASSIGN_OR_RETURN(auto r, conn->Query(
      "SELECT 'column ' || quote_ident(p.attname) FROM pg_attribute p WHERE p.attrelid = $1::regclass "
      "AND p.attnum > 0 AND NOT p.attisdropped AND NOT EXISTS (SELECT 1 FROM pg_attribute c "
      "  WHERE c.attrelid = $2::regclass AND c.attname = p.attname AND NOT c.attisdropped "
      "  AND c.atttypid = p.atttypid AND c.atttypmod = p.atttypmod AND c.attcollation = p.attcollation "
      "  AND (c.attnotnull OR NOT p.attnotnull)) "
      "UNION ALL SELECT 'CHECK constraint ' || quote_ident(p.conname) FROM pg_constraint p "
      "WHERE p.conrelid = $1::regclass AND p.contype = 'c' AND NOT p.connoinherit AND NOT EXISTS ("
      "  SELECT 1 FROM pg_constraint c WHERE c.conrelid = $2::regclass AND c.contype = 'c' "
      "  AND c.conname = p.conname AND pg_get_constraintdef(c.oid) = pg_get_constraintdef(p.oid)) "
      "LIMIT 1", {parent, child}));
  return r.Rows() == 0 ? std::string() : r.GetString(0, 0);
}

}  // namespace

absl::StatusOr<InheritanceInfo> ReadInheritance(PgConn* conn, uint32_t oid) {
  ASSIGN_OR_RETURN(auto r, conn->Query(
      "SELECT i.inhrelid = $1, n.nspname, c.relname, c.relkind "
      "FROM pg_inherits i JOIN pg_class c ON c.oid = CASE WHEN i.inhrelid = $1 THEN i.inhparent "
      "ELSE i.inhrelid END JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE i.inhrelid = $1 OR i.inhparent = $1 "
      "ORDER BY 1 DESC, i.inhseqno, c.oid", {std::to_string(oid)}));
  InheritanceInfo info;
  for (int i = 0; i < r.Rows(); ++i) {
    InheritanceMember m{QualifiedName(r.Get(i, 1), r.Get(i, 2)), r.Get(i, 3).empty() ? '?' : r.Get(i, 3)[0]};
    (r.GetBool(i, 0) ? info.parents : info.children).push_back(std::move(m));
  }
  if (info.IsPartition()) {
    ASSIGN_OR_RETURN(auto b, conn->Query(
        "SELECT pg_get_expr(relpartbound, oid), pg_get_partition_constraintdef(oid) FROM pg_class "
        "WHERE oid = $1", {std::to_string(oid)}));
    info.partition_bound = b.GetString(0, 0);
    // A default partition alone has no constraint (NULL): nothing to prove.
    info.partition_constraint = b.IsNull(0, 1) ? "" : b.GetString(0, 1);
  }
  return info;
}

absl::Status CheckTree(PgConn* conn, uint32_t oid, const std::string& qualified) {
  ASSIGN_OR_RETURN(InheritanceInfo info, ReadInheritance(conn, oid));
  RETURN_IF_ERROR(CheckInheritanceShape(qualified, info));
  if (!info.IsPartition()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto r, conn->Query(
      "SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_partitioned_table pt ON pt.partrelid = i.inhparent "
      "  WHERE i.inhrelid = $1 AND pt.partdefid <> 0 AND pt.partdefid <> $1), "
      "EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' "
      "  AND confrelid IN (SELECT relid FROM pg_partition_ancestors($1))), "
      "EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND conrelid = $1 AND conparentid <> 0)",
      {std::to_string(oid)}));
  return CheckPartitionFacts(qualified, {r.GetBool(0, 0), r.GetBool(0, 1), r.GetBool(0, 2)});
}

absl::StatusOr<InheritanceInfo> ReadTreeForSwap(PgConn* conn, uint32_t oid, const std::string& table) {
  ASSIGN_OR_RETURN(InheritanceInfo info, ReadInheritance(conn, oid));
  if (!info.Empty()) RETURN_IF_ERROR(CheckTree(conn, oid, table));
  return info;
}

absl::StatusOr<std::string> CutoverLockSql(PgConn* conn, uint32_t oid, const std::string& table) {
  ASSIGN_OR_RETURN(InheritanceInfo info, ReadInheritance(conn, oid));
  if (!info.IsPartition()) return fmt::format("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", table);
  return fmt::format("LOCK TABLE ONLY {}, {} IN ACCESS EXCLUSIVE MODE", info.parents[0].name, table);
}

absl::Status AddPartitionBoundCheck(PgConn* conn, uint32_t oid, const std::string& shadow) {
  ASSIGN_OR_RETURN(InheritanceInfo info, ReadInheritance(conn, oid));
  if (!info.IsPartition() || info.partition_constraint.empty()) return absl::OkStatus();
  return Annotate(conn->Exec(fmt::format("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({})", shadow,
                                         QuoteIdent(kPartitionBoundCheck), info.partition_constraint))
                      .status(),
                  "adding the partition bound's CHECK constraint to the shadow");
}

absl::Status CheckShadowFitsInheritance(PgConn* conn, uint32_t oid, const std::string& table,
                                        const std::string& shadow) {
  ASSIGN_OR_RETURN(InheritanceInfo info, ReadInheritance(conn, oid));
  if (info.Empty()) return absl::OkStatus();
  if (info.IsPartition()) RETURN_IF_ERROR(CheckPartitionColumns(conn, oid, info, table, shadow));
  // (parent, child) pairs as they will be after the swap.
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& p : info.parents) pairs.emplace_back(p.name, shadow);
  for (const auto& c : info.children) pairs.emplace_back(shadow, c.name);
  for (const auto& [parent, child] : pairs) {
    ASSIGN_OR_RETURN(std::string what, FirstMismatch(conn, parent, child));
    if (what.empty()) continue;
    if (child == shadow)
      return absl::FailedPreconditionError(fmt::format(
          "after the ALTER the new table would lack {} as its inheritance parent {} has it; an ALTER may not "
          "change what a table shares with its parent", what, parent));
    return absl::FailedPreconditionError(fmt::format(
        "after the ALTER the inheritance child {} would lack {} as the new table has it; an ALTER of a parent "
        "may not change what its children share with it (PostgreSQL refuses it with ALTER TABLE ONLY)",
        child, what));
  }
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
