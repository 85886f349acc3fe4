#include "cli/migrate_command.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>

#include "CLI/CLI.hpp"
#include "cli/migrate_down_command.h"
#include "cli/migrate_engine.h"
#include "cli/migrate_session.h"
#include "cli/options.h"
#include "cli/run_observers.h"
#include "common/json.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/migrate_history.h"
#include "engine/workflow/migrate_runner.h"
#include "engine/workflow/migrate_safe_path.h"
#include "engine/workflow/migrate_state.h"
#include "engine/workflow/migrate_window.h"
#include "engine/workflow/migrate_window_record.h"
#include "engine/workflow/plan_catalog.h"
#include "engine/workflow/plan_safe_path.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

using namespace shadowcopy::workflow;  // NOLINT

constexpr const char* kFooter = R"(
usage:
  shadowcopy migrate --dir D [--dsn DSN] [--to VERSION] [--execute] [--out-of-order] [--backup DIR]
                    [--revert-window D [--revert-accept RISKS] [--health-check SQL] ...]
  shadowcopy migrate status --dir D [--dsn DSN] [--format text|json]
  shadowcopy migrate validate --dir D [--dsn DSN]
  shadowcopy migrate baseline --dir D --version V [--dsn DSN]
  shadowcopy migrate down --dir D [--dsn DSN] [--to VERSION] [--execute]
  shadowcopy migrate ci --dir D [--dsn DSN] [--empty]

Without --execute nothing changes: each pending statement is listed with its safe path.
Exit status: 0 success, 1 a migration failed or was refused (status/validate: a migration
is failed, modified or missing; ci: the round trip failed), 2 usage or a directory that does not
parse, 3 cannot connect.
)";

struct Args {
  std::string dir, dsn, to, format = "text", version, lock_timeout, metrics_listen, backup_dir, hooks_path,
      hooks_timeout;
  // The revert window of each migration that is one online rewrite, and its health checks.
  std::string revert_window, revert_accept, health_check, health_check_cmd, health_interval, health_max_failures;
  std::map<std::string, std::string> engine_flags;  // kEngineFlags given, by flag
  bool execute = false, out_of_order = false, empty = false, keep_old_tables = false;
  int lock_retries = 10;
};

// The engine's own options `migrate` passes to its engine steps, with the
// same names: to every step, to online rewrites only, to backfills only.
enum EngineSteps { kEveryStep, kRewriteSteps, kBackfillSteps };
struct EngineFlag {
  const char* flag;
  EngineSteps steps;
  const char* help;
};
constexpr EngineFlag kEngineFlags[] = {
    {"--chunk-size", kRewriteSteps, "each online rewrite: rows per copy batch (fixed size)"},
    {"--target-chunk-time", kRewriteSteps, "each online rewrite: adaptive batches of about this long"},
    {"--batch-size", kBackfillSteps, "each backfill: keys per batch (fixed size)"},
    {"--target-batch-time", kBackfillSteps, "each backfill: adaptive batches of about this long"},
    {"--nice-ratio", kEveryStep, "each engine step rests R times each batch's duration after it"},
    {"--max-replica-lag", kEveryStep, "each engine step waits while replicas lag more than D"},
    {"--replica-dsn", kEveryStep, "each engine step also measures the lag on this replica"},
    {"--max-lock-waiters", kEveryStep, "each engine step waits while more sessions wait for locks"},
    {"--max-active", kEveryStep, "each engine step waits while more backends are active"},
    {"--throttle-query", kEveryStep, "each engine step waits while this query returns a number > 0"},
    {"--throttle-flag-file", kEveryStep, "each engine step waits while this file exists"},
};

// The engine flags given, into `config`; checked now with the engine's own
// parser (a bad value would otherwise stop only the step that meets it).
absl::Status EngineFlagsConfig(const Args& a, MigrateConfig* config) {
  for (const EngineFlag& f : kEngineFlags) {
    auto it = a.engine_flags.find(f.flag);
    if (it == a.engine_flags.end() || it->second.empty()) continue;
    auto& into = f.steps == kEveryStep ? config->engine_args
                 : f.steps == kRewriteSteps ? config->rewrite_args : config->backfill_args;
    into.insert(into.end(), {f.flag, it->second});
  }
  std::vector<std::string> rewrite = {"--table", "t", "--alter", "ADD COLUMN c int"};
  std::vector<std::string> backfill = {"backfill", "--table", "t", "--set", "c = 1", "--where", "true"};
  for (auto* words : {&rewrite, &backfill}) {
    words->insert(words->end(), config->engine_args.begin(), config->engine_args.end());
    const auto& own = words == &rewrite ? config->rewrite_args : config->backfill_args;
    words->insert(words->end(), own.begin(), own.end());
    RETURN_IF_ERROR(ParseOptions(*words).status());
  }
  return absl::OkStatus();
}

void Out(const std::string& line) { WriteOutputLine(line + "\n"); }

int Error(const absl::Status& st, int code) { return MigrateError(st, code); }

// A status of the directory or the files: usage (2); of the database: 1.
int SnapshotError(const absl::Status& st) {
  return Error(st, st.code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
}

std::string OneLine(std::string_view sql) { return MigrateOneLine(sql); }

int Status(PgConn* conn, const Args& a) {
  auto snap = ReadSnapshot(conn, a.dir);
  if (!snap.ok()) return SnapshotError(snap.status());
  auto statuses = ComputeStatus(snap->files, snap->rows, snap->runner_active);
  auto windows = ReadWindows(conn, nullptr);
  if (!windows.ok()) return Error(windows.status(), 1);
  // The revert window of an applied migration: "open" while a live run holds it.
  auto window_of = [&](const MigrationStatus& s) -> std::pair<std::string, const WindowFacts*> {
    if (s.row == nullptr || s.state != MigrationState::kApplied) return {"", nullptr};
    auto it = windows->find(s.row->version);
    if (it == windows->end()) return {"", nullptr};
    const WindowFacts& f = it->second;
    if (f.recorded != "open") return {f.recorded, &f};
    if (f.live != "open") return {"closed", &f};
    return {snap->runner_active ? "open" : "abandoned", &f};
  };
  if (a.format == "json") {
    Json list = Json::array();
    for (const auto& s : statuses) {
      Json m = {{"version", s.version}, {"description", s.description}, {"file", s.file},
                {"state", MigrationStateName(s.state)}, {"checksum", s.checksum}};
      m["installed_on"] = s.row ? Json(s.row->installed_on) : Json(nullptr);
      m["execution_ms"] = s.row ? Json(s.row->execution_ms) : Json(nullptr);
      if (s.row && s.row->state != "applied")
        m["statements_applied"] = s.row->statements_applied, m["statements_total"] = s.row->statements_total;
      if (s.row && s.row->error) m["error"] = *s.row->error;
      if (auto [state, f] = window_of(s); f != nullptr)
        m["revert_window"] = {{"state", state}, {"until", f->until}, {"table", f->schema + "." + f->table}};
      list.push_back(std::move(m));
    }
    Out(DumpJson(Json{{"migrations", list}}));
  } else {
    Out(fmt::format("{:<16} {:<13} {:<20} {:>8}  {}", "VERSION", "STATE", "INSTALLED_ON", "MS", "FILE"));
    for (const auto& s : statuses) {
      Out(fmt::format("{:<16} {:<13} {:<20} {:>8}  {}", s.version, MigrationStateName(s.state),
                                  s.row ? s.row->installed_on : "", s.row ? std::to_string(s.row->execution_ms) : "",
                                  s.file));
      if (s.row && s.row->state != "applied")
        Out(fmt::format("  {} of {} statements applied{}", s.row->statements_applied,
                                    s.row->statements_total, s.row->error ? "; error: " + *s.row->error : ""));
      if (auto [state, f] = window_of(s); state == "open")
        Out(fmt::format("  revert window open until {} UTC: `shadowcopy migrate down --dir {} --execute` reverts it "
                        "without losing a write", f->until, ShellQuote(a.dir)));
      else if (state == "abandoned")
        Out(fmt::format("  revert window of {}.{} left open by a run that ended: `shadowcopy cleanup --table {} "
                        "--schema {} --execute` ends it", f->schema, f->table, f->table, f->schema));
    }
  }
  return NeedsAttention(statuses) ? 1 : 0;
}

int Validate(PgConn* conn, const Args& a) {
  auto snap = ReadSnapshot(conn, a.dir);
  if (!snap.ok()) return SnapshotError(snap.status());
  auto statuses = ComputeStatus(snap->files, snap->rows, snap->runner_active);
  auto problems = ValidationProblems(statuses);
  for (const auto& s : statuses)
    if (s.migration != nullptr && s.state != MigrationState::kApplied)
      if (auto parsed = ParseMigrationScript(s.file, s.migration->text); !parsed.ok())
        problems.emplace_back(parsed.status().message());
  for (const auto& p : problems) Out("problem: " + p);
  if (!problems.empty())
    return Error(absl::FailedPreconditionError(fmt::format("validate: {} problem{} in {}", problems.size(),
                                                           problems.size() == 1 ? "" : "s", a.dir)),
                 1);
  Out(fmt::format("validate: {} migrations, every applied one matches its file", statuses.size()));
  return 0;
}

int Baseline(const Args& a) {
  auto version = ParseVersion(a.version);
  if (!version.ok()) return Error(Annotate(version.status(), "--version"), 2);
  auto files = ReadMigrationDirectory(a.dir);
  if (!files.ok()) return SnapshotError(files.status());
  std::vector<const MigrationFile*> upto;
  for (const auto& f : *files)
    if (!(*version < f.name.version)) upto.push_back(&f);
  if (upto.empty())
    return Error(absl::InvalidArgumentError(fmt::format("no migration at or below version {} in {}", a.version, a.dir)),
                 2);
  auto lock = AcquireRunnerLock(a.dsn);
  if (!lock.ok()) return Error(lock.status(), 1);
  auto conn = ConnectForMigrate(a.dsn);
  if (!conn.ok()) return Error(conn.status(), 3);
  if (auto st = EnsureHistory(conn->get()); !st.ok()) return Error(st, 1);
  auto n = InsertBaseline(conn->get(), upto);
  if (!n.ok()) return Error(n.status(), 1);
  Out(fmt::format("baseline: {} of {} migrations up to version {} marked applied (not run)", *n,
                              upto.size(), version->ToString()));
  return 0;
}

// What a statement's safe path runs, when it is not the statement itself.
void PrintSafePathCommands(const PendingMigration& p, int i, const MigrateConfig& config) {
  if (p.paths[i] == SafePath::kOnlineRewrite) {
    if (auto g = RewriteGroupAt(p, i); g && (i == 0 || !RewriteGroupAt(p, i - 1) ||
                                             RewriteGroupAt(p, i - 1)->end <= i)) {
      std::string words;
      for (const auto& w : RewriteArgs("", g->step, false, config.drop_old_table))
        words += " " + ShellQuote(w);
      std::string no_window = config.revert_window.count() > 0 ? NoWindowReason(p) : "";
      if (config.revert_window.count() > 0 && no_window.empty())
        for (const auto& w : RevertWindowArgs(config.revert_window, config.window_args)) words += " " + ShellQuote(w);
      for (const auto& w : config.engine_args) words += " " + ShellQuote(w);
      for (const auto& w : config.rewrite_args) words += " " + ShellQuote(w);
      if (!no_window.empty()) Out("      no revert window: " + no_window);
      Out(fmt::format("      runs: shadowcopy{}{}", words,
                      g->end > i + 1 ? fmt::format(" (statements {} to {} in one rewrite)", i + 1, g->end) : ""));
    }
    return;
  }
  if (p.paths[i] == SafePath::kBackfill) {
    if (auto b = BackfillOf(p.script.statements[i].sql)) {
      std::string words;
      for (const auto& w : BackfillArgs("", *b, false))
        words += " " + ShellQuote(w);
      for (const auto& w : config.engine_args) words += " " + ShellQuote(w);
      for (const auto& w : config.backfill_args) words += " " + ShellQuote(w);
      Out("      runs: shadowcopy" + words);
    }
    return;
  }
  if (static_cast<size_t>(i) >= p.commands.size()) return;
  const auto& cmds = p.commands[i];
  if (cmds.size() == 1 && cmds[0] == p.script.statements[i].sql) return;
  for (size_t k = 0; k < cmds.size(); ++k) Out(fmt::format("      step {}: {}", k + 1, OneLine(cmds[k])));
}

void PrintPlan(const std::vector<PendingMigration>& pending, const MigrateConfig& config) {
  Out(fmt::format("dry run: {} migration{} to apply; nothing changes without --execute", pending.size(),
                              pending.size() == 1 ? "" : "s"));
  for (const auto& p : pending) {
    const auto& o = p.script.options;
    std::string mode = o.literal ? ", literal" : o.transaction_file ? ", transaction=file" : "";
    Out(fmt::format("{} {} ({}): {} statements{}{}", p.file->name.version.ToString(),
                                p.file->name.description, p.file->file, p.script.statements.size(), mode,
                                p.resumed ? fmt::format(", resumes after {} applied", p.resume_at) : ""));
    auto timeout = o.lock_timeout.value_or(config.lock_timeout);
    for (size_t i = 0; i < p.script.statements.size(); ++i) {
      const auto& s = p.script.statements[i];
      std::string path(SafePathName(p.paths[i]));
      if (static_cast<int>(i) < p.resume_at) path = "applied";
      else if (p.paths[i] == SafePath::kAsIs && !o.literal) path += fmt::format(" (lock_timeout {}ms)", timeout.count());
      Out(fmt::format("  [{}] line {}  {}  {}", i + 1, s.line, path, OneLine(s.sql)));
      if (static_cast<int>(i) >= p.resume_at) PrintSafePathCommands(p, static_cast<int>(i), config);
    }
    for (const auto& q : p.script.verify)
      Out(fmt::format("  verify line {}  {}", q.line, OneLine(q.sql)));
  }
}

// What --metrics-listen shows of a migrate run (written by the command's
// thread, read by the endpoint's).
struct MigrateGauges {
  std::atomic<int> phase{0};  // index into kMigratePhases
  std::atomic<int64_t> applied{0}, pending{0};
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};
constexpr const char* kMigratePhases[] = {"starting", "apply", "done", "failed"};

MetricsServer::Render MigrateRender(const MigrateGauges* g) {
  return [g] {
    MigrateProgress m;
    m.phase = kMigratePhases[g->phase.load()];
    m.versions_applied = g->applied.load();
    m.versions_pending = g->pending.load();
    m.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - g->started).count();
    return RenderMigrateMetrics({"migrate", "", ""}, m);
  };
}

// --revert-window and the health checks that go with it, checked here (the
// rewrite would refuse them only when its step starts).
absl::Status WindowConfig(const Args& a, MigrateConfig* config) {
  auto duration = [](const std::string& flag, const std::string& v) -> absl::StatusOr<std::chrono::milliseconds> {
    auto d = ParseDuration(v);
    if (!d.ok() || d->count() <= 0)
      return absl::InvalidArgumentError(fmt::format("{} needs a duration such as 30m, got '{}'", flag, v));
    return *d;
  };
  std::vector<std::string>& w = config->window_args;
  for (const auto& [flag, value] : {std::pair{"--revert-accept", a.revert_accept}, {"--health-check", a.health_check},
                                    {"--health-check-cmd", a.health_check_cmd}, {"--health-interval", a.health_interval},
                                    {"--health-max-failures", a.health_max_failures}}) {
    if (value.empty()) continue;
    if (a.revert_window.empty())
      return absl::InvalidArgumentError(fmt::format("{} goes with --revert-window (see migrate --help)", flag));
    w.insert(w.end(), {flag, value});
  }
  if (a.revert_window.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(config->revert_window, duration("--revert-window", a.revert_window));
  if (!a.health_interval.empty()) RETURN_IF_ERROR(duration("--health-interval", a.health_interval).status());
  if (!a.health_max_failures.empty()) {
    int n = 0;
    auto [end, ec] = std::from_chars(a.health_max_failures.data(),
                                     a.health_max_failures.data() + a.health_max_failures.size(), n);
    if (ec != std::errc() || end != a.health_max_failures.data() + a.health_max_failures.size() || n < 1)
      return absl::InvalidArgumentError(fmt::format("--health-max-failures needs a count of at least 1, got '{}'",
                                                    a.health_max_failures));
  }
  return absl::OkStatus();
}

int Migrate(const Args& a, const MigrateConfig& config) {
  MigrateGauges gauges;
  auto observers = RunObservers::Start(a.metrics_listen, MigrateRender(&gauges), nullptr, false);
  if (!observers.ok()) return Error(observers.status(), 1);
  int exit_code = 0;
  auto session = OpenMigrateSession(a.dsn, a.dir, a.execute, /*busy_ok=*/false, &exit_code);
  if (!session) return exit_code;
  PgConn* conn = session->conn.get();
  const MigrateSnapshot* snap = &session->snap;
  // A revert window left open is in the way of whatever comes next.
  auto windows = ReadWindows(conn, nullptr);
  if (!windows.ok()) return Error(windows.status(), 1);
  if (std::string why = OpenWindowInTheWay(*windows); !why.empty()) {
    if (a.execute) return Error(absl::FailedPreconditionError(why), 1);
    Out("note: --execute would stop here: " + why);
  }
  auto statuses = ComputeStatus(snap->files, snap->rows, a.execute ? false : snap->runner_active);
  std::optional<MigrationVersion> to;
  if (!a.to.empty()) {
    auto v = ParseVersion(a.to);
    if (!v.ok()) return Error(Annotate(v.status(), "--to"), 2);
    to = *v;
  }
  auto pending = PendingMigrations(statuses, to, a.out_of_order);
  if (!pending.ok())
    return Error(pending.status(), pending.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
  if (!pending->empty()) {
    PlanFacts catalog = MigrateFacts(*pending);
    if (auto st = ReadTargetCatalog(a.dsn, &catalog); !st.ok()) return Error(st, 3);
    if (auto st = AssignPlanPaths(catalog, &*pending); !st.ok()) return Error(st, 1);
  }
  if (pending->empty()) {
    Out(fmt::format("nothing to apply: {} migrations, all applied", statuses.size()));
    return 0;
  }
  if (!a.execute) {
    PrintPlan(*pending, config);
    return 0;
  }
  auto say = [](const std::string& line) { Log(LogLevel::kInfo, "{}", line); };
  gauges.pending = static_cast<int64_t>(pending->size());
  gauges.phase = 1;
  MigrateConfig counted = config;
  counted.after_each = [&gauges] {  // the gauges follow each version
    ++gauges.applied;
    --gauges.pending;
  };
  if (auto st = ApplyPending(conn, *pending, counted, say); !st.ok()) {
    gauges.phase = 3;
    return Error(st, 1);
  }
  gauges.phase = 2;
  Out(fmt::format("applied {} migration{}: versions {} to {}", pending->size(),
                              pending->size() == 1 ? "" : "s", pending->front().file->name.version.ToString(),
                              pending->back().file->name.version.ToString()));
  return 0;
}

}  // namespace

int MigrateMain(const std::vector<std::string>& args) {
  Args a;
  CLI::App app{"shadowcopy migrate: versioned migrations, each statement on its safe path", "shadowcopy migrate"};
  app.footer(kFooter);
  app.set_help_flag("-h,--help", "print this help and exit");
  auto* dir = app.add_option("--dir", a.dir, "the migrations directory (required)");
  app.add_option("--dsn", a.dsn, "libpq conninfo or URI; default: PG* environment variables");
  app.add_option("--to", a.to, "apply up to this version (default: all)");
  app.add_flag("--execute", a.execute, "really apply (default: dry run)");
  app.add_flag("--out-of-order", a.out_of_order, "also apply pending files older than an applied one");
  app.add_option("--lock-timeout", a.lock_timeout, "lock_timeout of each as-is statement (default 2s)");
  app.add_option("--backup", a.backup_dir,
                 "before a migration that rewrites, drops or deletes: pg_dump of its tables into DIR, proven "
                 "restorable on a throwaway server");
  app.add_flag("--keep-old-tables", a.keep_old_tables,
               "keep each rewritten table's original as _<table>_old_<UTC time> (default: dropped after the cutover)");
  app.add_option("--lock-retries", a.lock_retries, "attempts of a statement that hit its lock_timeout (default 10)");
  app.add_option("--metrics-listen", a.metrics_listen, "serve Prometheus metrics at http://ADDR:PORT/metrics");
  app.add_option("--hooks-path", a.hooks_path, "run DIR/shadowcopy-on-<event> at each step (see README: Hooks)");
  app.add_option("--hooks-timeout", a.hooks_timeout, "a hook is killed after this (default 30s)");
  for (const EngineFlag& f : kEngineFlags) app.add_option(f.flag, a.engine_flags[f.flag], f.help);
  app.add_option("--revert-window", a.revert_window,
                 "keep each online rewrite's old table current for D after its cutover (a migration that is one "
                 "rewrite), before the next migration starts; `migrate down` then reverts it losslessly");
  app.add_option("--revert-accept", a.revert_accept, "accept the named risks of the way back (as the rewrite's)");
  app.add_option("--health-check", a.health_check, "during a window: a query that must return true, else revert");
  app.add_option("--health-check-cmd", a.health_check_cmd, "during a window: a command that must exit 0");
  app.add_option("--health-interval", a.health_interval, "how often the health checks run (default 10s)");
  app.add_option("--health-max-failures", a.health_max_failures, "failures in a row that revert (default 1)");
  auto* status = app.add_subcommand("status", "every migration's state");
  status->add_option("--format", a.format, "text (default) or json")->check(CLI::IsMember({"text", "json"}));
  auto* validate = app.add_subcommand("validate", "exit 1 when applied files changed or disappeared");
  auto* baseline = app.add_subcommand("baseline", "mark versions up to --version applied without running them");
  baseline->add_option("--version", a.version, "the baseline version")->required();
  auto* down = app.add_subcommand("down", "undo the latest applied migration (or all newer than --to)");
  auto* ci = app.add_subcommand("ci", "apply, undo, apply again on a throwaway server; compare the schemas");
  ci->add_flag("--empty", a.empty, "start from an empty database instead of the target's schema");
  for (auto* sub : {status, validate, baseline, down, ci}) sub->fallthrough();
  app.require_subcommand(0, 1);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    return Error(absl::InvalidArgumentError(fmt::format("migrate: {} (see migrate --help)", e.what())), 2);
  }
  if (dir->count() == 0) return Error(absl::InvalidArgumentError("migrate needs --dir D (see migrate --help)"), 2);
  if (!a.metrics_listen.empty())
    if (auto addr = ParseListenAddress(a.metrics_listen); !addr.ok()) return Error(addr.status(), 2);
  MigrateConfig config;
  config.dsn = a.dsn;
  config.dir = a.dir;
  config.retry.attempts = a.lock_retries;
  config.run_engine = RunEngineStepForMigrate;
  config.drop_old_table = !a.keep_old_tables;
  config.backup_dir = a.backup_dir;
  if (!a.lock_timeout.empty()) {
    auto d = ParseDuration(a.lock_timeout);
    if (!d.ok() || d->count() <= 0) return Error(absl::InvalidArgumentError("--lock-timeout needs a duration such as 2s"), 2);
    config.lock_timeout = *d;
  }
  if (!a.hooks_timeout.empty()) {
    auto d = ParseDuration(a.hooks_timeout);
    if (!d.ok() || d->count() <= 0) return Error(absl::InvalidArgumentError("--hooks-timeout needs a duration such as 30s"), 2);
    config.hooks.timeout = *d;
  }
  if (auto st = WindowConfig(a, &config); !st.ok()) return Error(st, 2);
  if (auto st = EngineFlagsConfig(a, &config); !st.ok()) return Error(st, 2);
  config.hooks.path = a.hooks_path;
  if (!a.hooks_path.empty())
    if (auto st = engine::CheckHooksPath(a.hooks_path); !st.ok()) return Error(st, 2);
  if (baseline->parsed()) return Baseline(a);
  if (down->parsed() || ci->parsed()) {
    DownArgs d{a.dir, a.dsn, a.to, a.execute, a.empty};
    return down->parsed() ? MigrateDown(d, config) : MigrateCi(d, config);
  }
  if (status->parsed() || validate->parsed()) {
    auto conn = ConnectForMigrate(a.dsn);
    if (!conn.ok()) return Error(conn.status(), 3);
    return status->parsed() ? Status(conn->get(), a) : Validate(conn->get(), a);
  }
  return Migrate(a, config);
}

}  // namespace shadowcopy::cli
