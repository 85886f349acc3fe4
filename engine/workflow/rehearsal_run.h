// Runs a migration's statements, in order, on one connection to the
// rehearsal database, observing each (observe.h).
//
// Each statement outside the file's own BEGIN ... COMMIT runs in a
// transaction of ours (BEGIN; statement; observe; COMMIT) so its locks are
// still held when pg_locks is read. Inside the file's block the statements run
// in the file's transaction and are observed one by one; the locks reported
// are those held since the block began (they accumulate), on relations that
// existed when it began. A statement the server runs only outside a
// transaction (CONCURRENTLY, VACUUM, ...) runs on its own: its rewrites and
// drops are observed, its locks cannot be (`note` says so).
//
// With `single_transaction` (the staging database itself, rolled back at the
// end) the whole run is one transaction: the file's BEGIN, COMMIT and
// ROLLBACK become a savepoint, its release and a rollback to it; a lock is
// reported when the statement (or its block) took it or made it stronger;
// statements that cannot run inside a transaction are not rehearsed.
//
// Thread-safety: one thread.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_REHEARSAL_RUN_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_REHEARSAL_RUN_H_

#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/pg.h"
#include "engine/workflow/plan_facts.h"

namespace shadowcopy::workflow {

// Appends one StatementFacts per statement to facts->statements and the
// relations observed to `relations` (for production's sizes). On a statement
// the server refuses: its observation carries the server's message, the
// statements after it are listed not rehearsed, and InvalidArgument
// "FILE:LINE: message". Unavailable when the rehearsal connection is lost,
// Cancelled on `stop`.
absl::Status RunStatements(PgConn* conn, const std::vector<PlannedStatement>& statements,
                           bool single_transaction, const std::stop_token& stop, PlanFacts* facts,
                           std::set<std::string>* relations);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_REHEARSAL_RUN_H_
