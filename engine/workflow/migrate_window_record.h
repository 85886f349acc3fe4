// The revert windows of `migrate` in the history: a migration whose online
// rewrite holds its window is `applied` with revert_window = 'open' (the
// run, until when, the control socket of the process holding it) from the
// moment the window opens; 'closed' when it ends, 'reverted' (and the
// migration `undone`, with a `reverted` row in shadowcopy.migration_events)
// when the lossless revert swapped the table back. The window itself is the
// rewrite's (shadowcopy.revert_windows).
//
// Thread-safety: functions use the connection passed in.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_WINDOW_RECORD_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_WINDOW_RECORD_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/migrate_window.h"

namespace shadowcopy::workflow {

// The revert window of the rewrite of `schema.table` that started since the
// migration's engine step did (MarkStepStarted); nullopt when it has none.
struct StepWindow {
  std::string run_id;
  std::string state;    // open, closed, reverted
  std::string outcome;  // closed, reverted, failed: ... ("" while open)
  std::string until;    // UTC, "YYYY-MM-DD HH:MM:SS"
  double seconds_left = 0;
};
absl::StatusOr<std::optional<StepWindow>> FindStepWindow(PgConn* conn, const MigrationFile& file,
                                                         const std::string& schema, const std::string& table);

// The window opened: the migration's `applied` statements (with their
// hashes) recorded and the migration `applied`, its window open.
absl::Status RecordWindowOpen(PgConn* conn, const MigrationFile& file, int applied,
                              const std::vector<std::string>& hashes, const StepWindow& window,
                              const std::string& socket_path, int64_t execution_ms);

// The window's run swapped the table back: the migration `undone`, its
// window `reverted`, a `reverted` event.
absl::Status MarkUndoneByRevert(PgConn* conn, const MigrationFile& file, int64_t execution_ms);

// The recorded windows by version (history's revert_window set), with the
// live state of each (WindowFacts::held left false for the caller); the
// socket of each open one in `sockets`. Read-only: empty before the history
// or the windows table exist.
absl::StatusOr<std::map<std::string, WindowFacts>> ReadWindows(PgConn* conn,
                                                               std::map<std::string, std::string>* sockets);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_WINDOW_RECORD_H_
