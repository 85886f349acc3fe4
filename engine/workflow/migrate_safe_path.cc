#include "engine/workflow/migrate_safe_path.h"

#include <cctype>
#include <string>

#include "common/sql_lexer.h"

namespace shadowcopy::workflow {

SafePath SafePathFor(const PlannedStatement& statement, const FileOptions& options, const StatementFacts*) {
  if (options.literal || options.transaction_file || statement.in_transaction_block) return SafePath::kAsIs;
  auto tokens = sql::Tokenize(statement.sql);
  if (!tokens.ok()) return SafePath::kAsIs;
  std::vector<const sql::Token*> words;
  for (const sql::Token& t : *tokens)
    if (t.kind != sql::TokenKind::kComment) words.push_back(&t);
  auto is = [&](size_t i, const char* w) { return i < words.size() && words[i]->IsWord(w); };
  bool index_statement = (is(0, "create") && (is(1, "index") || (is(1, "unique") && is(2, "index")))) ||
                         (is(0, "drop") && is(1, "index")) || is(0, "reindex");
  if (!index_statement) return SafePath::kAsIs;
  for (const auto* t : words)
    if (t->IsWord("concurrently")) return SafePath::kConcurrentIndex;
  return SafePath::kAsIs;
}

bool RunnerExecutes(SafePath path) { return path == SafePath::kAsIs || path == SafePath::kConcurrentIndex; }

}  // namespace shadowcopy::workflow
