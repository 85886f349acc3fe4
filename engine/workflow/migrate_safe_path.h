// How `migrate` runs one statement: the seam where `plan`'s safe paths plug
// in. Until `plan`'s rules are wired here, only what the statement's own
// words tell cheaply is classified; everything else runs as written.
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_SAFE_PATH_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_SAFE_PATH_H_

#include "engine/workflow/migrate_files.h"
#include "engine/workflow/plan_facts.h"

namespace shadowcopy::workflow {

// The safe path of `statement` of a file with `options`:
//   - a `literal` file, or a statement in a transaction (transaction=file or
//     an explicit BEGIN block): kAsIs;
//   - CREATE [UNIQUE] INDEX / DROP INDEX / REINDEX ... CONCURRENTLY:
//     kConcurrentIndex (run as written, outside a transaction, an INVALID
//     leftover of an earlier try dropped first);
//   - anything else: kAsIs (with lock_timeout and retries).
// `facts`, when given, is what `plan` knows of the statement (its
// rehearsal's observation); the rules replacing this function judge it.
SafePath SafePathFor(const PlannedStatement& statement, const FileOptions& options,
                     const StatementFacts* facts = nullptr);

// Whether the runner can execute `path` yet (as-is and concurrent-index).
bool RunnerExecutes(SafePath path);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_SAFE_PATH_H_
