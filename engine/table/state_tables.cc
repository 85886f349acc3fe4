#include "engine/table/state_tables.h"

#include <optional>

#include "common/status.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

absl::Status CreateStateTables(PgConn* conn, std::string_view ddl) {
  if (conn->InTransaction())
    return absl::InternalError("the state tables are created outside a transaction");
  // Two runs starting at once on a database without the state schema would
  // both try to create it, and one would fail on pg_namespace's unique
  // index. A session-level advisory lock serializes them, and the DDL runs
  // in a transaction that starts after the lock is granted: only a new
  // transaction is sure to see (through its catalog caches) a schema that
  // the other run committed while we waited.
  RETURN_IF_ERROR(conn->Exec(fmt::format("SELECT pg_advisory_lock({})", kStateSchemaLockKey)).status());
  absl::Status st = conn->Exec(ddl).status();
  auto unlocked = conn->Exec(fmt::format("SELECT pg_advisory_unlock({})", kStateSchemaLockKey));
  if (st.ok() && !unlocked.ok()) st = unlocked.status();
  return st;
}

std::string TextArrayOf(const std::vector<std::string>& values) {
  std::vector<std::optional<std::string>> opt(values.begin(), values.end());
  std::vector<const std::optional<std::string>*> ptrs;
  for (const auto& v : opt) ptrs.push_back(&v);
  return sql::TextArrayLiteral(ptrs);
}

absl::StatusOr<std::vector<std::string>> ParseTextArray(PgConn* conn, std::string_view literal) {
  ASSIGN_OR_RETURN(auto r, conn->Query("SELECT unnest($1::text[])", {std::string(literal)}));
  std::vector<std::string> out;
  for (int i = 0; i < r.Rows(); ++i) out.push_back(r.GetString(i, 0));
  return out;
}

}  // namespace shadowcopy::engine
