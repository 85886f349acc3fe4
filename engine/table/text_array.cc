#include "engine/table/text_array.h"

#include <optional>

#include "common/status.h"
#include "engine/table/sql_builder.h"

namespace shadowcopy::engine {

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
