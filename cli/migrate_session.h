// What `migrate` and `migrate down` open before they decide anything: the
// runner lock (executing only), the session that runs the statements, the
// history table (executing only) and the snapshot of the files and the
// history; and the one-line errors both print.
//
// Thread-safety: one caller's objects.
#ifndef SHADOWCOPY_CLI_MIGRATE_SESSION_H_
#define SHADOWCOPY_CLI_MIGRATE_SESSION_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/pg.h"
#include "engine/workflow/migrate_runner.h"

namespace shadowcopy::cli {

// Prints "shadowcopy: error: <message on one line>" and returns `code`.
int MigrateError(const absl::Status& st, int code);

// The first line of `sql`, at most 100 characters, " ..." when more follow.
std::string MigrateOneLine(std::string_view sql);

struct MigrateSession {
  std::unique_ptr<PgConn> lock;  // the runner lock (executing; null when `busy_ok` and another runner has it)
  absl::Status lock_error;       // why `lock` is null when executing
  std::unique_ptr<PgConn> conn;  // the statements' session (executing) or a reading one
  workflow::MigrateSnapshot snap;
};

// Opens it. Executing: the runner lock first (another runner's is exit 1,
// unless `busy_ok`: then `lock` stays null and `lock_error` says who), then
// the history table and the end of a killed runner's sessions. On failure
// the error line is printed and nullopt returned with `*exit_code` set: 1
// the lock or the history, 2 a directory that does not parse, 3 the server
// cannot be reached.
std::optional<MigrateSession> OpenMigrateSession(const std::string& dsn, const std::string& dir, bool execute,
                                                 bool busy_ok, int* exit_code);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_MIGRATE_SESSION_H_
