#include "engine/rewrite/using_probe.h"

#include "common/quote.h"
#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

absl::Status ProbeUsingExpressions(PgConn* conn, const TableModel& m) {
  for (const auto& c : m.columns) {
    if (c.using_expr.empty()) continue;
    std::string probe = "pg_temp." + QuoteIdent(c.using_alias);
    RETURN_IF_ERROR(conn->Exec(fmt::format("CREATE TEMPORARY TABLE {} ({} {})", probe, QuoteIdent(c.source_name),
                                           c.source_type)).status());
    // Wrapped in IS NULL: a boolean always has a btree operator class.
    auto st = conn->Exec(fmt::format("CREATE INDEX ON {} ((({}) IS NULL))", probe, c.using_expr)).status();
    if (!st.ok())
      return absl::InvalidArgumentError(fmt::format(
          "ALTER COLUMN {} TYPE ... USING: the expression must be immutable and use only that column ({})",
          QuoteIdent(c.source_name), st.message()));
    RETURN_IF_ERROR(conn->Exec(fmt::format("DROP TABLE {}", probe)).status());
  }
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
