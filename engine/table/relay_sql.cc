#include "engine/table/relay_sql.h"

#include "common/quote.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine::sql {
namespace {

// `type` without a trailing type modifier: "numeric(12,2)" -> "numeric",
// "timestamp(3) with time zone" -> "timestamp with time zone".
std::string BaseType(std::string_view type) {
  std::string out;
  int depth = 0;
  for (char ch : type) {
    if (ch == '(') ++depth;
    if (depth == 0) out.push_back(ch);
    if (ch == ')' && depth > 0) --depth;
  }
  return out;
}

// "(CAST('v1' AS t1), ...)" over the key columns.
std::string KeyLiterals(const TableModel& m, const std::vector<std::string>& key) {
  std::string out = "(";
  for (size_t i = 0; i < m.key_columns.size() && i < key.size(); ++i) {
    const auto& c = m.columns[m.key_columns[i]];
    out += fmt::format("{}CAST({} AS {})", i ? ", " : "", QuoteLiteral(key[i]), c.source_type);
  }
  return out + ")";
}

}  // namespace

bool RelayCastSafe(std::string_view target_type) {
  // Built-in types whose cast from any type an assignment accepts is the
  // same function whether explicit or not, and whose typmod coercion (if
  // any) rounds or errors the same either way. Not varchar(n), char(n),
  // bit(n): an explicit CAST truncates where the assignment errors.
  static constexpr std::string_view kSafe[] = {
      "smallint", "integer", "bigint", "numeric", "real", "double precision", "text",
      "date", "timestamp without time zone", "timestamp with time zone", "jsonb", "uuid"};
  const std::string base = BaseType(target_type);
  for (std::string_view t : kSafe)
    if (base == t) return true;
  return false;
}

bool RelayAllowed(const TableModel& m) {
  bool any = false;
  for (const auto& c : m.columns) {
    if (!c.kept) continue;
    any = true;
    if (!c.using_expr.empty()) return false;
    if (c.type_changed && !RelayCastSafe(c.target_type)) return false;
  }
  return any && !m.key_columns.empty();
}

std::string RelayCopyOutSql(const TableModel& m, const std::optional<std::vector<std::string>>& lower,
                            const std::optional<std::vector<std::string>>& upper) {
  std::string select, key;
  for (const auto& c : m.columns) {
    if (!c.kept) continue;
    std::string v = "o." + QuoteIdent(c.source_name);
    select += (select.empty() ? "" : ", ") + (c.type_changed ? fmt::format("CAST({} AS {})", v, c.target_type) : v);
  }
  for (size_t i = 0; i < m.key_columns.size(); ++i)
    key += (i ? ", " : "") + fmt::format("o.{}", QuoteIdent(m.columns[m.key_columns[i]].source_name));
  std::string where;
  if (lower) where = fmt::format(" WHERE ({}) > {}", key, KeyLiterals(m, *lower));
  if (upper) where += fmt::format("{} ({}) <= {}", lower ? " AND" : " WHERE", key, KeyLiterals(m, *upper));
  return fmt::format("COPY (SELECT {} FROM ONLY {} AS o{} ORDER BY {}) TO STDOUT (FORMAT binary)", select,
                     QualifiedName(m.names.schema, m.names.table), where, key);
}

std::string RelayCopyInSql(const TableModel& m) {
  return fmt::format("COPY {} ({}) FROM STDIN (FORMAT binary)", QualifiedName(m.names.schema, m.names.shadow),
                     TargetColumnList(m));
}

}  // namespace shadowcopy::engine::sql
