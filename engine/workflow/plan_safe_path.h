// The commands of each safe path, built from a statement's shape: the
// shadowcopy command lines (online rewrite, backfill) and the SQL sequences
// (CONCURRENTLY, NOT VALID then VALIDATE, CHECK then SET NOT NULL, a unique
// index built concurrently then attached).
//
// Pure. Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_PLAN_SAFE_PATH_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_PLAN_SAFE_PATH_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/workflow/plan_statement.h"

namespace shadowcopy::workflow {

// "public.orders" -> {"public", "orders"} (unquoted).
std::pair<std::string, std::string> SplitRelation(std::string_view relation);

// A word for a POSIX shell: "text" when nothing in it is special inside
// double quotes, else 'text' with ' written '\''.
std::string ShellQuote(std::string_view text);

// shadowcopy --table T [--schema S] --alter "..." --execute (no --alter:
// a plain rebuild).
std::string RewriteCommand(std::string_view relation, std::string_view alter);

// shadowcopy backfill --table T [--schema S] (--set "..." | --delete)
// --where "..." --execute, for a simple UPDATE or DELETE.
std::string BackfillCommand(const StatementShape& shape);

// CREATE/DROP INDEX and REINDEX with CONCURRENTLY (one DROP per index).
std::vector<std::string> ConcurrentIndexCommands(std::string_view sql, const StatementShape& shape);

// ADD CONSTRAINT <name> <definition> NOT VALID; VALIDATE CONSTRAINT <name>.
std::vector<std::string> NotValidThenValidateCommands(std::string_view relation, const ConstraintSpec& c);

// CHECK (c IS NOT NULL) NOT VALID; VALIDATE; SET NOT NULL; DROP the CHECK.
std::vector<std::string> CheckThenSetNotNullCommands(std::string_view relation, std::string_view column);

// CREATE UNIQUE INDEX CONCURRENTLY; ADD CONSTRAINT ... USING INDEX. Empty
// when the constraint's columns are not plain columns.
std::vector<std::string> UniqueViaIndexCommands(std::string_view relation, const ConstraintSpec& c);

// The name PostgreSQL would give an unnamed constraint (table_col_check,
// table_col_fkey, table_col_key, table_pkey), or the given name.
std::string ConstraintName(std::string_view relation, const ConstraintSpec& c);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_PLAN_SAFE_PATH_H_
