#include "engine/workflow/statement_kind.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <set>

#include "common/sql_lexer.h"

namespace shadowcopy::workflow {
namespace {

// The statement's tokens without comments; empty when it does not tokenize.
std::vector<sql::Token> Words(std::string_view sql) {
  auto tokens = sql::Tokenize(sql);
  std::vector<sql::Token> out;
  if (!tokens.ok()) return out;
  for (const auto& t : *tokens)
    if (t.kind != sql::TokenKind::kComment) out.push_back(t);
  return out;
}

bool WordAt(const std::vector<sql::Token>& w, size_t i, std::string_view word) {
  return i < w.size() && w[i].IsWord(word);
}

bool AnyWord(const std::vector<sql::Token>& w, std::string_view word) {
  return std::any_of(w.begin(), w.end(), [&](const sql::Token& t) { return t.IsWord(word); });
}

TxnStatement TxnStatementOf(const std::vector<sql::Token>& w) {
  if (WordAt(w, 0, "begin") || (WordAt(w, 0, "start") && WordAt(w, 1, "transaction"))) return TxnStatement::kBegin;
  // COMMIT PREPARED / ROLLBACK PREPARED act on another transaction;
  // ROLLBACK [WORK] TO [SAVEPOINT] stays in the block.
  if (WordAt(w, 0, "commit") || WordAt(w, 0, "end"))
    return WordAt(w, 1, "prepared") ? TxnStatement::kOther : TxnStatement::kCommit;
  if (WordAt(w, 0, "rollback") || WordAt(w, 0, "abort"))
    return WordAt(w, 1, "prepared") || AnyWord(w, "to") ? TxnStatement::kOther : TxnStatement::kRollback;
  if (WordAt(w, 0, "prepare") && WordAt(w, 1, "transaction")) return TxnStatement::kPrepare;
  return TxnStatement::kOther;
}

// Why the server refuses `w` inside a transaction block, or "" when it does not.
std::string OutsideTransactionWhy(const std::vector<sql::Token>& w) {
  if (WordAt(w, 0, "create")) {
    size_t i = WordAt(w, 1, "unique") ? 2 : 1;
    if (WordAt(w, i, "index") && WordAt(w, i + 1, "concurrently")) return "CREATE INDEX CONCURRENTLY";
    if (WordAt(w, 1, "database")) return "CREATE DATABASE";
    if (WordAt(w, 1, "tablespace")) return "CREATE TABLESPACE";
    if (WordAt(w, 1, "subscription")) return "CREATE SUBSCRIPTION";
    return "";
  }
  if (WordAt(w, 0, "drop")) {
    if (WordAt(w, 1, "index") && WordAt(w, 2, "concurrently")) return "DROP INDEX CONCURRENTLY";
    if (WordAt(w, 1, "database")) return "DROP DATABASE";
    if (WordAt(w, 1, "tablespace")) return "DROP TABLESPACE";
    if (WordAt(w, 1, "subscription")) return "DROP SUBSCRIPTION";
    return "";
  }
  if (WordAt(w, 0, "reindex")) {
    if (AnyWord(w, "concurrently")) return "REINDEX CONCURRENTLY";
    if (WordAt(w, 1, "schema") || WordAt(w, 1, "database") || WordAt(w, 1, "system"))
      return "REINDEX " + std::string(w[1].text);
    return "";
  }
  if (WordAt(w, 0, "vacuum")) return "VACUUM";
  if (WordAt(w, 0, "alter")) {
    if (WordAt(w, 1, "system")) return "ALTER SYSTEM";
    for (size_t i = 2; i + 1 < w.size(); ++i)
      if (w[i].IsWord("detach") && WordAt(w, i + 1, "partition") && AnyWord(w, "concurrently"))
        return "DETACH PARTITION CONCURRENTLY";
  }
  return "";
}

}  // namespace

TxnStatement ClassifyTxnStatement(std::string_view sql) { return TxnStatementOf(Words(sql)); }

RehearsalKind ClassifyForRehearsal(std::string_view sql) {
  RehearsalKind kind;
  auto w = Words(sql);
  if (w.empty()) return kind;
  switch (TxnStatementOf(w)) {
    case TxnStatement::kBegin: kind.control = RehearsalTxnControl::kBegin; break;
    case TxnStatement::kCommit: kind.control = RehearsalTxnControl::kCommit; break;
    case TxnStatement::kRollback: kind.control = RehearsalTxnControl::kRollback; break;
    case TxnStatement::kPrepare:
    case TxnStatement::kOther: break;
  }
  kind.why = OutsideTransactionWhy(w);
  kind.outside_transaction = !kind.why.empty();
  return kind;
}

int LockModeStrength(std::string_view mode) {
  static constexpr std::array<std::string_view, 8> kModes = {
      "AccessShareLock", "RowShareLock",          "RowExclusiveLock", "ShareUpdateExclusiveLock",
      "ShareLock",       "ShareRowExclusiveLock", "ExclusiveLock",    "AccessExclusiveLock"};
  for (size_t i = 0; i < kModes.size(); ++i)
    if (kModes[i] == mode) return static_cast<int>(i) + 1;
  return 0;
}

std::vector<std::string> CandidateRelationNames(std::string_view sql) {
  auto w = Words(sql);
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](std::string name) {
    if (seen.insert(name).second) out.push_back(std::move(name));
  };
  // U&"..." is left out: PostgreSQL 15's to_regclass() raises an error on it.
  auto is_ident = [](const sql::Token& t) {
    return t.kind == sql::TokenKind::kIdentifier ||
           (t.kind == sql::TokenKind::kQuotedIdentifier && !t.text.empty() && t.text[0] == '"');
  };
  for (size_t i = 0; i < w.size(); ++i) {
    if (!is_ident(w[i])) continue;
    // The second part of `a.b` was added with the pair; alone it may be a
    // column (t.col), which resolves to nothing or to a same-named relation.
    bool after_dot = i >= 2 && w[i - 1].Is(sql::TokenKind::kPunctuation, ".") && is_ident(w[i - 2]);
    if (!after_dot) add(std::string(w[i].text));
    if (i + 2 < w.size() && w[i + 1].Is(sql::TokenKind::kPunctuation, ".") && is_ident(w[i + 2]))
      add(std::string(w[i].text) + "." + std::string(w[i + 2].text));
  }
  return out;
}

}  // namespace shadowcopy::workflow
