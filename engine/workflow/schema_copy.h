// Copies the target database's schema (no data) to the rehearsal database:
// pg_dump --schema-only of the target, then psql of that file. Roles,
// privileges, ownership, tablespaces, publications, subscriptions, security
// labels and comments are left out: the rehearsal server need not have the
// target's roles or directories, and none of them changes what a statement
// locks or rewrites. pg_dump waits at most kDumpLockWait for a table lock on
// the target, then fails instead of queueing behind the application.
//
// Thread-safety: stateless; runs child processes (subprocess.h).
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_SCHEMA_COPY_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_SCHEMA_COPY_H_

#include <stop_token>
#include <string>

#include "absl/status/status.h"

namespace shadowcopy::workflow {

// Dumps the schema of the database `target_conninfo` names into `file`.
// FailedPrecondition with pg_dump's error line; Cancelled on `stop`.
absl::Status DumpSchema(const std::string& bindir, const std::string& target_conninfo, const std::string& file,
                        const std::string& log, const std::stop_token& stop);

// Runs `file` (from DumpSchema) in the database `conninfo` names, stopping at
// the first error. FailedPrecondition with psql's error line; Cancelled on `stop`.
absl::Status LoadSchema(const std::string& bindir, const std::string& conninfo, const std::string& file,
                        const std::string& log, const std::stop_token& stop);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_SCHEMA_COPY_H_
