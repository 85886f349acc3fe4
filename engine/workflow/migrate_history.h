// The history of versioned migrations in the target database:
// shadowcopy.migrations, one row per migration, created on first use under
// the state schema's advisory lock. Each statement's completion is recorded
// in the statement's own transaction (UnitDoneSql), so the record never
// claims a statement that did not commit, nor misses one that did.
//
// Thread-safety: functions use the connection passed in.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_HISTORY_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_HISTORY_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/migrate_state.h"

namespace shadowcopy::workflow {

// Creates the schema and table when missing (idempotent).
// REQUIRES: `conn` is not in a transaction.
absl::Status EnsureHistory(PgConn* conn);

// Every row, or none when the table does not exist yet (read-only).
absl::StatusOr<std::vector<HistoryRow>> LoadHistory(PgConn* conn);

// Marks `file` running with `total` statements, keeping the applied
// statements (and their hashes) of an earlier try when `keep_applied`.
// `plan_json` goes to the `plan` column.
absl::Status MarkRunning(PgConn* conn, const MigrationFile& file, int total, bool keep_applied,
                         const std::string& plan_json);

// Statement and parameters recording that the statements `[0, applied)` are
// applied with these `hashes`; run in the unit's own transaction.
std::pair<std::string, PgParams> UnitDoneSql(const MigrationFile& file, int applied,
                                             const std::vector<std::string>& hashes);

absl::Status MarkApplied(PgConn* conn, const MigrationFile& file, int64_t execution_ms);
absl::Status MarkFailed(PgConn* conn, const MigrationFile& file, int64_t execution_ms, const std::string& error,
                        const std::string& statement);

// Rows `applied` (baseline) for `files` that have none; returns how many.
absl::StatusOr<int> InsertBaseline(PgConn* conn, const std::vector<const MigrationFile*>& files);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_HISTORY_H_
