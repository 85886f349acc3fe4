#include "engine/backfill/backfill_sql.h"

#include <cctype>
#include <charconv>

#include "common/quote.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine::backfill_sql {
namespace {

bool IdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80); }
bool IdentChar(char c) { return IdentStart(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$'; }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Table(const TableModel& m) { return QualifiedName(m.names.schema, m.names.table); }

// "t."k1", t."k2"" with an optional suffix on each (" DESC", "::text").
std::string KeyList(const TableModel& m, std::string_view qualifier, std::string_view suffix) {
  std::string out;
  for (size_t i = 0; i < m.key_columns.size(); ++i) {
    if (i) out += ", ";
    out += fmt::format("{}{}{}", qualifier.empty() ? "" : std::string(qualifier) + ".",
                       QuoteIdent(m.columns[m.key_columns[i]].source_name), suffix);
  }
  return out;
}

// Skips a quoted token starting at text[i] (which is `quote`); returns the
// index after it, or npos when it is not terminated. Doubled quotes escape;
// with `backslash` (E'...') so does a backslash.
size_t SkipQuoted(std::string_view text, size_t i, char quote, bool backslash) {
  for (++i; i < text.size(); ++i) {
    if (backslash && text[i] == '\\') {
      ++i;
      continue;
    }
    if (text[i] != quote) continue;
    if (i + 1 < text.size() && text[i + 1] == quote) {
      ++i;
      continue;
    }
    return i + 1;
  }
  return std::string_view::npos;
}

}  // namespace

absl::Status CheckExpression(std::string_view text, ExpressionKind kind) {
  const char* flag = kind == ExpressionKind::kSet ? "--set" : "--where";
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(fmt::format("{} {}", flag, why));
  };
  bool blank = true;
  int depth = 0;
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    // The server ends a -- comment at \r as well as \n; other control
    // characters have no business in an expression either.
    if (static_cast<unsigned char>(c) < 0x20 && c != ' ' && c != '\t' && c != '\n')
      return bad("has a control character");
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    bool line_comment = c == '-' && i + 1 < text.size() && text[i + 1] == '-';
    bool block_comment = c == '/' && i + 1 < text.size() && text[i + 1] == '*';
    if (!line_comment && !block_comment) blank = false;
    if (line_comment) {
      size_t nl = text.find_first_of("\n\r", i);
      i = nl == std::string_view::npos ? text.size() : nl + 1;
    } else if (block_comment) {
      // Block comments nest in PostgreSQL.
      int nest = 0;
      size_t j = i;
      while (j + 1 < text.size()) {
        if (text[j] == '/' && text[j + 1] == '*') {
          ++nest;
          j += 2;
        } else if (text[j] == '*' && text[j + 1] == '/') {
          j += 2;
          if (--nest == 0) break;
        } else {
          ++j;
        }
      }
      if (nest != 0) return bad("has an unterminated /* comment");
      i = j;
    } else if (c == '\'' || c == '"') {
      bool escapes = c == '\'' && i > 0 && (text[i - 1] == 'E' || text[i - 1] == 'e') &&
                     (i < 2 || !IdentChar(text[i - 2]));
      size_t end = SkipQuoted(text, i, c, escapes);
      if (end == std::string_view::npos)
        return bad(c == '\'' ? "has an unterminated string literal" : "has an unterminated quoted identifier");
      i = end;
    } else if (c == '$') {
      size_t j = i + 1;
      if (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])))
        return bad("must not use $n parameters");
      while (j < text.size() && IdentChar(text[j]) && text[j] != '$') ++j;
      if (j >= text.size() || text[j] != '$') return bad("has a stray '$'");
      std::string_view tag = text.substr(i, j + 1 - i);
      size_t close = text.find(tag, j + 1);
      if (close == std::string_view::npos) return bad("has an unterminated dollar-quoted string");
      i = close + tag.size();
    } else if (c == '(') {
      ++depth;
      ++i;
    } else if (c == ')') {
      if (--depth < 0) return bad("closes a parenthesis it did not open");
      ++i;
    } else if (c == ';') {
      return bad("must be one expression (no ';')");
    } else if (IdentStart(c)) {
      size_t j = i;
      while (j < text.size() && IdentChar(text[j])) ++j;
      std::string word = Upper(text.substr(i, j - i));
      if (kind == ExpressionKind::kSet && depth == 0 &&
          (word == "FROM" || word == "WHERE" || word == "RETURNING"))
        return bad(fmt::format("is a SET list only ({} is not allowed outside parentheses)", word));
      i = j;
    } else {
      ++i;
    }
  }
  if (blank) return bad("must not be empty");
  if (depth != 0) return bad("has an unclosed parenthesis");
  return absl::OkStatus();
}

std::string BoundarySql(const TableModel& m, bool has_lower, bool lower_inclusive) {
  int k = static_cast<int>(m.key_columns.size());
  std::string range = sql::KeyRangeCondition(m, "o", has_lower, true, 1, lower_inclusive);
  // The CTE walks at most n keys through the key's index; the outer query
  // takes the last of them and how many there were.
  return fmt::format(
      "WITH k AS (SELECT {} FROM ONLY {} AS o WHERE {} ORDER BY {} LIMIT ${}) "
      "SELECT {}, (SELECT count(*) FROM k) FROM k ORDER BY {} LIMIT 1",
      KeyList(m, "o", ""), Table(m), range, KeyList(m, "o", ""), has_lower ? 2 * k + 1 : k + 1,
      KeyList(m, "k", "::text"), KeyList(m, "k", " DESC"));
}

std::string BatchSql(const TableModel& m, const BatchSpec& spec, bool has_lower, bool lower_inclusive) {
  std::string range = sql::KeyRangeCondition(m, Table(m), has_lower, true, 1, lower_inclusive);
  if (spec.delete_rows)
    return fmt::format("DELETE FROM ONLY {} WHERE {} AND ({}\n)", Table(m), range, spec.where);
  return fmt::format("UPDATE ONLY {} SET {}\nWHERE {} AND ({}\n)", Table(m), spec.set, range, spec.where);
}

std::vector<std::string> KeyAssignmentProbeSql(const TableModel& m, const std::string& set) {
  return {
      fmt::format("CREATE TEMPORARY TABLE shadowcopy_key_probe (LIKE {} INCLUDING GENERATED) ON COMMIT DROP",
                  Table(m)),
      "CREATE FUNCTION pg_temp.shadowcopy_key_assigned() RETURNS trigger LANGUAGE plpgsql AS "
      "$f$BEGIN PERFORM set_config('shadowcopy.key_assigned', 'on', true); RETURN NULL; END$f$",
      fmt::format("CREATE TRIGGER shadowcopy_key_assigned BEFORE UPDATE OF {} ON pg_temp.shadowcopy_key_probe "
                  "FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.shadowcopy_key_assigned()",
                  KeyList(m, "", "")),
      // The user's text is followed by a line break, as in BatchSql.
      fmt::format("UPDATE ONLY pg_temp.shadowcopy_key_probe AS {} SET {}\nWHERE false",
                  QuoteIdent(m.names.table), set),
      "SELECT coalesce(current_setting('shadowcopy.key_assigned', true) = 'on', false)",
  };
}

std::string SpanEndSql(const TableModel& m, bool last) {
  return fmt::format("SELECT {} FROM ONLY {} AS o ORDER BY {} LIMIT 1", KeyList(m, "o", "::text"), Table(m),
                     KeyList(m, "o", last ? " DESC" : ""));
}

std::string EstimateSql(const TableModel& m, const std::string& where) {
  return fmt::format("EXPLAIN SELECT 1 FROM ONLY {} WHERE ({}\n)", Table(m), where);
}

double PlanRows(std::string_view line) {
  size_t at = line.find(" rows=");
  if (at == std::string_view::npos) return -1;
  double v = -1;
  const char* begin = line.data() + at + 6;
  auto r = std::from_chars(begin, line.data() + line.size(), v);
  if (r.ec != std::errc()) return -1;
  return v;
}

std::string FormatKey(const std::vector<std::string>& key) {
  std::string out = "(";
  for (size_t i = 0; i < key.size(); ++i) out += (i ? ", " : "") + key[i];
  return out + ")";
}

}  // namespace shadowcopy::engine::backfill_sql
