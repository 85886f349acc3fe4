// Backfill: the orchestrator of `shadowcopy backfill`, a data migration on a
// live table — an UPDATE ... SET or a DELETE of the rows a WHERE matches — run
// as many short transactions over consecutive key ranges instead of one
// statement that would hold its row locks for minutes and lag every replica.
//
// Phases: inspect (table, key) → the span (the largest key now: the end is
// fixed, rows inserted later above it or behind the cursor are not the
// backfill's job) → validate (one batch in a rolled-back transaction: bad
// SET/WHERE text fails here and changes nothing) → dry run: print the plan;
// execute: record the run, then batches until the span's end.
//
// Each batch is one READ COMMITTED transaction on one connection: SET LOCAL
// lock_timeout; find the batch's upper key (the n-th key after the cursor,
// through the key's index, bounded by the span's end); UPDATE/DELETE the rows
// in (cursor, upper] that match the WHERE; write the cursor into the state
// table; COMMIT. No snapshot outlives a batch; the only locks are the
// batch's row locks and the ROW EXCLUSIVE any UPDATE/DELETE takes. A lock
// timeout (or deadlock) rolls the batch back; it is retried after a jittered
// backoff with half the keys, so an application session never waits behind
// a batch longer than the lock_timeout.
//
// Thread-safety: Run() on one thread; RequestStop() and control() from any.
#ifndef SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_H_
#define SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/backfill/backfill_sql.h"
#include "engine/backfill/backfill_state.h"
#include "engine/control/config.h"
#include "engine/control/control.h"
#include "engine/table/inspector.h"
#include "engine/table/table_model.h"
#include "throttler/chunk_sizer.h"
#include "throttler/throttler.h"

namespace shadowcopy::engine {

struct BackfillSummary {
  bool dry_run = true;
  bool resumed = false;
  bool delete_rows = false;
  std::string table;            // quoted schema.table
  int64_t rows_changed = 0;     // by this process
  int64_t keys_covered = 0;     // by this process
  int64_t batches = 0;          // committed by this process
  int64_t total_rows_changed = 0;  // over the whole run (resumes included)
  int64_t lock_retries = 0;     // batches retried after a lock timeout or deadlock
  double batches_s = 0;         // time in the batch loop
  double elapsed_s = 0;
};

class Backfill {
 public:
  // REQUIRES: config validated by the CLI (table, where, set xor delete).
  explicit Backfill(Config config);
  ~Backfill();

  // The dry run (prints the plan to stdout) or the backfill. Logs progress
  // to stderr. Cancelled when stopped (signal, `ctl abort`).
  absl::StatusOr<BackfillSummary> Run();

  // Stops after rolling back the batch in flight. Any thread.
  void RequestStop();

  // The operator's interface (control socket). Valid for the lifetime.
  Control* control() { return control_.get(); }

 private:
  struct Batch {
    int64_t keys = 0;  // keys in the range
    int64_t rows = 0;  // rows updated or deleted
    std::optional<std::vector<std::string>> upper;  // nullopt: no key was left
    bool last = false;  // the range reached the span's end
  };

  absl::StatusOr<BackfillSummary> RunSteps();
  // Announces `event` to the hooks with the run's current facts (backfill_hooks.cc).
  void Hook(std::string_view event, HookVars extra = {});
  absl::Status Connect();
  absl::Status InspectPhase();
  absl::Status ReadSpan();
  absl::Status CheckRecord(const std::optional<BackfillRecord>& rec);
  absl::Status CheckSetKeepsKeys();
  absl::Status Validate();
  absl::Status CreateRecord();
  absl::Status StartThrottler();
  absl::StatusOr<bool> MayProceed();
  absl::Status BatchLoop();
  absl::StatusOr<Batch> RunBatch(int64_t size, bool commit);
  absl::StatusOr<Batch> RunBatchRetrying(int64_t size, bool commit);
  absl::Status Reconnect();
  absl::Status Estimate();
  void PrintPlan() const;
  void Publish();
  void MaybeReportProgress(bool force);
  double SpanPercent() const;
  std::string RangeText(const std::optional<std::vector<std::string>>& upper) const;
  std::string Where() const;  // "after key (x)" / "from the first key"
  void SleepFor(std::chrono::milliseconds d) const;

  const Config config_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<Control> control_;
  std::unique_ptr<Hooks> hooks_;  // set by Run

  // Owned by the Run() thread.
  std::unique_ptr<PgConn> conn_;  // batches and state; holds the advisory lock
  Inspection in_;
  absl::Status key_probe_;  // the key assignment probe's own failure, if any
  TableModel model_;
  backfill_sql::BatchSpec spec_;
  std::vector<std::string> span_first_, span_last_;  // empty: the table was empty
  std::optional<std::vector<std::string>> cursor_;   // last committed upper key
  bool done_ = false;
  std::optional<BackfillRecord> resumed_;
  std::unique_ptr<BackfillState> state_;
  std::unique_ptr<throttler::Throttler> throttler_;
  std::unique_ptr<throttler::ChunkSizer> sizer_;
  uint64_t control_revision_ = ~uint64_t{0};
  std::string last_throttle_reason_;
  BackfillSummary summary_;
  std::string stop_reason_;
  int reconnects_ = 0;            // sessions lost and reopened during the run
  int paused_at_ = 0;             // last test pause point fired (batch * 2 + point)       // recorded in the state when the run stops
  int64_t keys_before_ = 0;       // covered by earlier processes of the run
  double estimated_keys_ = 0;     // keys in the span (planner)
  double estimated_matches_ = -1; // rows the WHERE matches (planner); < 0 unknown
  Batch validation_;              // the rolled-back first batch
  double validation_ms_ = 0;
  std::chrono::steady_clock::time_point started_, loop_started_, last_progress_;
  int64_t keys_at_last_progress_ = 0, rows_at_last_progress_ = 0;

  std::mutex conn_mu_;  // guards conn_ (the pointer) for RequestStop's cancel
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_H_
