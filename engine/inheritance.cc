#include "engine/inheritance.h"

#include "common/quote.h"
#include "common/retry.h"
#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

absl::Status Refuse(const std::string& qualified, const std::string& why) {
  return absl::FailedPreconditionError(fmt::format("{} {}; not supported", qualified, why));
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
  return info;
}

absl::Status CheckInheritanceShape(const std::string& qualified, const InheritanceInfo& info) {
  // A middle level would be re-pointed both ways in one swap; every member
  // must be a plain table (ALTER TABLE ... [NO] INHERIT on each).
  if (!info.parents.empty() && !info.children.empty())
    return Refuse(qualified, "is both an inheritance parent and an inheritance child");
  for (const auto& p : info.parents) {
    if (p.relkind == 'p') return Refuse(qualified, "is a partition");
    if (p.relkind != 'r') return Refuse(qualified, fmt::format("inherits from {}, which is not an ordinary table", p.name));
  }
  for (const auto& c : info.children)
    if (c.relkind != 'r')
      return Refuse(qualified, fmt::format("has the inheritance child {}, which is not an ordinary table", c.name));
  return absl::OkStatus();
}

InheritanceSwap BuildInheritanceSwap(const InheritanceInfo& info, const std::string& table) {
  InheritanceSwap out;
  // The old table leaves the tree: queries on a parent would otherwise read
  // its rows twice (the old child's and the new child's), and the children's
  // rows would show through the old parent.
  for (const auto& p : info.parents)
    out.detach.push_back(fmt::format("ALTER TABLE {} NO INHERIT {}", table, p.name));
  for (const auto& c : info.children)
    out.detach.push_back(fmt::format("ALTER TABLE {} NO INHERIT {}", c.name, table));
  out.attach = BuildInheritanceRehearsal(info, table);
  return out;
}

std::vector<std::string> BuildInheritanceRehearsal(const InheritanceInfo& info, const std::string& shadow) {
  // INHERIT merges by name: each of the parent's columns must exist in the
  // child with the same type, collation and NOT NULL, and each of its
  // inheritable CHECK constraints with the same name and expression. It reads
  // the catalog only, no rows.
  std::vector<std::string> out;
  for (const auto& p : info.parents) out.push_back(fmt::format("ALTER TABLE {} INHERIT {}", shadow, p.name));
  for (const auto& c : info.children) out.push_back(fmt::format("ALTER TABLE {} INHERIT {}", c.name, shadow));
  return out;
}

absl::Status CheckShadowFitsInheritance(PgConn* conn, uint32_t oid, const std::string& table,
                                        const std::string& shadow) {
  ASSIGN_OR_RETURN(InheritanceInfo info, ReadInheritance(conn, oid));
  if (info.Empty()) return absl::OkStatus();
  RETURN_IF_ERROR(conn->Exec("SAVEPOINT shadowcopy_inheritance").status());
  absl::Status st;
  for (const auto& stmt : BuildInheritanceRehearsal(info, shadow)) {
    st = conn->Exec(stmt).status();
    if (!st.ok()) break;
  }
  RETURN_IF_ERROR(conn->Exec("ROLLBACK TO SAVEPOINT shadowcopy_inheritance").status());
  RETURN_IF_ERROR(conn->Exec("RELEASE SAVEPOINT shadowcopy_inheritance").status());
  if (st.ok() || IsRetryable(st)) return st;
  return absl::FailedPreconditionError(fmt::format(
      "the new table could not take {}'s place in its inheritance tree ({}); an ALTER may not change "
      "the columns or CHECK constraints an inheritance parent and its children share",
      table, st.message()));
}

}  // namespace shadowcopy::engine
