// The rehearsal: runs a migration's statements, in order, somewhere that is
// not production, and records what the server did (plan_facts.h). Production
// itself is only read: its schema (pg_dump --schema-only), its catalogs and
// the sizes of the relations the statements touch.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_REHEARSAL_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_REHEARSAL_H_

#include <stop_token>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/workflow/plan_facts.h"

namespace shadowcopy::workflow {

enum class RehearsalMode {
  kLocal,  // a throwaway server started from the local binaries, removed after
  kDsn,    // a scratch database on the user's staging server (rehearsal_dsn)
  kNone,   // no rehearsal: static rules only
};

struct RehearsalOptions {
  RehearsalMode mode = RehearsalMode::kLocal;
  std::string rehearsal_dsn;  // kDsn only
  // kDsn only: run against the staging database itself, each statement in a
  // transaction rolled back, so durations are real.
  bool keep_data = false;
  // A stop request (SIGINT, ...) cancels the statement or program running
  // and returns Cancelled, after the same cleanup as any other path.
  std::stop_token stop;
};

// Fills PlanFacts for `statements` against the production database at
// `target_dsn`: observations from the rehearsal, sizes and the rewrite
// throughput from production's catalogs. Statuses: Unavailable when the
// target (or the staging server) cannot be reached; InvalidArgument for a
// statement the rehearsal cannot run (its observation carries the error and
// the facts are still returned through `facts_on_error` when not null);
// FailedPrecondition when the local server binaries are missing, the schema
// does not dump or load, or keep_data names the target database itself;
// Cancelled on a stop request.
// Nothing is left behind on any path: no server, directory or database.
// Fills: target, rehearsal ("local"/"dsn"), server_version_num,
// rewrite_bytes_per_s (0 when it could not be measured), rehearsal_s, one
// StatementFacts per statement (the statements after a failing one listed
// with rehearsed = false), and sizes of every relation an observation names
// or the statements' text resolves to on production.
// A command runs it with its stop signals turned into `options.stop` (a
// std::stop_source requested by the signal watcher, as RunControlled does).
// With kNone nothing is read anywhere: the statements are listed unrehearsed.
absl::StatusOr<PlanFacts> Rehearse(const std::string& target_dsn,
                                   const std::vector<PlannedStatement>& statements,
                                   const RehearsalOptions& options,
                                   PlanFacts* facts_on_error = nullptr);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_REHEARSAL_H_
