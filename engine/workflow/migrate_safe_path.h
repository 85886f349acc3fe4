// How `migrate` runs one statement: `plan`'s judgement of every pending
// statement (its safe path and the commands of that path), with the
// target's sizes, column types and indexes; and the shapes of the steps the
// engine runs (an online rewrite of one table, possibly covering several
// consecutive ALTERs of it, and a batched backfill).
//
// Pure. Thread-safety: stateless.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_SAFE_PATH_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_SAFE_PATH_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/migrate_state.h"
#include "engine/workflow/plan_facts.h"

namespace shadowcopy::workflow {

// The safe path of `statement` from its own words only (before `plan`'s
// judgement, and what a literal or transactional statement keeps):
//   - a `literal` file, or a statement in a transaction (transaction=file or
//     an explicit BEGIN block): kAsIs;
//   - CREATE [UNIQUE] INDEX / DROP INDEX / REINDEX ... CONCURRENTLY:
//     kConcurrentIndex;
//   - anything else: kAsIs.
SafePath SafePathFor(const PlannedStatement& statement, const FileOptions& options,
                     const StatementFacts* facts = nullptr);

// Whether the runner executes `path` (every path but kRefuse).
bool RunnerExecutes(SafePath path);

// The unapplied statements of `pending`, in order, as `plan` judges them
// (for ReadTargetCatalog, which fills the target's sizes and columns).
PlanFacts MigrateFacts(const std::vector<PendingMigration>& pending);

// Gives every unapplied statement of `pending` plan's safe path and its
// commands, judged over `catalog` (MigrateFacts filled by ReadTargetCatalog).
// A statement of a literal or transaction=file file, or of an explicit
// BEGIN block, keeps kAsIs (its transaction is the file's). A statement the
// judgement refuses: FailedPrecondition naming the file, line and why.
absl::Status AssignPlanPaths(const PlanFacts& catalog, std::vector<PendingMigration>* pending);

// One online rewrite: the table and the --alter text.
struct RewriteStep {
  std::string schema, table;
  std::string alter;  // empty: a plain rebuild (VACUUM FULL, CLUSTER)
};

// The statements [begin, end) of `p` one online rewrite runs, and its step:
// consecutive kOnlineRewrite ALTER TABLEs of one table whose subcommands
// name distinct columns become one rewrite (ALTER TABLE t A; ALTER TABLE t
// B has the result of ALTER TABLE t A, B then). nullopt when the statement
// at `begin` is not one.
struct RewriteGroup {
  int end = 0;
  RewriteStep step;
};
std::optional<RewriteGroup> RewriteGroupAt(const PendingMigration& p, int begin);

// One batched backfill: a simple UPDATE (set non-empty) or DELETE.
struct BackfillStep {
  std::string schema, table;
  std::string set;  // empty: DELETE
  std::string where;
};
std::optional<BackfillStep> BackfillOf(std::string_view sql);

// The command-line words of the engine run (after the program name):
// `--table T --schema S --alter A --execute [--resume] [--drop-old-table]`,
// `backfill --table T --schema S (--set X | --delete) --where W --execute
// [--resume]`; `--dsn` first when `dsn` is not empty.
std::vector<std::string> RewriteArgs(const std::string& dsn, const RewriteStep& step, bool resume,
                                     bool drop_old_table);
std::vector<std::string> BackfillArgs(const std::string& dsn, const BackfillStep& step, bool resume);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_SAFE_PATH_H_
