#include "engine/table/sql_builder.h"

#include "common/quote.h"
#include "fmt/format.h"

namespace shadowcopy::engine::sql {
namespace {

std::string Shadow(const TableModel& m) { return QualifiedName(m.names.schema, m.names.shadow); }
std::string Original(const TableModel& m) { return QualifiedName(m.names.schema, m.names.table); }

// "$first::type, ..." for the key columns in key order.
std::string KeyParams(const TableModel& m, int first) {
  std::string out;
  for (size_t i = 0; i < m.key_columns.size(); ++i) {
    const auto& c = m.columns[m.key_columns[i]];
    if (i) out += ", ";
    out += fmt::format("CAST(${} AS {})", first + static_cast<int>(i), c.source_type);
  }
  return out;
}

// "(o."k1", o."k2")" over the original's key columns.
std::string SourceKeyTuple(const TableModel& m, std::string_view alias) {
  std::string out = "(";
  for (size_t i = 0; i < m.key_columns.size(); ++i) {
    if (i) out += ", ";
    out += fmt::format("{}.{}", alias, QuoteIdent(m.columns[m.key_columns[i]].source_name));
  }
  return out + ")";
}

std::string TargetKeyList(const TableModel& m) {
  std::string out;
  for (size_t i = 0; i < m.key_columns.size(); ++i) {
    if (i) out += ", ";
    out += QuoteIdent(m.columns[m.key_columns[i]].target_name);
  }
  return out;
}

// "SET "a" = EXCLUDED."a", ..." over kept non-key columns, or DO NOTHING.
std::string OnConflictUpdate(const TableModel& m) {
  std::string sets;
  for (const auto& c : m.columns) {
    // An identity GENERATED ALWAYS can only be updated to DEFAULT; its value
    // never changes after the insert, so there is nothing to update.
    if (!c.kept || c.key_position >= 0 || c.target_identity_always) continue;
    if (!sets.empty()) sets += ", ";
    sets += fmt::format("{0} = EXCLUDED.{0}", QuoteIdent(c.target_name));
  }
  if (sets.empty()) return fmt::format("ON CONFLICT ({}) DO NOTHING", TargetKeyList(m));
  return fmt::format("ON CONFLICT ({}) DO UPDATE SET {}", TargetKeyList(m), sets);
}

// The SELECT list of an INSERT INTO shadow (<target columns>) SELECT: the
// INSERT coerces each value to its column's type by assignment.
std::string AssignedSelectList(const TableModel& m, std::string_view alias) {
  std::string out;
  for (const auto& c : m.columns) {
    if (!c.kept) continue;
    if (!out.empty()) out += ", ";
    out += AssignedExpr(c, fmt::format("{}.{}", alias, QuoteIdent(c.source_name)));
  }
  return out;
}

}  // namespace

std::string AssignedExpr(const MappedColumn& c, std::string_view source_expr) {
  if (!c.using_expr.empty()) {
    // The expression sees only its own column, under the table's name: the
    // value is bound in a one-row derived table, wherever it comes from.
    return fmt::format("(SELECT ({}) FROM (SELECT {}) AS {}({}))", c.using_expr, source_expr,
                       QuoteIdent(c.using_alias), QuoteIdent(c.source_name));
  }
  return std::string(source_expr);
}

std::string MappedExpr(const MappedColumn& c, std::string_view source_expr) {
  if (c.using_expr.empty() && !c.type_changed) return std::string(source_expr);
  return fmt::format("CAST({} AS {})", AssignedExpr(c, source_expr), c.target_type);
}

std::string AffixedName(std::string_view prefix, std::string_view middle, std::string_view suffix) {
  size_t fixed = prefix.size() + suffix.size();
  std::string cut(middle);
  if (fixed + cut.size() > 63) {
    cut.resize(63 - fixed);
    // Drop a trailing UTF-8 sequence the cut left incomplete.
    size_t lead = cut.size();
    while (lead > 0 && (static_cast<unsigned char>(cut[lead - 1]) & 0xC0) == 0x80) --lead;
    if (lead > 0) {
      unsigned char b = static_cast<unsigned char>(cut[lead - 1]);
      size_t want = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
      if (cut.size() - (lead - 1) < want) cut.resize(lead - 1);
    }
  }
  return fmt::format("{}{}{}", prefix, cut, suffix);
}

std::string TextArrayLiteral(const std::vector<const std::optional<std::string>*>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    const auto* v = values[i];
    if (v == nullptr || !v->has_value()) {
      out += "NULL";
      continue;
    }
    out.push_back('"');
    for (char ch : **v) {
      if (ch == '"' || ch == '\\') out.push_back('\\');
      out.push_back(ch);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

std::string TargetColumnList(const TableModel& m) {
  std::string out;
  for (const auto& c : m.columns) {
    if (!c.kept) continue;
    if (!out.empty()) out += ", ";
    out += QuoteIdent(c.target_name);
  }
  return out;
}

std::string CopyBoundarySql(const TableModel& m, bool has_lower) {
  std::string select, order;
  for (size_t i = 0; i < m.key_columns.size(); ++i) {
    const auto& name = QuoteIdent(m.columns[m.key_columns[i]].source_name);
    if (i) {
      select += ", ";
      order += ", ";
    }
    select += fmt::format("o.{}::text", name);
    order += fmt::format("o.{}", name);
  }
  int k = static_cast<int>(m.key_columns.size());
  std::string where =
      has_lower ? fmt::format(" WHERE {} > ({})", SourceKeyTuple(m, "o"), KeyParams(m, 1)) : "";
  return fmt::format("SELECT {} FROM ONLY {} AS o{} ORDER BY {} OFFSET ${} LIMIT 1", select,
                     Original(m), where, order, has_lower ? k + 1 : 1);
}

bool KeyOrderPreserved(const TableModel& m) {
  auto rank = [](const std::string& t) {
    if (t == "smallint") return 1;
    if (t == "integer") return 2;
    if (t == "bigint") return 3;
    return 0;
  };
  for (int idx : m.key_columns) {
    const auto& c = m.columns[idx];
    if (!c.type_changed) continue;
    int from = rank(c.source_type), to = rank(c.target_type);
    if (from == 0 || to < from) return false;
  }
  return true;
}

std::string ShadowRangeProbeSql(const TableModel& m, bool has_lower, bool has_upper) {
  int k = static_cast<int>(m.key_columns.size());
  std::string tuple = "(";
  for (size_t i = 0; i < m.key_columns.size(); ++i)
    tuple += (i ? ", s." : "s.") + QuoteIdent(m.columns[m.key_columns[i]].target_name);
  tuple += ")";
  auto params = [&](int first) {
    std::string out;
    for (size_t i = 0; i < m.key_columns.size(); ++i) {
      const auto& c = m.columns[m.key_columns[i]];
      out += fmt::format("{}{}", i ? ", " : "",
                         MappedExpr(c, fmt::format("CAST(${} AS {})", first + static_cast<int>(i), c.source_type)));
    }
    return out;
  };
  std::string where;
  if (has_lower) where += fmt::format(" WHERE {} > ({})", tuple, params(1));
  if (has_upper)
    where += fmt::format("{} {} <= ({})", has_lower ? " AND" : " WHERE", tuple, params(has_lower ? k + 1 : 1));
  return fmt::format("SELECT EXISTS (SELECT 1 FROM {} AS s{})", Shadow(m), where);
}

std::string KeyRangeCondition(const TableModel& m, std::string_view qualifier, bool has_lower, bool has_upper,
                              int first, bool lower_inclusive) {
  int k = static_cast<int>(m.key_columns.size());
  std::string out;
  if (has_lower)
    out = fmt::format("{} {} ({})", SourceKeyTuple(m, qualifier), lower_inclusive ? ">=" : ">", KeyParams(m, first));
  if (has_upper)
    out += fmt::format("{}{} <= ({})", has_lower ? " AND " : "", SourceKeyTuple(m, qualifier),
                       KeyParams(m, has_lower ? first + k : first));
  return out;
}

std::string CopyBatchSql(const TableModel& m, bool has_lower, bool has_upper, bool on_conflict) {
  std::string range = KeyRangeCondition(m, "o", has_lower, has_upper);
  std::string where = range.empty() ? "" : " WHERE " + range;
  // In key order, whatever plan reads the batch (a sequential scan returns
  // the original's physical order): the new table's copied rows are laid
  // out in key order. Through the key's index this costs no sort.
  std::string order = SourceKeyTuple(m, "o");
  order = order.substr(1, order.size() - 2);
  return fmt::format(
      "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM ONLY {} AS o{} ORDER BY {}{}",
      Shadow(m), TargetColumnList(m), AssignedSelectList(m, "o"), Original(m), where, order,
      on_conflict ? fmt::format(" ON CONFLICT ({}) DO NOTHING", TargetKeyList(m)) : "");
}

std::string KeyAtOrBelowSql(const TableModel& m) {
  const int k = static_cast<int>(m.key_columns.size());
  return fmt::format("SELECT ({}) <= ({})", KeyParams(m, 1), KeyParams(m, k + 1));
}

std::string UpsertSql(const TableModel& m, bool horizon) {
  std::string arrays, aliases, select;
  std::vector<std::string> key_alias(m.key_columns.size());
  int n = 0;
  for (const auto& c : m.columns) {
    if (!c.kept) continue;
    ++n;
    if (c.key_position >= 0)
      key_alias[c.key_position] = fmt::format("CAST(o.c{} AS {})", n, c.source_type);
    if (n > 1) {
      arrays += ", ";
      aliases += ", ";
      select += ", ";
    }
    arrays += fmt::format("${}::text[]", n);
    aliases += fmt::format("c{}", n);
    select += AssignedExpr(c, fmt::format("CAST(o.c{} AS {})", n, c.source_type));
  }
  std::string where;
  if (horizon) {
    std::string lhs;
    for (size_t i = 0; i < key_alias.size(); ++i) lhs += (i ? ", " : "") + key_alias[i];
    where = fmt::format(" WHERE ({}) <= ({})", lhs, KeyParams(m, n + 1));
  }
  return fmt::format(
      "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM unnest({}) AS o({}){} {}",
      Shadow(m), TargetColumnList(m), select, arrays, aliases, where, OnConflictUpdate(m));
}

std::string DeleteSql(const TableModel& m) {
  std::string arrays, aliases, where;
  for (size_t i = 0; i < m.key_columns.size(); ++i) {
    const auto& c = m.columns[m.key_columns[i]];
    int n = static_cast<int>(i) + 1;
    if (i) {
      arrays += ", ";
      aliases += ", ";
      where += " AND ";
    }
    arrays += fmt::format("${}::text[]", n);
    aliases += fmt::format("c{}", n);
    where += fmt::format("s.{} = {}", QuoteIdent(c.target_name),
                         MappedExpr(c, fmt::format("CAST(d.c{} AS {})", n, c.source_type)));
  }
  return fmt::format("DELETE FROM {} AS s USING unnest({}) AS d({}) WHERE {}", Shadow(m), arrays,
                     aliases, where);
}

std::string PartialUpdateSql(const TableModel& m, const std::vector<int>& set_columns) {
  std::string sets;
  int n = 0;
  for (int idx : set_columns) {
    const auto& c = m.columns[idx];
    ++n;
    if (n > 1) sets += ", ";
    sets += fmt::format("{} = {}", QuoteIdent(c.target_name),
                        AssignedExpr(c, fmt::format("CAST(${} AS {})", n, c.source_type)));
  }
  std::string where;
  for (size_t i = 0; i < m.key_columns.size(); ++i) {
    const auto& c = m.columns[m.key_columns[i]];
    ++n;
    if (i) where += " AND ";
    where += fmt::format("{} = {}", QuoteIdent(c.target_name),
                         MappedExpr(c, fmt::format("CAST(${} AS {})", n, c.source_type)));
  }
  return fmt::format("UPDATE {} SET {} WHERE {}", Shadow(m), sets, where);
}

std::string RereadSql(const TableModel& m, bool horizon) {
  std::string where;
  for (size_t i = 0; i < m.key_columns.size(); ++i) {
    const auto& c = m.columns[m.key_columns[i]];
    if (i) where += " AND ";
    where += fmt::format("o.{} = CAST(${} AS {})", QuoteIdent(c.source_name), i + 1, c.source_type);
  }
  if (horizon)
    where += fmt::format(" AND {} <= ({})", SourceKeyTuple(m, "o"),
                         KeyParams(m, static_cast<int>(m.key_columns.size()) + 1));
  return fmt::format(
      "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM ONLY {} AS o WHERE {} {}",
      Shadow(m), TargetColumnList(m), AssignedSelectList(m, "o"), Original(m), where,
      OnConflictUpdate(m));
}

}  // namespace shadowcopy::engine::sql
