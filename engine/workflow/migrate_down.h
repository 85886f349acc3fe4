// What `migrate down` undoes, without I/O: the applied migrations to take
// back, newest first, each with its undo file parsed and each statement's
// safe path, so the runner executes undo files exactly as it applies
// migrations (units, lock_timeout, retries, resume, history records).
//
// Thread-safety: stateless functions over plain data.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_DOWN_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_DOWN_H_

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/migrate_state.h"
#include "engine/workflow/migrate_window.h"

namespace shadowcopy::workflow {

// The undo file of `migration` as the runner runs it: kind kUndo (the
// history records it as an undo of the same version), the undo file's
// name, text and checksum. REQUIRES: migration.undo_file.
MigrationFile UndoFileOf(const MigrationFile& migration);

// The undos to run, newest first. `undos[i].file` points into `files`.
struct DownPlan {
  std::deque<MigrationFile> files;  // UndoFileOf each migration undone
  std::vector<PendingMigration> undos;
  std::vector<const MigrationStatus*> migrations;  // the migration each undo takes back
  // Taken back first, by the lossless revert of the run holding their
  // window (newest first; none of them has an entry in `undos`).
  std::vector<const MigrationStatus*> reverts;
};

// The migrations `migrate down` undoes: the newest one recorded in the
// history (applied, or an undo of it that was interrupted) when `to` is
// nullopt, else every recorded one newer than `to`, newest first. An
// interrupted undo resumes after its applied statements. Checked for every
// one before anything runs; FailedPrecondition listing each refusal (no undo
// file, failed or running migration, file modified or missing, a resumed
// undo's applied statements changed, a safe path the runner cannot execute
// yet); InvalidArgument for an undo file that does not parse. `windows`
// (by the history's version) says which ones are inside a revert window (ChooseDownPath):
// those are reverted instead of running their down file.
// REQUIRES: `statuses` (and what they point to) outlive the result.
absl::StatusOr<DownPlan> DownMigrations(const std::vector<MigrationStatus>& statuses,
                                        const std::optional<MigrationVersion>& to,
                                        const std::map<std::string, WindowFacts>& windows = {});

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_DOWN_H_
