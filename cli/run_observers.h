// What watches a running command besides its log: the `--metrics-listen`
// endpoint and, on a terminal, the self-updating progress line on stderr.
// Both only read the run's status (engine::Control::Status, or a migrate
// run's counters); neither can block or stop the run.
//
// Thread-safety: Start, Finish and the destructor belong to the command's
// thread; the endpoint and the progress line each run on their own thread.
#ifndef SHADOWCOPY_CLI_RUN_OBSERVERS_H_
#define SHADOWCOPY_CLI_RUN_OBSERVERS_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "cli/metrics_server.h"
#include "cli/metrics_text.h"
#include "engine/control/config.h"
#include "engine/control/control.h"

namespace shadowcopy::cli {

// True when a run with `config` shows the progress line: executing, stderr
// a terminal (TERM not "dumb") and --progress not json.
bool ProgressLineWanted(const engine::Config& config);

// The terminal's width in columns (TIOCGWINSZ on stderr); 80 when unknown.
int TerminalWidth();

class RunObservers {
 public:
  // Starts the metrics endpoint when `metrics_listen` is set (its address is
  // logged: `metrics: http://HOST:PORT/metrics`), serving `render`, and the
  // progress line when `control` is given and `progress_line`.
  // FailedPrecondition/InvalidArgument, one line, when the address cannot
  // be used; nothing is left running then.
  static absl::StatusOr<std::unique_ptr<RunObservers>> Start(const std::string& metrics_listen,
                                                             MetricsServer::Render render,
                                                             const engine::Control* control, bool progress_line);
  // The render callback of a rewrite or backfill.
  static MetricsServer::Render RunRender(RunLabels labels, const engine::Control* control);

  // Replaces the progress line with its final line (ok: "done ...", else
  // "stopped ..."), which stays on screen, and stops the endpoint.
  // Idempotent; the destructor calls Finish(false).
  void Finish(bool ok);
  ~RunObservers();

 private:
  RunObservers() = default;
  void DrawLoop();

  std::unique_ptr<MetricsServer> server_;
  const engine::Control* control_ = nullptr;  // the progress line's source; null: no line
  std::thread drawer_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool finished_ = false;  // command thread only
};

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_RUN_OBSERVERS_H_
