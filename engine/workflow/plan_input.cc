#include "engine/workflow/plan_input.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/status/status.h"
#include "common/sql_lexer.h"
#include "common/status.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/statement_kind.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

// V1_2__name.sql -> {1, 2}; other names sort after versioned ones, by name.
std::vector<long> FlywayVersion(const std::string& name) {
  std::vector<long> out;
  if (name.size() < 2 || (name[0] != 'V' && name[0] != 'v')) return out;
  size_t end = name.find("__");
  if (end == std::string::npos) return out;
  const char* p = name.c_str() + 1;
  const char* stop = name.c_str() + end;
  while (p < stop) {
    char* e = nullptr;
    long v = std::strtol(p, &e, 10);
    if (e == p) return {};
    out.push_back(v);
    p = e;
    if (p < stop && (*p == '.' || *p == '_')) ++p;
  }
  return out;
}

// The .sql files of a directory, in version order (V1__, V2__, ..., V10__).
absl::StatusOr<std::vector<std::string>> DirectoryFiles(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    // Undo files (U<version>__, .down.sql) are not part of the forward plan.
    auto kind = ParseMigrationFileName(name);
    if (kind.ok() && kind->has_value() && (*kind)->kind == FileKind::kUndo) continue;
    if (entry.is_regular_file() && name.size() > 4 && name.compare(name.size() - 4, 4, ".sql") == 0)
      names.push_back(name);
  }
  if (ec) return absl::FailedPreconditionError(fmt::format("cannot read directory {}: {}", dir, ec.message()));
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    auto va = FlywayVersion(a), vb = FlywayVersion(b);
    if (va.empty() != vb.empty()) return !va.empty();
    if (va != vb) return va < vb;
    return a < b;
  });
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back((std::filesystem::path(dir) / n).string());
  return out;
}

}  // namespace

TransactionControl ClassifyTransactionControl(std::string_view sql) {
  switch (ClassifyTxnStatement(sql)) {
    case TxnStatement::kBegin: return TransactionControl::kBegin;
    case TxnStatement::kCommit:
    case TxnStatement::kRollback:
    case TxnStatement::kPrepare: return TransactionControl::kEnd;
    case TxnStatement::kOther: break;
  }
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
  std::vector<std::string> expanded;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (path != "-" && std::filesystem::is_directory(path, ec)) {
      ASSIGN_OR_RETURN(auto files, DirectoryFiles(path));
      if (files.empty()) return absl::InvalidArgumentError(fmt::format("{} holds no .sql file", path));
      for (auto& f : files) expanded.push_back(std::move(f));
    } else {
      expanded.push_back(path);
    }
  }
  std::vector<PlannedStatement> all;
  bool stdin_read = false;
  for (const std::string& path : expanded) {
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
