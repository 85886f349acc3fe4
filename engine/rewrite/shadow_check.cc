#include "engine/rewrite/shadow_check.h"

#include "common/quote.h"
#include "common/status.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

absl::Status CheckShadowIntact(PgConn* conn, const TableModel& m,
                               const std::optional<std::vector<std::string>>& high_water, bool copy_done) {
  std::string orig = QualifiedName(m.names.schema, m.names.table);
  std::string shadow = QualifiedName(m.names.schema, m.names.shadow);
  auto refuse = [&](std::string_view why) {
    return absl::FailedPreconditionError(fmt::format(
        "cannot resume: the shadow table {} {}; run `shadowcopy cleanup --table {} --execute` and start again",
        shadow, why, m.names.table));
  };
  ASSIGN_OR_RETURN(auto kind, conn->Query("SELECT relpersistence FROM pg_class WHERE oid = to_regclass($1)", {shadow}));
  if (kind.Rows() != 1) return refuse("is missing");
  if (kind.Get(0, 0) != "p") return refuse("is not a permanent table (a crash may have emptied it)");
  if (!high_water && !copy_done) return absl::OkStatus();  // nothing copied yet
  // Does the original hold a row in the copied range? The key's index makes
  // this one probe.
  PgParams params;
  std::string orig_sql = fmt::format("SELECT EXISTS (SELECT 1 FROM ONLY {} AS o", orig);
  if (high_water) {
    orig_sql += " WHERE " + sql::KeyRangeCondition(m, "o", /*has_lower=*/false, /*has_upper=*/true);
    for (const auto& v : *high_water) params.push_back(v);
  }
  orig_sql += ")";
  ASSIGN_OR_RETURN(auto o, conn->Query(orig_sql, params));
  if (!o.GetBool(0, 0)) return absl::OkStatus();
  // And the shadow? In the same range when the key orders rows the same way
  // on both sides, else anywhere.
  std::string shadow_sql = high_water && sql::KeyOrderPreserved(m)
                               ? sql::ShadowRangeProbeSql(m, /*has_lower=*/false, /*has_upper=*/true)
                               : fmt::format("SELECT EXISTS (SELECT 1 FROM {})", shadow);
  if (!(high_water && sql::KeyOrderPreserved(m))) params.clear();
  ASSIGN_OR_RETURN(auto s, conn->Query(shadow_sql, params));
  if (!s.GetBool(0, 0))
    return refuse(high_water ? "holds none of the rows copied up to the recorded high-water key (rows were lost)"
                             : "is empty though the copy was recorded as done (rows were lost)");
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
