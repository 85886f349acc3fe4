#include "cli/migrate_down_command.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <optional>
#include <stop_token>
#include <thread>

#include "common/log.h"
#include "common/status.h"
#include "engine/workflow/migrate_ci.h"
#include "engine/workflow/migrate_down.h"
#include "engine/workflow/migrate_history.h"
#include "engine/workflow/migrate_safe_path.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

using namespace shadowcopy::workflow;  // NOLINT

void DownOut(const std::string& line) { WriteOutputLine(line + "\n"); }

int DownError(const absl::Status& st, int code) {
  std::string msg(st.message());
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "shadowcopy: error: %s\n", msg.c_str());
  return code;
}

std::string DownOneLine(std::string_view sql) {
  std::string s(sql.substr(0, sql.find('\n')));
  if (s.size() > 100) s = s.substr(0, 97) + "...";
  if (sql.find('\n') != std::string_view::npos) s += " ...";
  return s;
}

void PrintDownPlan(const DownPlan& plan, const MigrateConfig& config) {
  DownOut(fmt::format("dry run: {} migration{} to undo, newest first; nothing changes without --execute",
                      plan.undos.size(), plan.undos.size() == 1 ? "" : "s"));
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
      DownOut(fmt::format("  [{}] line {}  {}  {}", i + 1, s.line, path, DownOneLine(s.sql)));
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

}  // namespace

int MigrateDown(const DownArgs& a, const MigrateConfig& config) {
  std::optional<MigrationVersion> to;
  if (!a.to.empty()) {
    auto v = ParseVersion(a.to);
    if (!v.ok()) return DownError(Annotate(v.status(), "--to"), 2);
    to = *v;
  }
  std::unique_ptr<PgConn> lock;
  if (a.execute) {
    auto l = AcquireRunnerLock(a.dsn);
    if (!l.ok()) return DownError(l.status(), l.status().code() == absl::StatusCode::kUnavailable ? 1 : 3);
    lock = std::move(*l);
  }
  auto conn = ConnectForMigrate(a.dsn, a.execute);
  if (!conn.ok()) return DownError(conn.status(), 3);
  if (a.execute) {
    if (auto st = EnsureHistory(conn->get()); !st.ok()) return DownError(st, 1);
    if (auto st = EndOrphanedStatementSessions(conn->get()); !st.ok()) return DownError(st.status(), 1);
  }
  auto snap = ReadSnapshot(conn->get(), a.dir);
  if (!snap.ok())
    return DownError(snap.status(), snap.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
  auto statuses = ComputeStatus(snap->files, snap->rows, a.execute ? false : snap->runner_active);
  auto plan = DownMigrations(statuses, to);
  if (!plan.ok())
    return DownError(plan.status(), plan.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
  if (plan->undos.empty()) {
    DownOut(to ? fmt::format("nothing to undo: no applied migration newer than {}", to->ToString())
               : "nothing to undo: no migration is applied");
    return 0;
  }
  if (!a.execute) {
    PrintDownPlan(*plan, config);
    return 0;
  }
  auto say = [](const std::string& line) { Log(LogLevel::kInfo, "{}", line); };
  if (auto st = ApplyPending(conn->get(), plan->undos, config, say); !st.ok()) return DownError(st, 1);
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
