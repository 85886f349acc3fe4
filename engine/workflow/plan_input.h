// The input of `plan`: migration files (or stdin) split into statements by
// PostgreSQL's lexical rules, each marked when it lies inside the file's
// explicit BEGIN ... COMMIT block.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_PLAN_INPUT_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_PLAN_INPUT_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/workflow/plan_facts.h"

namespace shadowcopy::workflow {

// What a transaction-control statement does to the file's block (pure).
enum class TransactionControl {
  kNone,    // any other statement (SAVEPOINT, ROLLBACK TO, COMMIT PREPARED too)
  kBegin,   // BEGIN, START TRANSACTION
  kEnd,     // COMMIT, END, ROLLBACK, ABORT, PREPARE TRANSACTION
};
TransactionControl ClassifyTransactionControl(std::string_view sql);

// Splits the text of one file (`file` names it in messages and in each
// statement) and marks the statements of its BEGIN ... COMMIT blocks; a
// block left open at the end of the file runs to its end. InvalidArgument
// "FILE: ... at line N" for a lexical error or a psql meta-command.
absl::StatusOr<std::vector<PlannedStatement>> SplitMigration(std::string_view file,
                                                             std::string_view text);

// Reads each path ("-" reads stdin, once; a directory: its .sql files in
// Flyway version order, V2__ before V10__) and splits it, in order.
// NotFound / PermissionDenied (FailedPrecondition for other read errors)
// naming the file; InvalidArgument as SplitMigration, or when no path is
// given.
absl::StatusOr<std::vector<PlannedStatement>> ReadMigrations(const std::vector<std::string>& paths);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_PLAN_INPUT_H_
