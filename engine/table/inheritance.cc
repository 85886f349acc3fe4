// The pure half of engine/table/inheritance.h: shapes, reasons and statements.
#include "engine/table/inheritance.h"

#include "common/quote.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

absl::Status Refuse(const std::string& qualified, const std::string& why) {
  return absl::FailedPreconditionError(fmt::format("{} {}; not supported", qualified, why));
}

}  // namespace

absl::Status CheckInheritanceShape(const std::string& qualified, const InheritanceInfo& info) {
  // A middle level would be re-pointed both ways in one swap; every member
  // must be a plain table (ALTER TABLE ... [NO] INHERIT on each).
  if (!info.parents.empty() && !info.children.empty())
    return Refuse(qualified, "is both an inheritance parent and an inheritance child");
  if (info.IsPartition()) return absl::OkStatus();
  for (const auto& p : info.parents)
    if (p.relkind != 'r') return Refuse(qualified, fmt::format("inherits from {}, which is not an ordinary table", p.name));
  for (const auto& c : info.children)
    if (c.relkind != 'r')
      return Refuse(qualified, fmt::format("has the inheritance child {}, which is not an ordinary table", c.name));
  return absl::OkStatus();
}

absl::Status CheckPartitionFacts(const std::string& qualified, const PartitionFacts& facts) {
  // ATTACH of a non-default partition scans the default partition, under the
  // lock, for rows the new bound would take.
  if (facts.default_sibling)
    return Refuse(qualified, "is a partition of a table with a default partition (attaching the new table "
                             "would scan the default partition under the lock)");
  // DETACH checks that no referencing row points into the partition; the
  // re-attached table would have to be checked again too.
  if (facts.referenced)
    return Refuse(qualified, "is a partition that a foreign key references, directly or through its partitioned table");
  // ATTACH clones the partitioned table's foreign keys onto the new table and
  // validates them with a scan under the lock.
  if (facts.inherited_foreign_key)
    return Refuse(qualified, "is a partition of a table with foreign keys (attaching the new table would "
                             "validate them with a scan under the lock)");
  return absl::OkStatus();
}

InheritanceSwap BuildInheritanceSwap(const InheritanceInfo& info, const std::string& table) {
  InheritanceSwap out;
  if (info.IsPartition()) {
    // Detached first, so that the new table can take the same bound; its
    // indexes attach to the partitioned table's indexes they match (the
    // shadow has a copy of each), and the partitioned table's row triggers
    // are cloned onto it. The CHECK constraint equal to the partition
    // constraint spares ATTACH its validating scan; then it goes.
    const std::string& parent = info.parents[0].name;
    out.detach.push_back(fmt::format("ALTER TABLE {} DETACH PARTITION {}", parent, table));
    out.attach.push_back(fmt::format("ALTER TABLE {} ATTACH PARTITION {} {}", parent, table, info.partition_bound));
    if (!info.partition_constraint.empty())
      out.attach.push_back(fmt::format("ALTER TABLE {} DROP CONSTRAINT {}", table, QuoteIdent(kPartitionBoundCheck)));
    return out;
  }
  // The old table leaves the tree: queries on a parent would otherwise read
  // its rows twice (the old child's and the new child's), and the children's
  // rows would show through the old parent.
  for (const auto& p : info.parents)
    out.detach.push_back(fmt::format("ALTER TABLE {} NO INHERIT {}", table, p.name));
  for (const auto& c : info.children)
    out.detach.push_back(fmt::format("ALTER TABLE {} NO INHERIT {}", c.name, table));
  out.attach = BuildInheritanceAttach(info, table);
  return out;
}

std::vector<std::string> BuildInheritanceAttach(const InheritanceInfo& info, const std::string& shadow) {
  // INHERIT merges by name: each of the parent's columns must exist in the
  // child with the same type, collation and NOT NULL, and each of its
  // inheritable CHECK constraints with the same name and expression. It reads
  // the catalog only, no rows.
  std::vector<std::string> out;
  for (const auto& p : info.parents) out.push_back(fmt::format("ALTER TABLE {} INHERIT {}", shadow, p.name));
  for (const auto& c : info.children) out.push_back(fmt::format("ALTER TABLE {} INHERIT {}", c.name, shadow));
  return out;
}

}  // namespace shadowcopy::engine
