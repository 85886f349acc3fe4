#include "engine/workflow/migrate_safe_path.h"

#include <cctype>
#include <set>
#include <string>

#include "common/sql_lexer.h"
#include "engine/workflow/plan_rules.h"
#include "engine/workflow/plan_safe_path.h"
#include "engine/workflow/plan_statement.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

bool KeepsItsTransaction(const MigrationScript& script, const PlannedStatement& s) {
  return script.options.literal || script.options.transaction_file || s.in_transaction_block;
}

// The ALTER TABLE subcommands a merged rewrite may combine: each names its
// own column (a table-wide one, such as SET TABLESPACE, is not combined).
bool CombinableAlter(const StatementShape& s, std::set<std::string>* columns) {
  if (s.kind != StatementKind::kAlterTable || s.actions.empty()) return false;
  for (const AlterAction& a : s.actions) {
    if (a.column.empty()) return false;
    if (a.kind != ActionKind::kAddColumn && a.kind != ActionKind::kAlterType && a.kind != ActionKind::kDropColumn &&
        a.kind != ActionKind::kSetDefault && a.kind != ActionKind::kDropDefault)
      return false;
    if (!columns->insert(a.column).second) return false;
  }
  return true;
}

std::string AlterTextOf(const StatementShape& s) {
  std::string out;
  for (const AlterAction& a : s.actions) out += (out.empty() ? "" : ", ") + a.text;
  return out;
}

}  // namespace

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

bool RunnerExecutes(SafePath path) { return path != SafePath::kRefuse; }

PlanFacts MigrateFacts(const std::vector<PendingMigration>& pending) {
  PlanFacts facts;
  facts.rehearsal = "none";
  for (const PendingMigration& p : pending)
    for (size_t i = p.resume_at; i < p.script.statements.size(); ++i) {
      StatementFacts sf;
      sf.statement = p.script.statements[i];
      sf.statement.file = p.file->file;
      facts.statements.push_back(std::move(sf));
    }
  return facts;
}

absl::Status AssignPlanPaths(const PlanFacts& catalog, std::vector<PendingMigration>* pending) {
  PlanFacts facts = catalog;
  facts.statements = MigrateFacts(*pending).statements;
  const PlanJudgement judged = JudgePlan(facts);
  size_t k = 0;
  std::vector<std::string> refused;
  for (PendingMigration& p : *pending) {
    const size_t n = p.script.statements.size();
    p.paths.resize(n, SafePath::kAsIs);
    p.commands.assign(n, {});
    for (size_t i = p.resume_at; i < n; ++i, ++k) {
      const PlannedStatement& s = p.script.statements[i];
      if (k >= judged.statements.size() || KeepsItsTransaction(p.script, s)) continue;
      const StatementJudgement& j = judged.statements[k];
      // A statement written CONCURRENTLY is as-is to plan: the runner still
      // builds it outside a transaction, an INVALID leftover dropped first.
      p.paths[i] = j.safe_path == SafePath::kAsIs ? SafePathFor(s, p.script.options) : j.safe_path;
      if (j.safe_path == SafePath::kRefuse) {
        std::string why;
        for (const Finding& f : j.findings)
          if (f.severity == Severity::kError) why += (why.empty() ? "" : "; ") + f.message;
        refused.push_back(fmt::format("{}:{}: {} ({})", p.file->file, s.line, why.empty() ? "refused" : why,
                                      "plan refuses it"));
        continue;
      }
      if (j.safe_path != SafePath::kAsIs && j.safe_path != SafePath::kOnlineRewrite &&
          j.safe_path != SafePath::kBackfill)
        p.commands[i] = j.commands;
    }
  }
  if (refused.empty()) return absl::OkStatus();
  std::string msg = "nothing was run: ";
  for (size_t i = 0; i < refused.size(); ++i) msg += (i ? "; " : "") + refused[i];
  return absl::FailedPreconditionError(msg);
}

std::optional<RewriteGroup> RewriteGroupAt(const PendingMigration& p, int begin) {
  const auto& stmts = p.script.statements;
  if (begin < 0 || begin >= static_cast<int>(stmts.size()) || p.paths[begin] != SafePath::kOnlineRewrite)
    return std::nullopt;
  const StatementShape first = ClassifyStatement(stmts[begin].sql);
  if (first.relation.empty()) return std::nullopt;
  RewriteGroup g;
  auto [schema, table] = SplitRelation(first.relation);
  g.step.schema = schema;
  g.step.table = table;
  g.end = begin + 1;
  if (first.kind != StatementKind::kAlterTable) return g;  // VACUUM FULL, CLUSTER: a rebuild
  g.step.alter = AlterTextOf(first);
  std::set<std::string> columns;
  if (!CombinableAlter(first, &columns)) return g;
  for (int i = begin + 1; i < static_cast<int>(stmts.size()) && p.paths[i] == SafePath::kOnlineRewrite; ++i) {
    const StatementShape next = ClassifyStatement(stmts[i].sql);
    if (next.relation != first.relation || !CombinableAlter(next, &columns)) break;
    g.step.alter += ", " + AlterTextOf(next);
    g.end = i + 1;
  }
  return g;
}

std::optional<BackfillStep> BackfillOf(std::string_view sql) {
  const StatementShape s = ClassifyStatement(sql);
  if ((s.kind != StatementKind::kUpdate && s.kind != StatementKind::kDelete) || !s.simple_dml ||
      s.relation.empty())
    return std::nullopt;
  if (s.kind == StatementKind::kUpdate && s.set_clause.empty()) return std::nullopt;
  auto [schema, table] = SplitRelation(s.relation);
  return BackfillStep{schema, table, s.kind == StatementKind::kUpdate ? s.set_clause : "",
                      s.has_where ? s.where_clause : "true"};
}

std::vector<std::string> RewriteArgs(const std::string& dsn, const RewriteStep& step, bool resume,
                                     bool drop_old_table) {
  std::vector<std::string> a;
  if (!dsn.empty()) a = {"--dsn", dsn};
  for (const std::string& w : {std::string("--table"), step.table, std::string("--schema"), step.schema})
    a.push_back(w);
  if (!step.alter.empty()) a.insert(a.end(), {"--alter", step.alter});
  a.push_back("--execute");
  if (resume) a.push_back("--resume");
  if (drop_old_table) a.push_back("--drop-old-table");
  return a;
}

std::vector<std::string> BackfillArgs(const std::string& dsn, const BackfillStep& step, bool resume) {
  std::vector<std::string> a = {"backfill"};
  if (!dsn.empty()) a.insert(a.end(), {"--dsn", dsn});
  for (const std::string& w : {std::string("--table"), step.table, std::string("--schema"), step.schema})
    a.push_back(w);
  if (step.set.empty())
    a.push_back("--delete");
  else
    a.insert(a.end(), {"--set", step.set});
  a.insert(a.end(), {"--where", step.where, "--execute"});
  if (resume) a.push_back("--resume");
  return a;
}

}  // namespace shadowcopy::workflow
