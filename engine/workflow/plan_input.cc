#include "engine/workflow/plan_input.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/status/status.h"
#include "common/sql_lexer.h"
#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

// The first two bare words of `sql` (comments skipped), lower-cased by
// IsWord comparisons at the caller.
std::vector<sql::Token> Words(std::string_view sql) {
  std::vector<sql::Token> out;
  auto tokens = sql::Tokenize(sql);
  if (!tokens.ok()) return out;
  for (const sql::Token& t : *tokens) {
    if (t.kind == sql::TokenKind::kComment) continue;
    out.push_back(t);
    if (out.size() == 2) break;
  }
  return out;
}

}  // namespace

TransactionControl ClassifyTransactionControl(std::string_view sql) {
  std::vector<sql::Token> w = Words(sql);
  if (w.empty()) return TransactionControl::kNone;
  const sql::Token& first = w[0];
  const bool second_is = w.size() > 1;
  if (first.IsWord("begin")) return TransactionControl::kBegin;
  if (first.IsWord("start") && second_is && w[1].IsWord("transaction")) return TransactionControl::kBegin;
  if (first.IsWord("end") || first.IsWord("abort")) return TransactionControl::kEnd;
  if (first.IsWord("commit") || first.IsWord("rollback")) {
    // COMMIT PREPARED / ROLLBACK PREPARED act on another transaction;
    // ROLLBACK TO [SAVEPOINT] stays in the block.
    if (second_is && (w[1].IsWord("prepared") || w[1].IsWord("to"))) return TransactionControl::kNone;
    return TransactionControl::kEnd;
  }
  if (first.IsWord("prepare") && second_is && w[1].IsWord("transaction")) return TransactionControl::kEnd;
  return TransactionControl::kNone;
}

absl::StatusOr<std::vector<PlannedStatement>> SplitMigration(std::string_view file, std::string_view text) {
  auto split = sql::SplitStatements(text);
  if (!split.ok()) return absl::InvalidArgumentError(fmt::format("{}: {}", file, split.status().message()));
  std::vector<PlannedStatement> out;
  bool in_block = false;
  for (const sql::Statement& s : *split) {
    PlannedStatement p;
    p.file = std::string(file);
    p.line = s.line;
    p.sql = s.text;
    switch (ClassifyTransactionControl(s.text)) {
      case TransactionControl::kBegin:
        in_block = true;  // a BEGIN inside a block is only a warning on the server
        p.in_transaction_block = true;
        break;
      case TransactionControl::kEnd:
        p.in_transaction_block = in_block;
        in_block = false;
        break;
      case TransactionControl::kNone:
        p.in_transaction_block = in_block;
        break;
    }
    out.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<std::vector<PlannedStatement>> ReadMigrations(const std::vector<std::string>& paths) {
  if (paths.empty()) return absl::InvalidArgumentError("give one or more migration files, or - for stdin");
  std::vector<PlannedStatement> all;
  bool stdin_read = false;
  for (const std::string& path : paths) {
    std::string text;
    if (path == "-") {
      if (stdin_read) return absl::InvalidArgumentError("- (stdin) may be given once");
      stdin_read = true;
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      std::ifstream in(path, std::ios::binary);
      if (!in) {
        int err = errno;
        std::string msg = fmt::format("cannot read {}: {}", path, std::strerror(err));
        if (err == ENOENT) return absl::NotFoundError(msg);
        if (err == EACCES) return absl::PermissionDeniedError(msg);
        return absl::FailedPreconditionError(msg);
      }
      std::ostringstream buf;
      buf << in.rdbuf();
      if (in.bad()) return absl::FailedPreconditionError(fmt::format("cannot read {}", path));
      text = buf.str();
    }
    ASSIGN_OR_RETURN(auto statements, SplitMigration(path, text));
    for (auto& s : statements) all.push_back(std::move(s));
  }
  return all;
}

}  // namespace shadowcopy::workflow
