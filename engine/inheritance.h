// Table inheritance: which shapes a rewrite accepts, and the statements that
// keep the inheritance tree intact across the swap.
//
// A rewrite accepts an inheritance child (its parents are re-pointed to the
// new table) and an inheritance parent (its own rows only; its children are
// left untouched and re-pointed to the new table). The shadow takes no part in
// the tree until the swap: a shadow that inherited from the parent during the
// copy would show its rows through every query on the parent.
//
// Partitions and partitioned tables, a table that is both a parent and a
// child, and trees with non-table members are refused (see README.md).
//
// Thread-safety: stateless functions; the I/O ones use the borrowed
// connection from one thread.
#ifndef SHADOWCOPY_ENGINE_INHERITANCE_H_
#define SHADOWCOPY_ENGINE_INHERITANCE_H_

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
  bool Empty() const { return parents.empty() && children.empty(); }
};

// Reads the direct parents and children of table `oid`.
absl::StatusOr<InheritanceInfo> ReadInheritance(PgConn* conn, uint32_t oid);

// OK when a rewrite of `qualified` (shaped as `info`) is supported;
// FailedPrecondition with a one-line reason otherwise (pure).
absl::Status CheckInheritanceShape(const std::string& qualified, const InheritanceInfo& info);

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

// The statements that make `shadow` (qualified, quoted) take the original's
// place in `info`'s tree (pure): what the swap's `attach` does, addressed to
// the shadow's own name.
std::vector<std::string> BuildInheritanceRehearsal(const InheritanceInfo& info, const std::string& shadow);

// Checks, inside the caller's open transaction and rolled back at once, that
// the shadow (after the ALTER) can take the original's place in its tree:
// PostgreSQL requires a child's columns to match its parents' (name, type,
// collation, NOT NULL) and to carry their CHECK constraints. An ALTER that a
// plain ALTER TABLE would refuse on an inheritance member (a type change of an
// inherited column, a column added to a parent only) fails here with
// FailedPrecondition, before anything is created.
// REQUIRES: a transaction is open on `conn`.
absl::Status CheckShadowFitsInheritance(PgConn* conn, uint32_t oid, const std::string& table,
                                        const std::string& shadow);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_INHERITANCE_H_
