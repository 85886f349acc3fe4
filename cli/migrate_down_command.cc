#include "cli/migrate_down_command.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <thread>

#include "cli/ctl.h"
#include "cli/migrate_session.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/workflow/migrate_ci.h"
#include "engine/workflow/migrate_down.h"
#include "engine/workflow/migrate_history.h"
#include "engine/workflow/migrate_safe_path.h"
#include "engine/workflow/migrate_window_record.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

using namespace shadowcopy::workflow;  // NOLINT

void DownOut(const std::string& line) { WriteOutputLine(line + "\n"); }

int DownError(const absl::Status& st, int code) { return MigrateError(st, code); }

void PrintDownPlan(const DownPlan& plan, const MigrateConfig& config,
                   const std::map<std::string, WindowFacts>& windows) {
  const size_t n = plan.reverts.size() + plan.undos.size();
  DownOut(fmt::format("dry run: {} migration{} to undo, newest first; nothing changes without --execute", n,
                      n == 1 ? "" : "s"));
  for (const MigrationStatus* r : plan.reverts) {
    auto w = windows.find(r->row->version);
    DownOut(fmt::format("{} {} ({}): inside its revert window (until {} UTC): lossless revert of {}.{} instead of "
                        "its down file (the run holding the window catches up, verifies the old table and swaps it "
                        "back; every write kept)", r->version, r->description, r->file,
                        w == windows.end() ? "?" : w->second.until, w == windows.end() ? "" : w->second.schema,
                        w == windows.end() ? "" : w->second.table));
  }
  for (const auto& p : plan.undos) {
    const auto& o = p.script.options;
    DownOut(fmt::format("{} {} ({}): {} statements{}", p.file->name.version.ToString(), p.file->name.description,
                        p.file->file, p.script.statements.size(),
                        p.resumed ? fmt::format(", resumes after {} undone", p.resume_at) : ""));
    auto timeout = o.lock_timeout.value_or(config.lock_timeout);
    for (size_t i = 0; i < p.script.statements.size(); ++i) {
      const auto& s = p.script.statements[i];
      std::string path(SafePathName(p.paths[i]));
      if (static_cast<int>(i) < p.resume_at) path = "applied";
      else if (p.paths[i] == SafePath::kAsIs && !o.literal) path += fmt::format(" (lock_timeout {}ms)", timeout.count());
      DownOut(fmt::format("  [{}] line {}  {}  {}", i + 1, s.line, path, MigrateOneLine(s.sql)));
    }
  }
}

// The stop signals turned into a stop request while `run` runs.
template <typename Result>
Result WithStopSignals(std::stop_source* stop, const std::function<Result()>& run) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::atomic<bool> finished{false};
  std::thread watcher([stop, &finished, set] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) {
      if (finished) return;
      Log(LogLevel::kWarning, "received signal {}, stopping (the throwaway server and its directory are removed)",
          sig);
      stop->request_stop();
    }
  });
  Result result = run();
  finished = true;
  pthread_kill(watcher.native_handle(), SIGTERM);
  watcher.join();
  return result;
}

// Asks the run holding `version`'s revert window (at `socket`) to swap its
// table back, and waits until the history records the migration undone.
int RevertInWindow(PgConn* conn, const std::string& version, const std::string& socket) {
  auto c = ControlConnection::Open(socket, std::chrono::seconds(5));
  if (!c.ok())
    return DownError(Annotate(c.status(), fmt::format("the run holding version {}'s revert window cannot be reached "
                                                      "(nothing was undone)", version)), 3);
  auto reply = c->Request("revert", std::chrono::seconds(30));
  if (!reply.ok()) return DownError(Annotate(reply.status(), "asking for the revert"), 3);
  if (reply->rfind("error:", 0) == 0)
    return DownError(absl::FailedPreconditionError(fmt::format("version {}: the run refused the revert: {}", version,
                                                               *reply)), 1);
  Log(LogLevel::kInfo, "version {}: revert asked of the run holding its window ({}); waiting for the swap back",
      version, socket);
  for (int i = 0; i < 6000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto rows = LoadHistory(conn);
    auto windows = ReadWindows(conn, nullptr);
    if (!rows.ok() || !windows.ok()) return DownError(rows.ok() ? windows.status() : rows.status(), 1);
    for (const HistoryRow& r : *rows) {
      if (r.version != version) continue;
      if (r.state == "undone") return 0;
      auto w = windows->find(version);
      if (r.state == "applied" && w != windows->end() && w->second.recorded != "open")
        return DownError(absl::FailedPreconditionError(fmt::format(
            "version {}: its revert window ended before the revert ({}); nothing was undone (run `migrate down` "
            "again: its down file is the way back now)", version, w->second.recorded)), 1);
      if (r.state == "failed")
        return DownError(absl::FailedPreconditionError(fmt::format(
            "version {}: the revert failed: {}", version, r.error.value_or("see the run's log"))), 1);
    }
  }
  return DownError(absl::DeadlineExceededError(fmt::format("version {} was not undone within 10 minutes", version)), 1);
}

// Until no runner holds the runner lock (the run whose window was reverted ends), at most `seconds`.
bool WaitForRunnerToEnd(PgConn* conn, const std::string& dir, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    auto snap = ReadSnapshot(conn, dir);
    if (snap.ok() && !snap->runner_active) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

int MigrateDown(const DownArgs& a, const MigrateConfig& config) {
  std::optional<MigrationVersion> to;
  if (!a.to.empty()) {
    auto v = ParseVersion(a.to);
    if (!v.ok()) return DownError(Annotate(v.status(), "--to"), 2);
    to = *v;
  }
  // Another runner holding the lock may be the run holding a revert window,
  // which this undo then asks to revert.
  int exit_code = 0;
  auto session = OpenMigrateSession(a.dsn, a.dir, a.execute, /*busy_ok=*/true, &exit_code);
  if (!session) return exit_code;
  const std::unique_ptr<PgConn>& lock = session->lock;
  const std::unique_ptr<PgConn>& conn = session->conn;
  const MigrateSnapshot* snap = &session->snap;
  const absl::Status& lock_error = session->lock_error;
  auto statuses = ComputeStatus(snap->files, snap->rows, lock != nullptr ? false : snap->runner_active);
  std::map<std::string, std::string> sockets;
  auto windows = ReadWindows(conn.get(), &sockets);
  if (!windows.ok()) return DownError(windows.status(), 1);
  for (auto& [version, f] : *windows) f.held = lock == nullptr && snap->runner_active && sockets.count(version) > 0;
  auto plan = DownMigrations(statuses, to, *windows);
  if (!plan.ok())
    return DownError(plan.status(), plan.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
  if (a.execute && lock == nullptr && plan->reverts.empty()) return DownError(lock_error, 1);
  if (plan->undos.empty() && plan->reverts.empty()) {
    DownOut(to ? fmt::format("nothing to undo: no applied migration newer than {}", to->ToString())
               : "nothing to undo: no migration is applied");
    return 0;
  }
  if (!a.execute) {
    PrintDownPlan(*plan, config, *windows);
    return 0;
  }
  if (!plan->reverts.empty()) {
    const std::string version = plan->reverts.front()->row->version;
    if (int rc = RevertInWindow(conn.get(), version, sockets[version]); rc != 0) return rc;
    DownOut(fmt::format("undone 1 migration: version {} reverted in its revert window, every write kept (pending "
                        "again)", version));
    if (plan->undos.empty()) return 0;
    // The older ones by their down files, once the reverted run has ended.
    if (!WaitForRunnerToEnd(conn.get(), a.dir, 60))
      return DownError(absl::UnavailableError("the run that held the revert window did not end within 60 s; run "
                                              "`migrate down` again for the older migrations"), 1);
    return MigrateDown(a, config);
  }
  auto say = [](const std::string& line) { Log(LogLevel::kInfo, "{}", line); };
  if (auto st = ApplyPending(conn.get(), plan->undos, config, say); !st.ok()) return DownError(st, 1);
  const std::string newest = plan->undos.front().file->name.version.ToString();
  if (plan->undos.size() == 1)
    DownOut(fmt::format("undone 1 migration: version {} (pending again)", newest));
  else
    DownOut(fmt::format("undone {} migrations: versions {} down to {} (pending again)", plan->undos.size(), newest,
                        plan->undos.back().file->name.version.ToString()));
  return 0;
}

int MigrateCi(const DownArgs& a, const MigrateConfig& config) {
  std::stop_source stop;
  CiOptions o;
  o.dir = a.dir;
  o.dsn = a.dsn;
  o.empty = a.empty;
  o.config = config;
  o.config.revert_window = std::chrono::milliseconds(0);  // nobody watches a throwaway server
  o.config.window_args.clear();
  o.stop = stop.get_token();
  auto say = [](const std::string& line) { Log(LogLevel::kInfo, "ci: {}", line); };
  auto result = WithStopSignals<absl::StatusOr<CiResult>>(&stop, [&] { return RunMigrateCi(o, say); });
  if (!result.ok()) {
    switch (result.status().code()) {
      case absl::StatusCode::kInvalidArgument: return DownError(result.status(), 2);
      case absl::StatusCode::kUnavailable: return DownError(result.status(), 3);
      case absl::StatusCode::kCancelled: return DownError(result.status(), 130);
      default: return DownError(result.status(), 1);
    }
  }
  if (result->passed) {
    DownOut(fmt::format("migrate ci: passed: {} migration{} applied, undone one at a time and applied again; the "
                        "schema matched after every step ({} schema dumps, {:.1f} s)",
                        result->migrations, result->migrations == 1 ? "" : "s", result->dumps, result->seconds));
    return 0;
  }
  DownOut("migrate ci: FAILED: " + result->failure);
  if (!result->diff.empty()) WriteOutputLine(result->diff);
  return DownError(absl::FailedPreconditionError(
                       result->version ? fmt::format("migrate ci failed at version {}", *result->version)
                                       : std::string("migrate ci failed")),
                   1);
}

}  // namespace shadowcopy::cli
