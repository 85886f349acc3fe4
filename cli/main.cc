// shadowcopy's entry point: parses the command line, installs the signal
// watcher (SIGINT/SIGTERM stop the run, which then cleans up), runs the
// migration or the cleanup, and prints the outcome.
#include <pthread.h>
#include <unistd.h>
#include <signal.h>

#include <atomic>
#include <functional>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "cli/control_server.h"
#include "cli/ctl.h"
#include "cli/options.h"
#include "cli/summary_json.h"
#include "common/log.h"
#include "common/quote.h"
#include "engine/backfill.h"
#include "engine/cleanup.h"
#include "engine/migration.h"
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
  std::printf("  writers blocked:    %.1f ms at cutover (attempt %d)\n", s.blocked_ms, s.cutover_attempts);
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
    std::printf("  verify lock:        writers blocked %.1f ms at most (%.1f ms in total)\n", s.verify_blocked_ms,
                s.verify_blocked_total_ms);
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
  std::printf("%s\n", MigrationSummaryJson(s).c_str());
  std::fflush(stdout);
}

int RunCleanupCommand(const Options& o) {
  auto found = engine::RunCleanup(o.config, o.cleanup_all);
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

// The config with the control socket's path filled in when executing with
// the default one.
engine::Config WithSocketPath(engine::Config config) {
  if (config.execute && !config.no_socket && config.socket_path.empty())
    config.socket_path = DefaultControlSocketPath(config.schema, config.table);
  return config;
}

// The operator's socket (status, pause, resume, set, cutover, abort) when
// executing; null when there is none. `default_socket`: the path is the
// default one, which falls back to a per-process name when in use.
absl::StatusOr<std::unique_ptr<ControlServer>> StartControlServer(engine::Control* control,
                                                                  const engine::Config& config, bool default_socket) {
  if (!config.execute || config.no_socket) return std::unique_ptr<ControlServer>();
  auto server = std::make_unique<ControlServer>(control, config.socket_path);
  auto st = server->Start();
  if (!st.ok() && default_socket && st.code() == absl::StatusCode::kFailedPrecondition) {
    // Another run (another database or server) uses the default name.
    std::string path = config.socket_path;
    path.insert(path.size() - 5, fmt::format("-{}", getpid()));
    server = std::make_unique<ControlServer>(control, path);
    st = server->Start();
  }
  if (!st.ok()) return st;
  Log(LogLevel::kInfo, "control socket: {} (shadowcopy ctl --socket {} status)", server->path(), server->path());
  return server;
}

// Runs `run` with the control socket up and SIGINT/SIGTERM turned into
// `stop`. Signals are blocked in every thread and taken by one watcher
// thread, so a stop request goes through the engine (RequestStop), which
// cancels queries and lets the run's thread clean up.
template <typename Result>
absl::StatusOr<Result> RunControlled(engine::Control* control, const engine::Config& config, bool default_socket,
                                     const std::function<absl::StatusOr<Result>()>& run,
                                     const std::function<void()>& stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto server = StartControlServer(control, config, default_socket);
  if (!server.ok()) return server.status();
  std::atomic<bool> finished{false};
  std::thread watcher([&stop, &finished, set] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) {
      if (finished) return;  // the wake-up sent below
      Log(LogLevel::kWarning, "received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      stop();
    }
  });
  auto result = run();
  if (*server) (*server)->Stop();
  finished = true;
  pthread_kill(watcher.native_handle(), SIGTERM);
  watcher.join();
  return result;
}

int RunMigration(const Options& o) {
  engine::Config config = WithSocketPath(o.config);
  engine::Migration migration(config);
  auto result = RunControlled<engine::Summary>(
      migration.control(), config, o.config.socket_path.empty(), [&] { return migration.Run(); }, [&] { migration.RequestStop(); });
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
  engine::Config config = WithSocketPath(o.config);
  engine::Backfill backfill(config);
  auto result = RunControlled<engine::BackfillSummary>(
      backfill.control(), config, o.config.socket_path.empty(), [&] { return backfill.Run(); }, [&] { backfill.RequestStop(); });
  if (!result.ok()) return Fail(result.status());
  if (o.config.execute) PrintBackfillSummary(*result);
  return 0;
}

}  // namespace

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
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
    case Command::kMigrate:
      return RunMigration(o);
    case Command::kBackfill:
      return RunBackfill(o);
  }
  return 0;
}

}  // namespace shadowcopy::cli

int main(int argc, char** argv) { return shadowcopy::cli::Main(argc, argv); }
