#include "engine/verify/verify_sql.h"

#include <string_view>
#include <utility>

#include "common/quote.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine::vsql {
namespace {

std::string Shadow(const TableModel& m) { return QualifiedName(m.names.schema, m.names.shadow); }
std::string Original(const TableModel& m) { return QualifiedName(m.names.schema, m.names.table); }

int KeyCount(const TableModel& m) { return static_cast<int>(m.key_columns.size()); }

// "(o."a", o."b")" over the original's key columns, or the shadow's.
std::string KeyTuple(const TableModel& m, bool shadow) {
  std::string out = "(";
  for (size_t i = 0; i < m.key_columns.size(); ++i) {
    const auto& c = m.columns[m.key_columns[i]];
    out += fmt::format("{}{}.{}", i ? ", " : "", shadow ? "s" : "o",
                       QuoteIdent(shadow ? c.target_name : c.source_name));
  }
  return out + ")";
}

// smallint < integer < bigint; 0 for any other type.
int VerifyIntegerRank(std::string_view type) {
  if (type == "smallint") return 1;
  if (type == "integer") return 2;
  if (type == "bigint") return 3;
  return 0;
}

// A key column narrowed within the integer types by a plain cast (bigint to
// integer, as on the way back of a widening): every value both tables hold
// fits both types and orders alike.
bool NarrowedIntegerKey(const MappedColumn& c) {
  if (!c.type_changed || !c.using_expr.empty()) return false;
  int from = VerifyIntegerRank(c.source_type), to = VerifyIntegerRank(c.target_type);
  return from > 0 && to > 0 && to < from;
}

// The bound parameters $first.. as the original's key types, mapped to the
// new types on the shadow's side; a narrowed integer key compares with the
// wider bound as it is (integer > bigint is an operator of the same index
// family: no cast that a bound beyond the narrower type would fail).
std::string BoundTuple(const TableModel& m, int first, bool shadow) {
  std::string out = "(";
  for (size_t i = 0; i < m.key_columns.size(); ++i) {
    const auto& c = m.columns[m.key_columns[i]];
    std::string p = fmt::format("CAST(${} AS {})", first + static_cast<int>(i), c.source_type);
    out += (i ? ", " : "") + (shadow && !NarrowedIntegerKey(c) ? sql::MappedExpr(c, p) : p);
  }
  return out + ")";
}

// " WHERE lower < key AND key <= upper" on one side ("" when unbounded, or
// on the shadow's side when its key order differs: the range is then the
// whole table).
std::string RangeWhere(const TableModel& m, bool has_lower, bool has_upper, bool shadow,
                       bool order_preserved) {
  if (shadow && !order_preserved) return "";
  std::string where;
  if (has_lower) where += fmt::format(" WHERE {} > {}", KeyTuple(m, shadow), BoundTuple(m, 1, shadow));
  if (has_upper)
    where += fmt::format("{} {} <= {}", has_lower ? " AND" : " WHERE", KeyTuple(m, shadow),
                         BoundTuple(m, has_lower ? KeyCount(m) + 1 : 1, shadow));
  return where;
}

// One kept column's value as the new type: the original's through the
// mapping, the shadow's as it is.
std::string Value(const MappedColumn& c, bool shadow) {
  return shadow ? "s." + QuoteIdent(c.target_name)
                : sql::MappedExpr(c, "o." + QuoteIdent(c.source_name));
}

// ROW(<values>)::text over the kept columns.
std::string RowText(const TableModel& m, bool shadow) {
  std::string out;
  for (const auto& c : m.columns) {
    if (!c.kept) continue;
    out += (out.empty() ? "" : ", ") + Value(c, shadow);
  }
  return fmt::format("ROW({})::text", out);
}

std::string KeyText(const TableModel& m, bool shadow) {
  std::string out;
  for (size_t i = 0; i < m.key_columns.size(); ++i)
    out += (i ? ", " : "") + Value(m.columns[m.key_columns[i]], shadow);
  return fmt::format("ROW({})::text", out);
}

// `type` as format_type spells it, without type modifiers:
// "timestamp(3) with time zone" -> "timestamp with time zone",
// "character varying(20)[]" -> "character varying[]". A quoted name keeps
// its parentheses.
std::string WithoutTypmod(std::string_view type) {
  std::string out;
  bool quoted = false;
  int depth = 0;
  for (char ch : type) {
    if (depth > 0) {
      depth += ch == '(' ? 1 : ch == ')' ? -1 : 0;
      continue;
    }
    if (ch == '"') quoted = !quoted;
    if (ch == '(' && !quoted) {
      depth = 1;
      continue;
    }
    out.push_back(ch);
  }
  return out;
}

// A 64-bit hash of the row in `form`. The row text's COLLATE "C": the hash of
// the bytes, whatever the database's default collation.
std::string RowHash(const TableModel& m, bool shadow, RowHashForm form) {
  if (form == RowHashForm::kRowText)
    return fmt::format("hashtextextended(({}) COLLATE \"C\", 0)", RowText(m, shadow));
  std::string out;
  for (const auto& c : m.columns) {
    if (!c.kept) continue;
    out += (out.empty() ? "" : ", ") + HashedValue(c.target_type, Value(c, shadow));
  }
  return fmt::format("hash_record_extended(ROW({}), 0)", out);
}

std::string From(const TableModel& m, bool shadow) {
  // ONLY on both sides: after the swap the new table may be an inheritance
  // parent (verification after the cutover reads it as the "shadow").
  return shadow ? fmt::format("ONLY {} AS s", Shadow(m)) : fmt::format("ONLY {} AS o", Original(m));
}

std::string SideAggregate(const TableModel& m, bool has_lower, bool has_upper, bool shadow,
                          bool order_preserved, RowHashForm form) {
  return fmt::format(
      "(SELECT count(*) AS n, coalesce(bit_xor(h), 0) AS x FROM (SELECT {} AS h FROM {}{}) AS r)",
      RowHash(m, shadow, form), From(m, shadow),
      RangeWhere(m, has_lower, has_upper, shadow, order_preserved));
}

std::string DescribeKey(const std::vector<std::string>& key) {
  if (key.size() == 1) return key[0];
  std::string out = "(";
  for (size_t i = 0; i < key.size(); ++i) out += (i ? ", " : "") + key[i];
  return out + ")";
}

}  // namespace

bool KeyRangesComparable(const TableModel& m) {
  if (sql::KeyOrderPreserved(m)) return true;
  for (int idx : m.key_columns) {
    const auto& c = m.columns[idx];
    if (c.type_changed && !NarrowedIntegerKey(c)) return false;
  }
  return true;
}

std::vector<KeyRange> PlanRanges(const std::vector<std::vector<std::string>>& boundaries) {
  std::vector<KeyRange> out;
  std::optional<std::vector<std::string>> lower;
  for (const auto& b : boundaries) {
    out.push_back(KeyRange{lower, b});
    lower = b;
  }
  out.push_back(KeyRange{lower, std::nullopt});
  return out;
}

std::vector<std::vector<std::string>> BoundariesFromBatches(
    const std::vector<std::pair<std::vector<std::string>, int64_t>>& batches, int64_t range_rows) {
  std::vector<std::vector<std::string>> out;
  int64_t pending = 0;  // rows since the last boundary kept
  for (size_t i = 0; i < batches.size(); ++i) {
    pending += batches[i].second;
    // Keep this batch's end when the next batch would not fit with it.
    const bool last = i + 1 == batches.size();
    if (last || pending + batches[i + 1].second > range_rows) {
      out.push_back(batches[i].first);
      pending = 0;
    }
  }
  return out;
}

PgParams RangeParams(const KeyRange& r) {
  PgParams p;
  if (r.lower) p.insert(p.end(), r.lower->begin(), r.lower->end());
  if (r.upper) p.insert(p.end(), r.upper->begin(), r.upper->end());
  return p;
}

std::string DescribeRange(const TableModel& m, const KeyRange& r) {
  std::string key;
  for (size_t i = 0; i < m.key_columns.size(); ++i)
    key += (i ? ", " : "") + QuoteIdent(m.columns[m.key_columns[i]].source_name);
  if (m.key_columns.size() > 1) key = "(" + key + ")";
  return fmt::format("{} in ({}, {}{}", key, r.lower ? DescribeKey(*r.lower) : "-inf",
                     r.upper ? DescribeKey(*r.upper) : "+inf", r.upper ? "]" : ")");
}

std::string HashedValue(std::string_view target_type, const std::string& value) {
  // Equality is identity, and the type's extended hash takes every bit.
  static constexpr std::string_view kOwnHash[] = {"smallint", "integer", "oid",  "boolean",
                                                  "\"char\"", "date",    "uuid", "bytea"};
  // Equality is identity, but the hash folds the 64-bit value into 32 bits
  // (so that bigint hashes as integer does): 1 and 4294967296 would collide.
  // Their 8-byte binary form is hashed instead.
  static constexpr std::pair<std::string_view, std::string_view> kBinaryForm[] = {
      {"bigint", "int8send"},
      {"timestamp without time zone", "timestamp_send"},
      {"timestamp with time zone", "timestamptz_send"},
      {"time without time zone", "time_send"}};
  const std::string base = WithoutTypmod(target_type);
  for (std::string_view t : kOwnHash)
    if (base == t) return value;
  for (const auto& [t, send] : kBinaryForm)
    if (base == t) return fmt::format("{}({})", send, value);
  // COLLATE "C": under a nondeterministic collation the hash would be the
  // collation's, equal for 'a' and 'A'.
  if (base == "text" || base == "character varying")
    return fmt::format("({}) COLLATE \"C\"", value);
  // character's cast to text drops trailing spaces ('a ' and 'a' of a
  // bpchar without length are different values); its output keeps them.
  if (base == "character" || base == "bpchar")
    return fmt::format("textin(bpcharout({})) COLLATE \"C\"", value);
  // Any other type (numeric, floats, interval, json, jsonb, arrays, domains,
  // enums, ...): equal values may differ, their text tells them apart.
  return fmt::format("({})::text COLLATE \"C\"", value);
}

RowHashForm RowHashFormFor(int server_version_num) {
  return server_version_num >= 140000 ? RowHashForm::kPerColumn : RowHashForm::kRowText;
}

std::string RangeHashSql(const TableModel& m, bool has_lower, bool has_upper, bool order_preserved,
                         RowHashForm form) {
  return fmt::format("SELECT o.n, o.x, s.n, s.x FROM {} AS o, {} AS s",
                     SideAggregate(m, has_lower, has_upper, false, order_preserved, form),
                     SideAggregate(m, has_lower, has_upper, true, order_preserved, form));
}

std::string RangeDiffSql(const TableModel& m, bool has_lower, bool has_upper, bool order_preserved,
                         RowHashForm form, int limit) {
  auto side = [&](bool shadow) {
    return fmt::format("(SELECT {} AS k, {} AS h FROM {}{})", KeyText(m, shadow),
                       RowHash(m, shadow, form), From(m, shadow),
                       RangeWhere(m, has_lower, has_upper, shadow, order_preserved));
  };
  return fmt::format(
      "SELECT coalesce(a.k, b.k), CASE WHEN b.k IS NULL THEN 'only in original' WHEN a.k IS NULL "
      "THEN 'only in new table' ELSE 'differs' END FROM {} AS a FULL JOIN {} AS b ON a.k = b.k "
      "WHERE a.h IS DISTINCT FROM b.h ORDER BY 1 LIMIT {}",
      side(false), side(true), limit);
}

std::string RepairDeleteSql(const TableModel& m, bool has_lower, bool has_upper, bool order_preserved) {
  return fmt::format("DELETE FROM {}{}", From(m, true),
                     RangeWhere(m, has_lower, has_upper, true, order_preserved));
}

std::string CorruptRowSql(const TableModel& m, bool has_lower, bool has_upper, bool order_preserved) {
  std::string where = RangeWhere(m, has_lower, has_upper, true, order_preserved);
  std::string order = KeyTuple(m, true);
  order = order.substr(1, order.size() - 2);
  std::string victim =
      fmt::format("(SELECT s.ctid FROM {}{} ORDER BY {} LIMIT 1)", From(m, true), where, order);
  std::string sets, cols;
  for (const auto& c : m.columns) {
    if (!c.kept || c.key_position >= 0 || c.target_identity_always) continue;
    sets += fmt::format("{}{} = d.{}", sets.empty() ? "" : ", ", QuoteIdent(c.target_name),
                        QuoteIdent(c.target_name));
    cols += fmt::format("{}s.{}", cols.empty() ? "" : ", ", QuoteIdent(c.target_name));
  }
  if (sets.empty()) return fmt::format("DELETE FROM {} WHERE ctid = {}", Shadow(m), victim);
  return fmt::format(
      "UPDATE {} AS t SET {} FROM (SELECT {} FROM {}{} ORDER BY {} OFFSET 1 LIMIT 1) AS d WHERE t.ctid = {}",
      Shadow(m), sets, cols, From(m, true), where, order, victim);
}

std::string KeyCollationsSql(const TableModel& m, uint32_t shadow_oid) {
  std::string values;
  for (size_t i = 0; i < m.key_columns.size(); ++i) {
    const auto& c = m.columns[m.key_columns[i]];
    values += fmt::format("{}({}, {})", i ? ", " : "", QuoteLiteral(c.source_name), QuoteLiteral(c.target_name));
  }
  return fmt::format(
      "SELECT o.attcollation::int8, s.attcollation::int8 FROM (VALUES {}) AS v(a, b) "
      "JOIN pg_attribute o ON o.attrelid = {} AND o.attname = v.a "
      "JOIN pg_attribute s ON s.attrelid = {} AND s.attname = v.b",
      values, m.oid, shadow_oid);
}

std::string UnmappedColumnsSql() {
  return "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped "
         "AND NOT (attname::text = ANY ($2::text[])) ORDER BY attnum";
}

}  // namespace shadowcopy::engine::vsql
