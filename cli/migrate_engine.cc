#include "cli/migrate_engine.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "cli/control_server.h"
#include "cli/options.h"
#include "cli/run_control.h"
#include "cli/run_observers.h"
#include "cli/socket_path.h"
#include "common/log.h"
#include "common/quote.h"
#include "common/status.h"
#include "engine/backfill/backfill.h"
#include "engine/rewrite/rewrite.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

// Runs `run` under the step's socket and the stop signals (run_control.h);
// the signals are blocked in this thread (and so in every thread the engine
// starts) for the step only.
absl::Status RunStepControlled(engine::Control* control, ControlServer* server,
                               const std::function<absl::Status()>& run, const std::function<void()>& stop) {
  sigset_t old;
  sigset_t set = BlockStopSignals(&old);
  absl::Status st;
  bool stopped = RunUnderControl(control, server, set, [&] { st = run(); }, stop);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (stopped && st.ok()) return absl::CancelledError("stopped by a signal after the step finished");
  return st;
}

}  // namespace

absl::Status RunEngineStepForMigrate(const std::vector<std::string>& args,
                                     const workflow::EngineStepEvents& events) {
  ASSIGN_OR_RETURN(Options o, ParseOptions(args));
  RETURN_IF_ERROR(ApplyTestEnvironment(&o.config.test));
  if (o.command != Command::kMigrate && o.command != Command::kBackfill)
    return absl::InvalidArgumentError("not an engine command");
  engine::Config config = o.config;
  ASSIGN_OR_RETURN(auto server, OpenControlSocket(&config));
  // On a terminal the step shows the progress line; migrate's own endpoint
  // serves the metrics, so the step starts none.
  config.progress_tty = ProgressLineWanted(config);
  if (o.command == Command::kBackfill) {
    engine::Backfill backfill(config);
    absl::StatusOr<engine::BackfillSummary> result = absl::UnknownError("not run");
    ASSIGN_OR_RETURN(auto observers, RunObservers::Start("", nullptr, backfill.control(), config.progress_tty));
    absl::Status ran = RunStepControlled(
        backfill.control(), server.get(),
        [&] {
          result = backfill.Run();
          return result.status();
        },
        [&] { backfill.RequestStop(); });
    observers->Finish(ran.ok());
    RETURN_IF_ERROR(ran);
    Log(LogLevel::kInfo, "backfill of {} complete: {} rows {} in {} batches ({:.1f} s){}", result->table,
        result->rows_changed, result->delete_rows ? "deleted" : "updated", result->batches, result->elapsed_s,
        result->resumed ? " (resumed run)" : "");
    return absl::OkStatus();
  }
  engine::Rewrite rewrite(config);
  absl::StatusOr<engine::Summary> result = absl::UnknownError("not run");
  ASSIGN_OR_RETURN(auto observers, RunObservers::Start("", nullptr, rewrite.control(), config.progress_tty));
  // The window's opening, seen in the published phase and told once.
  std::atomic<bool> step_done{false};
  std::thread window_watch;
  if (events.window_open)
    window_watch = std::thread([&] {
      while (!step_done) {
        if (rewrite.control()->Status().progress.phase == "revert-window") {
          events.window_open(config.socket_path);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  absl::Status ran = RunStepControlled(
      rewrite.control(), server.get(),
      [&] {
        result = rewrite.Run();
        return result.status();
      },
      [&] { rewrite.RequestStop(); });
  step_done = true;
  if (window_watch.joinable()) window_watch.join();
  observers->Finish(ran.ok());
  RETURN_IF_ERROR(ran);
  const engine::Summary& s = *result;
  if (s.reverted) {
    Log(LogLevel::kInfo, "online rewrite of {} reverted in its revert window: {} changes replayed back, writers "
        "blocked {:.1f} ms at the swap back", QualifiedName(s.names.schema, s.names.table), s.reverse_changes,
        s.revert_blocked_ms);
    return absl::OkStatus();
  }
  Log(LogLevel::kInfo,
      "online rewrite of {} complete: {} rows copied, {} changes replayed, writers blocked {:.1f} ms at cutover, "
      "verified: {} ({} mismatches), {:.1f} s{}",
      QualifiedName(s.names.schema, s.names.table), s.rows_copied, s.changes_replayed, s.blocked_ms,
      s.verified ? "yes" : "no", s.verify_mismatches, s.elapsed_s,
      s.resumed_after_swap ? " (finished after the interrupted run's swap)" : "");
  return absl::OkStatus();
}

}  // namespace shadowcopy::cli
