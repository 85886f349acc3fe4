// `migrate ci`: the round trip of a migrations directory on a throwaway
// local server (rehearsal_server.h) loaded with the target's schema and
// history, or empty: apply every pending migration, undo them one at a
// time, apply them again, comparing the normalised `pg_dump --schema-only`
// (schema_diff.h) after each step. The history tables of shadowcopy itself
// are left out of the comparison. The target is only read (its schema, its
// history); nothing runs there.
//
// Thread-safety: one thread; `stop` may be requested from any.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_CI_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_CI_H_

#include <optional>
#include <stop_token>
#include <string>

#include "absl/status/statusor.h"
#include "engine/workflow/migrate_runner.h"

namespace shadowcopy::workflow {

struct CiOptions {
  std::string dir;
  // The target: its schema and history are loaded. With `empty`, only its
  // major version is read (the newest local binaries without a dsn).
  std::string dsn;
  bool empty = false;
  MigrateConfig config;  // lock_timeout and retries of the statements
  // A stop request cancels the statement or program running and returns
  // Cancelled, after the same cleanup as any other path.
  std::stop_token stop;
};

struct CiResult {
  bool passed = false;
  int migrations = 0;                  // pending ones taken round trip
  std::string failure;                 // one line, when !passed
  std::optional<std::string> version;  // the version at fault, when known
  std::string diff;                    // unified diff of the schemas, when they differed
  int dumps = 0;
  double seconds = 0;
};

// Runs the round trip. A failed check (a migration or undo that fails, a
// missing undo file, a schema that differs, a target history that needs
// attention) is a result with passed = false. Statuses: InvalidArgument for
// a directory or file that does not parse; Unavailable when the target
// cannot be reached; FailedPrecondition when the local server binaries are
// missing or the target's schema does not load; Cancelled on a stop request.
// The server and its directory are removed on every path.
absl::StatusOr<CiResult> RunMigrateCi(const CiOptions& options, const Say& say);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_CI_H_
