// Table inheritance and partitions: which shapes a rewrite accepts, and the
// statements that keep the tree intact across the swap.
//
// A rewrite accepts an inheritance child (its parents are re-pointed to the
// new table), an inheritance parent (its own rows only; its children are left
// untouched and re-pointed to the new table) and a leaf partition (the
// original is detached and the new table attached with the same bound). The
// shadow takes no part in the tree until the swap: a shadow that inherited
// from the parent during the copy would show its rows through every query on
// the parent.
//
// Partitioned tables, a table that is both a parent and a child, trees with
// non-table members, and partitions whose swap would scan or fail under the
// lock are refused (see README.md).
//
// Thread-safety: stateless functions; the I/O ones use the borrowed
// connection from one thread.
#ifndef SHADOWCOPY_ENGINE_TABLE_INHERITANCE_H_
#define SHADOWCOPY_ENGINE_TABLE_INHERITANCE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/pg.h"

namespace shadowcopy::engine {

struct InheritanceMember {
  std::string name;   // qualified, quoted
  char relkind = 'r';
};

// The table's place in an inheritance tree.
struct InheritanceInfo {
  std::vector<InheritanceMember> parents;   // inhseqno order
  std::vector<InheritanceMember> children;  // oid order
  // A partition (its one parent has relkind 'p'): its bound, "FOR VALUES
  // ..." or "DEFAULT", and its partition constraint as a boolean expression.
  std::string partition_bound;
  std::string partition_constraint;
  bool Empty() const { return parents.empty() && children.empty(); }
  bool IsPartition() const { return parents.size() == 1 && parents[0].relkind == 'p'; }
};

// What makes a partition's swap impossible or slow under the lock.
struct PartitionFacts {
  bool default_sibling = false;      // the partitioned table has a default partition, not this one
  bool referenced = false;           // a foreign key references the partition or an ancestor
  bool inherited_foreign_key = false;  // the partition has a foreign key cloned from an ancestor
};

// The CHECK constraint the shadow of a partition carries from its creation
// until the swap: equal to the partition constraint, it lets ATTACH PARTITION
// skip its validating scan under the lock.
inline constexpr char kPartitionBoundCheck[] = "shadowcopy_partition_bound";

// Reads the direct parents and children of table `oid`.
absl::StatusOr<InheritanceInfo> ReadInheritance(PgConn* conn, uint32_t oid);

// OK when a rewrite of `qualified` (shaped as `info`) is supported;
// FailedPrecondition with a one-line reason otherwise (pure).
absl::Status CheckInheritanceShape(const std::string& qualified, const InheritanceInfo& info);

// OK when partition `qualified` can be swapped; FailedPrecondition with a
// one-line reason otherwise (pure).
absl::Status CheckPartitionFacts(const std::string& qualified, const PartitionFacts& facts);

// Inspection: refuses the tree shapes a rewrite of `oid` cannot handle
// (CheckInheritanceShape, and CheckPartitionFacts for a partition).
absl::Status CheckTree(PgConn* conn, uint32_t oid, const std::string& qualified);

// Under the cutover lock: the tree as it is now, checked again (a default
// partition, a foreign key or a grandchild may have appeared during the run),
// with the qualified name of table `oid` for the messages.
absl::StatusOr<InheritanceInfo> ReadTreeForSwap(PgConn* conn, uint32_t oid, const std::string& table);

// The cutover's lock statement: ACCESS EXCLUSIVE on the table (and, by
// LOCK TABLE's recursion, on an inheritance parent's children); for a
// partition the partitioned table first (ONLY), in the order an application
// writing through it takes them, since DETACH PARTITION needs it too.
absl::StatusOr<std::string> CutoverLockSql(PgConn* conn, uint32_t oid, const std::string& table);

// For a partition, adds kPartitionBoundCheck to the (still empty) shadow;
// nothing otherwise.
absl::Status AddPartitionBoundCheck(PgConn* conn, uint32_t oid, const std::string& shadow);

struct InheritanceSwap {
  // Before any rename: the original leaves the tree.
  std::vector<std::string> detach;
  // After the renames (`table` then names the new table): it takes the
  // original's place.
  std::vector<std::string> attach;
};

// The swap's inheritance statements for table `table` (qualified, quoted),
// whose shadow is `shadow` (pure). `table` names the original in `detach` and
// the new table in `attach`.
InheritanceSwap BuildInheritanceSwap(const InheritanceInfo& info, const std::string& table);

// The statements that put `table` (qualified, quoted) in the original's
// place in `info`'s inheritance tree (pure): the swap's `attach` for an
// inheritance parent or child.
std::vector<std::string> BuildInheritanceAttach(const InheritanceInfo& info, const std::string& table);

// Checks from the catalog that the shadow (after the ALTER) can take the
// original's place in its tree: INHERIT and ATTACH PARTITION require a
// child's columns to match its parents' (name, type, collation, NOT NULL; a
// partition's exactly) and to carry their inheritable CHECK constraints. An
// ALTER that a plain ALTER TABLE would refuse on a member of the tree (a type
// change of an inherited column, a column added to a parent only) fails here
// with FailedPrecondition, before anything is created. Takes no lock beyond
// reading the catalog.
absl::Status CheckShadowFitsInheritance(PgConn* conn, uint32_t oid, const std::string& table,
                                        const std::string& shadow);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_TABLE_INHERITANCE_H_
