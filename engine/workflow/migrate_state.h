// What `migrate` decides from the files and the history, without I/O: each
// migration's state for `status`, the problems `validate` lists, where an
// interrupted migration resumes, and how a file's statements group into the
// units the runner commits one at a time.
//
// Thread-safety: stateless functions over plain data.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_STATE_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_STATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/plan_facts.h"

namespace shadowcopy::workflow {

// One row of the history table (shadowcopy.migrations).
struct HistoryRow {
  std::string version;      // MigrationVersion::ToString()
  std::string description;
  std::string file;
  std::string checksum;
  std::string installed_by;
  std::string installed_on;  // timestamptz as text, ISO
  int64_t execution_ms = 0;
  std::string state;         // "applied", "failed", "running"
  int statements_applied = 0;
  int statements_total = 0;
  std::vector<std::string> statement_hashes;  // of the applied statements, in order
  std::optional<std::string> error;
  std::optional<std::string> error_statement;
  bool baseline = false;
};

enum class MigrationState { kApplied, kPending, kFailed, kRunning, kModified, kMissing, kOutOfOrder };

// "applied", "pending", "failed", "running", "modified", "missing", "out-of-order".
std::string_view MigrationStateName(MigrationState state);

struct MigrationStatus {
  std::string version;
  std::string description;
  std::string file;      // the file's name, else the history's
  MigrationState state;
  std::string checksum;  // the file's, else the history's
  const MigrationFile* migration = nullptr;  // null when missing
  const HistoryRow* row = nullptr;           // null when never run
};

// Every migration in version order, files and history joined by version.
// A `running` row counts as running only while `runner_active` (another
// runner holds the lock); otherwise it was interrupted and counts as failed.
// REQUIRES: `files` and `rows` outlive the result.
std::vector<MigrationStatus> ComputeStatus(const std::vector<MigrationFile>& files,
                                           const std::vector<HistoryRow>& rows, bool runner_active);

// True when any state is failed, modified or missing (`status` exits 1).
bool NeedsAttention(const std::vector<MigrationStatus>& statuses);

// `validate`'s problems, one line each: applied files changed (modified) or
// gone (missing).
std::vector<std::string> ValidationProblems(const std::vector<MigrationStatus>& statuses);

// Where a failed or interrupted migration resumes: the number of statements
// already applied, once each applied statement's hash equals the file's
// statement at that position. FailedPrecondition naming the first statement
// that changed, or saying the file now has fewer statements.
absl::StatusOr<int> ResumeAt(const HistoryRow& row, const MigrationScript& script, std::string_view file);

// The runner's units: [begin, end) ranges of statements committed together.
// One statement each, except an explicit BEGIN ... COMMIT block (one unit)
// and a transaction=file or literal file (one unit for the whole file).
struct Unit {
  int begin = 0;
  int end = 0;
};
std::vector<Unit> Units(const MigrationScript& script);

// A migration `migrate` would run: its parsed script, where it starts
// (after the statements an earlier try applied) and each statement's path.
struct PendingMigration {
  const MigrationFile* file = nullptr;
  MigrationScript script;
  int resume_at = 0;       // statements already applied
  bool resumed = false;    // a failed or interrupted earlier try
  std::vector<SafePath> paths;  // per statement, SafePathFor
};

// What `migrate` runs, in version order, up to `to` (all when nullopt).
// FailedPrecondition, listing them, when applied files were changed or
// removed, when a file older than an applied one is pending and
// `out_of_order` is false, when a resumed file's applied statements changed,
// or when a statement's safe path cannot be executed yet; InvalidArgument
// for a file that does not parse. Checked for every file before anything runs.
absl::StatusOr<std::vector<PendingMigration>> PendingMigrations(const std::vector<MigrationStatus>& statuses,
                                                                const std::optional<MigrationVersion>& to,
                                                                bool out_of_order);

// The plan a migration is applied with, for the history's `plan` column:
// {"statements": [{"line", "safe_path"}], "transaction": "statement|file|literal"}.
std::string PlanJson(const PendingMigration& pending);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_STATE_H_
