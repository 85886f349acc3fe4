#include "engine/workflow/plan_safe_path.h"

#include "common/sql_lexer.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : std::string(sep)) + p;
  return out;
}

std::string IdentList(const std::vector<std::string>& names) {
  std::vector<std::string> q;
  for (const auto& n : names) q.push_back(IdentAsNeeded(n));
  return Join(q, ", ");
}

std::string TableArgs(std::string_view relation) {
  auto [schema, table] = SplitRelation(relation);
  std::string out = "--table " + ShellQuote(table);
  if (schema != "public") out += " --schema " + ShellQuote(schema);
  return out;
}

}  // namespace

std::pair<std::string, std::string> SplitRelation(std::string_view relation) {
  auto tokens = sql::Tokenize(relation);
  std::vector<std::string> parts;
  if (tokens.ok()) {
    for (const sql::Token& t : *tokens) {
      if (t.kind != sql::TokenKind::kIdentifier && t.kind != sql::TokenKind::kQuotedIdentifier) continue;
      auto name = sql::IdentifierName(t);
      parts.push_back(name.ok() ? *name : std::string(t.text));
    }
  }
  if (parts.size() >= 2) return {parts[parts.size() - 2], parts.back()};
  if (parts.size() == 1) return {"public", parts[0]};
  return {"public", std::string(relation)};
}

std::string ShellQuote(std::string_view text) {
  bool plain = !text.empty();
  for (char c : text)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) plain = false;
  if (plain) return std::string(text);
  if (text.find_first_of("\"\\$`!") == std::string_view::npos) return fmt::format("\"{}\"", text);
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string RewriteCommand(std::string_view relation, std::string_view alter) {
  std::string out = "shadowcopy " + TableArgs(relation);
  if (!alter.empty()) out += " --alter " + ShellQuote(alter);
  return out + " --execute";
}

std::string BackfillCommand(const StatementShape& shape) {
  std::string out = "shadowcopy backfill " + TableArgs(shape.relation);
  if (shape.kind == StatementKind::kUpdate)
    out += " --set " + ShellQuote(shape.set_clause);
  else
    out += " --delete";
  out += " --where " + ShellQuote(shape.has_where ? shape.where_clause : "true");
  return out + " --execute";
}

std::vector<std::string> ConcurrentIndexCommands(std::string_view sql_text, const StatementShape& shape) {
  if (shape.concurrently) return {std::string(sql_text)};
  if (shape.kind == StatementKind::kDropIndex) {
    std::vector<std::string> out;
    for (const auto& name : shape.relations)
      out.push_back(fmt::format("DROP INDEX CONCURRENTLY {}{}", shape.if_exists ? "IF EXISTS " : "", name));
    return out;
  }
  auto tokens = sql::Tokenize(sql_text);
  if (!tokens.ok()) return {std::string(sql_text)};
  // After INDEX (CREATE [UNIQUE] INDEX), or after REINDEX's TABLE/INDEX word.
  const bool reindex = shape.kind == StatementKind::kReindex;
  int depth = 0;
  for (const sql::Token& t : *tokens) {
    if (t.Is(sql::TokenKind::kPunctuation, "(")) ++depth;
    if (t.Is(sql::TokenKind::kPunctuation, ")")) --depth;
    if (depth != 0) continue;
    if (t.IsWord("index") || (reindex && t.IsWord("table"))) {
      std::string out(sql_text);
      out.insert(t.end(), " CONCURRENTLY");
      return {out};
    }
  }
  return {std::string(sql_text)};
}

std::string ConstraintName(std::string_view relation, const ConstraintSpec& c) {
  if (!c.name.empty()) return c.name;
  auto [schema, table] = SplitRelation(relation);
  std::string cols = Join(c.columns, "_");
  if (c.kind == ConstraintKind::kCheck && !c.not_null_column.empty()) cols = c.not_null_column;
  switch (c.kind) {
    case ConstraintKind::kPrimaryKey:
      return table + "_pkey";
    case ConstraintKind::kForeignKey:
      return table + "_" + cols + "_fkey";
    case ConstraintKind::kUnique:
      return table + "_" + cols + "_key";
    case ConstraintKind::kExclusion:
      return table + "_excl";
    default:
      return cols.empty() ? table + "_check" : table + "_" + cols + "_check";
  }
}

std::vector<std::string> NotValidThenValidateCommands(std::string_view relation, const ConstraintSpec& c) {
  const std::string name = IdentAsNeeded(ConstraintName(relation, c));
  return {fmt::format("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID", relation, name, c.definition),
          fmt::format("ALTER TABLE {} VALIDATE CONSTRAINT {}", relation, name)};
}

std::vector<std::string> CheckThenSetNotNullCommands(std::string_view relation, std::string_view column) {
  auto [schema, table] = SplitRelation(relation);
  const std::string check = IdentAsNeeded(fmt::format("{}_{}_not_null", table, column));
  const std::string col = IdentAsNeeded(column);
  return {fmt::format("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IS NOT NULL) NOT VALID", relation, check, col),
          fmt::format("ALTER TABLE {} VALIDATE CONSTRAINT {}", relation, check),
          fmt::format("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL", relation, col),
          fmt::format("ALTER TABLE {} DROP CONSTRAINT {}", relation, check)};
}

std::vector<std::string> UniqueViaIndexCommands(std::string_view relation, const ConstraintSpec& c) {
  if (c.columns.empty()) return {};
  auto [schema, table] = SplitRelation(relation);
  const std::string name = IdentAsNeeded(ConstraintName(relation, c));
  const char* kind = c.kind == ConstraintKind::kPrimaryKey ? "PRIMARY KEY" : "UNIQUE";
  return {fmt::format("CREATE UNIQUE INDEX CONCURRENTLY {} ON {} ({})", name, relation, IdentList(c.columns)),
          fmt::format("ALTER TABLE {} ADD CONSTRAINT {} {} USING INDEX {}", relation, name, kind, name)};
}

}  // namespace shadowcopy::workflow
