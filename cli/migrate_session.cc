#include "cli/migrate_session.h"

#include <cstdio>

#include "engine/workflow/migrate_history.h"

namespace shadowcopy::cli {

int MigrateError(const absl::Status& st, int code) {
  std::string msg(st.message());
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "shadowcopy: error: %s\n", msg.c_str());
  return code;
}

std::string MigrateOneLine(std::string_view sql) {
  std::string s(sql.substr(0, sql.find('\n')));
  if (s.size() > 100) s = s.substr(0, 97) + "...";
  if (sql.find('\n') != std::string_view::npos) s += " ...";
  return s;
}

std::optional<MigrateSession> OpenMigrateSession(const std::string& dsn, const std::string& dir, bool execute,
                                                 bool busy_ok, int* exit_code) {
  using namespace shadowcopy::workflow;  // NOLINT
  MigrateSession s;
  auto fail = [exit_code](const absl::Status& st, int code) {
    *exit_code = MigrateError(st, code);
    return std::nullopt;
  };
  if (execute) {
    auto l = AcquireRunnerLock(dsn);
    const bool busy = !l.ok() && l.status().code() == absl::StatusCode::kUnavailable;
    if (!l.ok() && !(busy && busy_ok)) return fail(l.status(), busy ? 1 : 3);
    if (l.ok()) s.lock = std::move(*l);
    else s.lock_error = l.status();
  }
  auto conn = ConnectForMigrate(dsn, execute);
  if (!conn.ok()) return fail(conn.status(), 3);
  s.conn = std::move(*conn);
  if (s.lock != nullptr) {
    if (auto st = EnsureHistory(s.conn.get()); !st.ok()) return fail(st, 1);
    if (auto st = EndOrphanedStatementSessions(s.conn.get()); !st.ok()) return fail(st.status(), 1);
  }
  auto snap = ReadSnapshot(s.conn.get(), dir);
  if (!snap.ok()) return fail(snap.status(), snap.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
  s.snap = std::move(*snap);
  return s;
}

}  // namespace shadowcopy::cli
