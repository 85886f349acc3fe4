// shadowcopy's entry point: parses the command line, installs the signal
// watcher (SIGINT, SIGTERM, SIGHUP and SIGQUIT stop the run, which then
// cleans up; SIGPIPE is ignored), runs the rewrite, the backfill or the
// cleanup, and prints the outcome.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <atomic>
#include <functional>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "cli/control_server.h"
#include "cli/ctl.h"
#include "cli/migrate_command.h"
#include "cli/options.h"
#include "cli/plan_command.h"
#include "cli/run_control.h"
#include "cli/run_observers.h"
#include "cli/socket_path.h"
#include "cli/summary_json.h"
#include "common/log.h"
#include "common/quote.h"
#include "engine/backfill/backfill.h"
#include "engine/rewrite/cleanup.h"
#include "engine/rewrite/old_tables.h"
#include "engine/rewrite/rewrite.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

constexpr const char* kVersion = "0.1.0";

int Fail(const absl::Status& st) {
  std::string msg(st.message());
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "shadowcopy: error: %s\n", msg.c_str());
  return st.code() == absl::StatusCode::kCancelled ? 130 : 1;
}

// Rows copied, changes replayed, how replay ran, the cutover's block.
void PrintWorkLines(const engine::Summary& s) {
  std::printf("  rows copied:        %lld in %lld batches (%.1f s, %.0f rows/s)\n",
              static_cast<long long>(s.rows_copied), static_cast<long long>(s.batches), s.copy_s,
              s.copy_s > 0 ? s.rows_copied / s.copy_s : 0.0);
  std::printf("  changes replayed:   %llu in %llu transactions (%llu inserts, %llu updates of which "
              "%llu key updates, %llu deletes)\n",
              static_cast<unsigned long long>(s.changes_replayed),
              static_cast<unsigned long long>(s.transactions_replayed),
              static_cast<unsigned long long>(s.replayed.inserts),
              static_cast<unsigned long long>(s.replayed.updates),
              static_cast<unsigned long long>(s.replayed.key_updates),
              static_cast<unsigned long long>(s.replayed.deletes));
  if (s.replay_deferred)
    std::printf("  replay:             after the copy (key index built in %.1f s)\n", s.key_index_s);
  else if (s.replay_from_batch > 0)
    std::printf("  replay:             during the copy from batch %lld (key index built in %.1f s)\n",
                static_cast<long long>(s.replay_from_batch), s.key_index_s);
  std::printf("  writers blocked:    %.1f ms at cutover (attempt %d; %d lock requests timed out or rolled back, "
              "longest %.1f ms)\n", s.blocked_ms, s.cutover_attempts, s.cutover_lock_failures, s.blocked_max_ms);
  if (s.cutover_lock_wait_s > 0 || s.verify_lock_wait_s > 0 || !s.lock_holders.empty()) {
    std::printf("  lock waits:         %.1f s before the cutover, %.1f s before consistency points, outside the "
                "lock queue\n", s.cutover_lock_wait_s, s.verify_lock_wait_s);
    for (const auto& h : s.lock_holders) std::printf("    waited for %s\n", h.c_str());
  }
}

// The `verified:` line when no verification report is at hand: say why.
const char* NotVerifiedLine(const engine::Summary& s, bool verify_flag) {
  if (!verify_flag) return "no (--verify=off)";
  if (s.resumed_after_swap)
    return "not by this run; the interrupted run compares the tables before its swap when its verification is "
           "on (its report was not kept)";
  return "no";
}

void PrintSummary(const engine::Summary& s, bool verify_flag) {
  std::printf("migration complete%s: %s is the new table; the original is %s\n",
              s.resumed_after_swap ? " (finished by --resume: the swap had committed before the interruption)" : "",
              QualifiedName(s.names.schema, s.names.table).c_str(),
              s.old_table_dropped ? "dropped" : QualifiedName(s.names.schema, s.names.old_table).c_str());
  if (s.resumed_after_swap)
    std::printf("  after the swap:     %d post-swap statements were left and ran; slot and publication "
                "removed (the copy, replay and cutover were the interrupted run's)\n", s.after_swap_statements);
  else
    PrintWorkLines(s);
  if (s.verified || s.verify_points > 0) {
    std::printf("  verified:           %lld ranges, %lld rows in %.1f s at %d consistency points; %lld "
                "mismatches found, %lld repaired\n",
                static_cast<long long>(s.verify_ranges), static_cast<long long>(s.verify_rows), s.verify_s,
                s.verify_points, static_cast<long long>(s.verify_mismatches),
                static_cast<long long>(s.verify_repaired));
    std::printf("  verify lock:        writers blocked %.1f ms at most (%.1f ms in total, %d attempts given up)\n",
                s.verify_blocked_ms, s.verify_blocked_total_ms, s.verify_point_failures);
    std::string cols;
    for (const auto& c : s.verify_not_compared) cols += (cols.empty() ? "" : ", ") + c;
    if (!cols.empty()) std::printf("  not compared:       %s (no source in the original)\n", cols.c_str());
  } else {
    std::printf("  verified:           %s\n", NotVerifiedLine(s, verify_flag));
  }
  if (s.verified_after)
    std::printf("  verified after:     %lld ranges at the swap, %lld differ (%.1f s, report only)\n",
                static_cast<long long>(s.verify_after_ranges), static_cast<long long>(s.verify_after_mismatches),
                s.verify_after_s);
  std::printf("  elapsed:            %.1f s\n", s.elapsed_s);
  std::printf("%s\n", RewriteSummaryJson(s).c_str());
  std::fflush(stdout);
}

int RunCleanupCommand(const Options& o) {
  auto found = o.cleanup_old_tables
                   ? engine::RunOldTableCleanup(o.config, o.cleanup_all || o.config.table.empty())
                   : engine::RunCleanup(o.config, o.cleanup_all);
  if (!found.ok()) return Fail(found.status());
  if (found->empty()) {
    std::printf("nothing to clean up\n");
    return 0;
  }
  for (const auto& l : *found)
    std::printf("%s %s %s%s\n", (o.config.execute ? l.did : l.would).c_str(), l.kind.c_str(), l.name.c_str(),
                l.active ? " (in use by a running process)" : "");
  if (!o.config.execute) std::printf("run again with --execute to do it\n");
  return 0;
}

// Runs `run` under the control socket and the stop signals (run_control.h).
template <typename Result>
absl::StatusOr<Result> RunControlled(engine::Control* control, ControlServer* server, const sigset_t& set,
                                     const std::function<absl::StatusOr<Result>()>& run,
                                     const std::function<void()>& stop) {
  absl::StatusOr<Result> result = absl::UnknownError("not run");
  RunUnderControl(control, server, set, [&] { result = run(); }, stop);
  return result;
}

// A postpone flag file must exist when the run starts: a missing one (a
// typo) would release the cutover at once. One that cannot be checked is
// accepted; it holds the cutover until it can be.
absl::Status CheckPostponeFlagFile(const engine::Config& config) {
  const std::string& path = config.control.postpone_cutover_flag_file;
  if (!config.execute || path.empty()) return absl::OkStatus();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT)
    return absl::FailedPreconditionError(fmt::format(
        "--postpone-cutover-flag-file {} does not exist; create it first (removing it releases the cutover)", path));
  return absl::OkStatus();
}

// A --hooks-path that cannot serve is refused before anything is created.
absl::Status CheckHooksOption(const engine::Config& config) {
  return config.hooks.path.empty() ? absl::OkStatus() : engine::CheckHooksPath(config.hooks.path);
}

int RunRewrite(const Options& o) {
  sigset_t set = BlockStopSignals();
  engine::Config config = o.config;
  if (auto st = CheckPostponeFlagFile(config); !st.ok()) return Fail(st);
  if (auto st = CheckHooksOption(config); !st.ok()) return Fail(st);
  auto server = OpenControlSocket(&config);
  if (!server.ok()) return Fail(server.status());
  config.progress_tty = ProgressLineWanted(config);
  engine::Rewrite rewrite(config);
  auto observers = RunObservers::Start(
      o.metrics_listen, RunObservers::RunRender({"rewrite", config.schema, config.table}, rewrite.control()),
      rewrite.control(), config.progress_tty);
  if (!observers.ok()) return Fail(observers.status());
  auto result = RunControlled<engine::Summary>(
      rewrite.control(), server->get(), set, [&] { return rewrite.Run(); }, [&] { rewrite.RequestStop(); });
  (*observers)->Finish(result.ok());
  if (!result.ok()) return Fail(result.status());
  if (o.config.execute) PrintSummary(*result, o.config.verify);
  return 0;
}

void PrintBackfillSummary(const engine::BackfillSummary& s) {
  std::printf("backfill complete on %s: %lld rows %s in %lld batches (%.1f s, %.0f keys/s, %.0f rows/s)%s\n",
              s.table.c_str(), static_cast<long long>(s.rows_changed), s.delete_rows ? "deleted" : "updated",
              static_cast<long long>(s.batches), s.batches_s, s.batches_s > 0 ? s.keys_covered / s.batches_s : 0.0,
              s.batches_s > 0 ? s.rows_changed / s.batches_s : 0.0, s.resumed ? " (resumed run)" : "");
  if (s.lock_retries > 0)
    std::printf("  batches retried after a lock timeout: %lld\n", static_cast<long long>(s.lock_retries));
  std::printf("%s\n", BackfillSummaryJson(s).c_str());
  std::fflush(stdout);
}

int RunBackfill(const Options& o) {
  sigset_t set = BlockStopSignals();
  engine::Config config = o.config;
  if (auto st = CheckHooksOption(config); !st.ok()) return Fail(st);
  auto server = OpenControlSocket(&config);
  if (!server.ok()) return Fail(server.status());
  config.progress_tty = ProgressLineWanted(config);
  engine::Backfill backfill(config);
  auto observers = RunObservers::Start(
      o.metrics_listen, RunObservers::RunRender({"backfill", config.schema, config.table}, backfill.control()),
      backfill.control(), config.progress_tty);
  if (!observers.ok()) return Fail(observers.status());
  auto result = RunControlled<engine::BackfillSummary>(
      backfill.control(), server->get(), set, [&] { return backfill.Run(); }, [&] { backfill.RequestStop(); });
  (*observers)->Finish(result.ok());
  if (!result.ok()) return Fail(result.status());
  if (o.config.execute) PrintBackfillSummary(*result);
  return 0;
}

}  // namespace

int Main(int argc, char** argv) {
  // A closed stdout or stderr (`| head`, a dropped session) must not kill the
  // run: writes to it fail with EPIPE instead (see WriteOutputLine).
  ::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "revert") return RevertMain({args.begin() + 1, args.end()});
  auto parsed = ParseOptions(args);
  if (!parsed.ok()) {
    std::fprintf(stderr, "shadowcopy: error: %s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  Options o = *parsed;
  if (auto st = ApplyTestEnvironment(&o.config.test); !st.ok()) {
    std::fprintf(stderr, "shadowcopy: error: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  if (o.verbose) SetLogLevel(LogLevel::kDebug);
  switch (o.command) {
    case Command::kHelp:
      std::fputs((o.backfill_help ? BackfillUsageText() : UsageText()).c_str(), stdout);
      return 0;
    case Command::kVersion:
      std::printf("shadowcopy %s\n", kVersion);
      return 0;
    case Command::kCleanup:
      return RunCleanupCommand(o);
    case Command::kCtl:
      return CtlMain(o.ctl_args);
    case Command::kVerify:
      return VerifyMain(o.ctl_args);
    case Command::kPlan:
      return PlanMain(o.ctl_args);
    case Command::kMigrate:
      return RunRewrite(o);
    case Command::kMigrations:
      return MigrateMain(o.ctl_args);
    case Command::kBackfill:
      return RunBackfill(o);
  }
  return 0;
}

}  // namespace shadowcopy::cli

int main(int argc, char** argv) { return shadowcopy::cli::Main(argc, argv); }
