#include "engine/rewrite/alter_text.h"

#include <algorithm>

#include "absl/status/status.h"
#include "common/quote.h"
#include "common/sql_lexer.h"
#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

using sql::Token;
using sql::TokenKind;

bool IsColumnName(const Token& t) {
  return t.kind == TokenKind::kIdentifier || t.kind == TokenKind::kQuotedIdentifier;
}

// The text from token `from` to token `to` (exclusive), as written.
std::string Span(std::string_view alter, const std::vector<Token>& toks, size_t from, size_t to) {
  if (from >= to) return "";
  return std::string(alter.substr(toks[from].offset, toks[to - 1].end() - toks[from].offset));
}

// Recognises one subcommand from its tokens (comments left out).
AlterSubcommand Classify(std::string_view alter, const std::vector<Token>& t) {
  AlterSubcommand sc;
  sc.text = Span(alter, t, 0, t.size());
  sc.line = t.front().line;
  sc.offset = t.front().offset;
  auto word = [&](size_t i, std::string_view w) { return i < t.size() && t[i].IsWord(w); };
  if (t.size() == 2 && word(0, "set") && word(1, "logged")) sc.kind = AlterSubcommand::Kind::kSetLogged;
  if (t.size() == 2 && word(0, "set") && word(1, "unlogged")) sc.kind = AlterSubcommand::Kind::kSetUnlogged;
  if (word(0, "rename") && word(1, "to")) sc.kind = AlterSubcommand::Kind::kRenameTable;
  if (word(0, "set") && word(1, "schema")) sc.kind = AlterSubcommand::Kind::kSetSchema;
  if (!word(0, "alter")) return sc;
  // ALTER [COLUMN] ColId: COLUMN and CONSTRAINT are reserved words, so the
  // token after them (or after ALTER) is the column, whatever it spells.
  size_t i = 1;
  if (word(i, "column")) ++i;
  if (i >= t.size() || !IsColumnName(t[i]) || word(i, "constraint") || word(i, "table")) return sc;
  size_t col = i++;
  if (word(i, "drop") && word(i + 1, "expression")) {
    sc.kind = AlterSubcommand::Kind::kDropExpression;
    sc.column = std::string(t[col].text);
    return sc;
  }
  if (word(i, "set") && word(i + 1, "data") && word(i + 2, "type")) i += 3;
  else if (word(i, "type")) i += 1;
  else return sc;
  sc.kind = AlterSubcommand::Kind::kAlterColumnType;
  sc.column = std::string(t[col].text);
  // COLLATE and USING are reserved words: bare, they can only be the clauses.
  size_t collate = t.size(), using_at = t.size();
  for (size_t j = i; j < t.size(); ++j) {
    if (t[j].IsWord("using") && using_at == t.size()) using_at = j;
    if (t[j].IsWord("collate") && collate == t.size() && j < using_at) collate = j;
  }
  size_t type_end = std::min(collate, using_at);
  sc.type = Span(alter, t, i, type_end);
  if (collate < using_at) sc.collate = Span(alter, t, collate + 1, using_at);
  sc.has_using = using_at < t.size();
  if (sc.has_using) sc.using_expr = Span(alter, t, using_at + 1, t.size());
  if (sc.has_using) sc.using_offset = using_at + 1 < t.size() ? t[using_at + 1].offset : t.back().end();
  return sc;
}

}  // namespace

absl::StatusOr<std::vector<AlterSubcommand>> ParseAlterSubcommands(std::string_view alter) {
  auto tokens = sql::Tokenize(alter);
  if (!tokens.ok()) return absl::InvalidArgumentError(fmt::format("invalid --alter: {}", tokens.status().message()));
  std::vector<AlterSubcommand> out;
  std::vector<Token> current;
  int depth = 0;
  auto finish = [&](int line) -> absl::Status {
    if (current.empty())
      return absl::InvalidArgumentError(fmt::format("invalid --alter: an empty subcommand at line {}", line));
    out.push_back(Classify(alter, current));
    current.clear();
    return absl::OkStatus();
  };
  for (const Token& t : *tokens) {
    if (t.kind == TokenKind::kComment) continue;
    if (t.Is(TokenKind::kPunctuation, ";"))
      return absl::InvalidArgumentError(
          "--alter must be one ALTER TABLE statement's subcommands; ';' is not allowed");
    if (t.Is(TokenKind::kPunctuation, "(") || t.Is(TokenKind::kPunctuation, "[")) ++depth;
    if ((t.Is(TokenKind::kPunctuation, ")") || t.Is(TokenKind::kPunctuation, "]")) && depth > 0) --depth;
    if (t.Is(TokenKind::kPunctuation, ",") && depth == 0) {
      RETURN_IF_ERROR(finish(t.line));
      continue;
    }
    current.push_back(t);
  }
  int last_line = tokens->empty() ? 1 : tokens->back().line;
  RETURN_IF_ERROR(finish(last_line));
  return out;
}

absl::Status ValidateAlterText(const std::string& alter) {
  auto parsed = ParseAlterSubcommands(alter);
  if (!parsed.ok()) return parsed.status();
  const auto& first = parsed->front();
  {
    auto toks = sql::Tokenize(first.text);
    if (toks.ok() && toks->size() >= 2 && (*toks)[0].IsWord("alter") && (*toks)[1].IsWord("table"))
      return absl::InvalidArgumentError(
          "--alter takes what follows ALTER TABLE <name>, e.g. \"ALTER COLUMN id TYPE bigint\"");
  }
  for (const auto& sc : *parsed) {
    switch (sc.kind) {
      case AlterSubcommand::Kind::kRenameTable:
      case AlterSubcommand::Kind::kSetSchema:
        return absl::InvalidArgumentError("--alter cannot rename the table or move it to another schema");
      case AlterSubcommand::Kind::kSetUnlogged:
        return absl::InvalidArgumentError(
            "--alter cannot SET UNLOGGED: an unlogged table's changes are not in the WAL and a crash empties it");
      case AlterSubcommand::Kind::kSetLogged:
        return absl::InvalidArgumentError(
            "--alter cannot SET LOGGED: the table is logged already, and the new table is always logged");
      case AlterSubcommand::Kind::kDropExpression:
        return absl::InvalidArgumentError(fmt::format(
            "--alter cannot DROP EXPRESSION of {}: a generated column's values are not copied, they would be lost",
            sc.column));
      case AlterSubcommand::Kind::kAlterColumnType:
      case AlterSubcommand::Kind::kOther:
        break;
    }
  }
  return absl::OkStatus();
}

absl::Status AttachUsingExpressions(std::string_view alter, const std::string& table,
                                    const std::vector<std::string>& key_names, std::vector<MappedColumn>* columns) {
  ASSIGN_OR_RETURN(auto parsed, ParseAlterSubcommands(alter));
  for (const auto& sc : parsed) {
    if (sc.kind != AlterSubcommand::Kind::kAlterColumnType || !sc.has_using) continue;
    ASSIGN_OR_RETURN(auto col_tokens, sql::Tokenize(sc.column));
    if (col_tokens.size() != 1) return absl::InternalError("cannot read the column of a USING subcommand");
    ASSIGN_OR_RETURN(std::string name, sql::IdentifierName(col_tokens.front()));
    if (std::find(key_names.begin(), key_names.end(), name) != key_names.end())
      return absl::FailedPreconditionError(fmt::format(
          "ALTER COLUMN {} TYPE ... USING on a key column is not supported: the key is matched by plain casts",
          sc.column));
    MappedColumn* target = nullptr;
    for (auto& c : *columns)
      if (c.kept && c.source_name == name) target = &c;
    if (target == nullptr)
      return absl::FailedPreconditionError(
          fmt::format("ALTER COLUMN {} TYPE ... USING: the original has no such column to convert", sc.column));
    ASSIGN_OR_RETURN(auto expr_tokens, sql::Tokenize(sc.using_expr));
    for (size_t i = 0; i < expr_tokens.size(); ++i) {
      const auto& t = expr_tokens[i];
      if (t.kind != TokenKind::kIdentifier && t.kind != TokenKind::kQuotedIdentifier) continue;
      auto tn = sql::IdentifierName(t);
      bool qualifier = i + 1 < expr_tokens.size() && expr_tokens[i + 1].Is(TokenKind::kPunctuation, ".");
      bool qualified = i > 0 && expr_tokens[i - 1].Is(TokenKind::kPunctuation, ".");
      if (tn.ok() && *tn == table && *tn != name && !qualifier && !qualified)
        return absl::FailedPreconditionError(fmt::format(
            "ALTER COLUMN {} TYPE ... USING: the expression may use only the column, not the whole row", sc.column));
    }
    target->using_expr = sc.using_expr;
    target->using_alias = table;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> AlterTextForShadow(std::string_view alter, const std::string& table,
                                               const std::string& shadow) {
  ASSIGN_OR_RETURN(auto parsed, ParseAlterSubcommands(alter));
  ASSIGN_OR_RETURN(auto toks, sql::Tokenize(alter));
  auto in_using = [&](size_t offset) {
    for (const auto& sc : parsed)
      if (sc.has_using && offset >= sc.using_offset && offset < sc.offset + sc.text.size()) return true;
    return false;
  };
  std::string out;
  size_t copied = 0;
  for (size_t i = 0; i + 1 < toks.size(); ++i) {
    const Token& t = toks[i];
    if (t.kind != TokenKind::kIdentifier && t.kind != TokenKind::kQuotedIdentifier) continue;
    if (!toks[i + 1].Is(TokenKind::kPunctuation, ".") || !in_using(t.offset)) continue;
    // In schema.table.column the first name is the schema.
    bool after_dot = i > 0 && toks[i - 1].Is(TokenKind::kPunctuation, ".");
    bool is_schema = !after_dot && i + 3 < toks.size() && toks[i + 3].Is(TokenKind::kPunctuation, ".");
    if (is_schema) continue;
    auto name = sql::IdentifierName(t);
    if (!name.ok() || *name != table) continue;
    out.append(alter.substr(copied, t.offset - copied));
    out.append(QuoteIdent(shadow));
    copied = t.end();
  }
  out.append(alter.substr(copied));
  return out;
}

}  // namespace shadowcopy::engine
