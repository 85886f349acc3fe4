// `migrate`'s I/O: the runner lock (one runner per database, a session-level
// advisory lock held on a dedicated idle connection, tried without waiting),
// reading the files and the history, and applying pending migrations unit
// by unit, each unit's completion recorded in its own transaction.
//
// Thread-safety: a Runner and its connections belong to one thread.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_RUNNER_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_RUNNER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "common/retry.h"
#include "engine/control/hooks.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/migrate_state.h"

namespace shadowcopy::workflow {

// Advisory lock key of the runner lock (the state schema's is 0x5D << 40).
inline constexpr int64_t kMigrateRunnerLockKey = int64_t{0x5E} << 40;

// What an engine step tells the runner while it runs.
struct EngineStepEvents {
  // Called once, on another thread, when the rewrite's revert window opens,
  // with the step's control socket ("" without one).
  std::function<void(const std::string& socket_path)> window_open;
};

struct MigrateConfig {
  std::string dsn;
  std::string dir;
  // lock_timeout of each as-is statement unless its file sets one.
  std::chrono::milliseconds lock_timeout{2000};
  // Attempts and backoff of a statement that hit its lock_timeout (or a
  // deadlock): the statement's transaction is rolled back and retried.
  RetryPolicy retry{10, std::chrono::milliseconds(200), std::chrono::milliseconds(5000)};
  // Runs one engine command in process — the online rewrite or the batched
  // backfill, with its control socket, throttler, progress, verification and
  // resume — given the words of its command line (after the program name;
  // see RewriteArgs, BackfillArgs). Injected by the command line; when
  // unset, an online-rewrite or backfill statement fails without running.
  std::function<absl::Status(const std::vector<std::string>& args, const EngineStepEvents& events)> run_engine;
  // --revert-window: a migration that is one online rewrite (NoWindowReason)
  // keeps the rewrite's revert window open this long after its cutover,
  // before the next migration starts (0: no window). `window_args` go to
  // those rewrites only (--revert-accept, --health-check, ...).
  std::chrono::milliseconds revert_window{0};
  std::vector<std::string> window_args;
  // Engine options given to every engine step (throttle limits, --nice-ratio),
  // to each online rewrite (--chunk-size, ...) and to each backfill (--batch-size, ...).
  std::vector<std::string> engine_args, rewrite_args, backfill_args;
  // A rewrite drops the original it replaced (`--drop-old-table`), so a
  // later migration of the same table can rewrite it again.
  bool drop_old_table = true;
  // --backup DIR: before a migration that rewrites, drops or deletes, its
  // tables dumped there and the dump proven restorable (migrate_backup.h).
  std::string backup_dir;
  // --hooks-path: startup, migration-start/-applied/-failed, success, failure.
  engine::HookSettings hooks;
  // Called after each migration applied (or undone), e.g. for the metrics.
  std::function<void()> after_each;
};

// The files and the history, read once.
struct MigrateSnapshot {
  std::vector<MigrationFile> files;
  std::vector<HistoryRow> rows;
  bool runner_active = false;  // another session holds the runner lock
};

// Connects with application_name "shadowcopy migrate" (reading), or
// kStatementsApplicationName (`for_statements`: the session that runs the
// migrations' statements). Unavailable when the server cannot be reached.
inline constexpr const char* kStatementsApplicationName = "shadowcopy migrate statements";
absl::StatusOr<std::unique_ptr<PgConn>> ConnectForMigrate(const std::string& dsn, bool for_statements = false);

// Ends the statement sessions a killed runner left on this database (still
// running its last statement, or idle in its transaction), so the resumed
// run does not wait behind their locks or race them. Only called with the
// runner lock held: no live runner owns such a session then. Returns how
// many were ended; a session that cannot be signalled is only logged.
absl::StatusOr<int> EndOrphanedStatementSessions(PgConn* conn);

// Reads the directory and the history (read-only: the history table is not
// created). InvalidArgument for a bad directory.
absl::StatusOr<MigrateSnapshot> ReadSnapshot(PgConn* conn, const std::string& dir);

// The runner lock on a dedicated connection, held until destruction (or the
// process's end: the server releases a session lock when the session ends).
// Unavailable, naming the holder (pid, user, client address, application
// name, since when), when another runner holds it.
absl::StatusOr<std::unique_ptr<PgConn>> AcquireRunnerLock(const std::string& dsn);

// Receives one line per step (to stderr).
using Say = std::function<void(const std::string& line)>;

// Applies `pending` in order on `conn`, whose session holds no transaction.
// An undo file (kind kUndo, migrate_down.h) runs the same way and is
// recorded as the undo of its version (migrate_history.h).
// A migration with a revert window (config.revert_window) is recorded
// `applied` when its window opens; the run goes on when the window ends.
// Reverted during its window (by `migrate down`, `revert`, `ctl revert` or
// a health check), it is recorded `undone` and the run stops there with
// Aborted.
// REQUIRES: the runner lock is held and EnsureHistory has run. Stops at the
// first failure: the migration is recorded `failed` with the error and the
// failing statement, the statements that committed stay recorded, and the
// error names the file, the statement and its line.
absl::Status ApplyPending(PgConn* conn, const std::vector<PendingMigration>& pending, const MigrateConfig& config,
                          const Say& say);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_RUNNER_H_
