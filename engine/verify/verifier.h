// Verifier: the worker pool that compares the shadow with the original, key
// range by key range, under one exported snapshot (a consistency point taken
// by the rewrite thread, see rewrite_verify.cc). Each worker owns a
// connection, imports the snapshot into a REPEATABLE READ transaction and
// hashes ranges inside the server (verify_sql.h); for a range that differs it
// lists the first differing keys under the same snapshot. Only counts,
// hashes and those keys reach the client.
//
// A pass stops taking ranges once the snapshot is older than its deadline
// (it holds back vacuum); ranges not started are returned for the next pass.
// Workers wait between ranges while the rewrite says the copy is throttled,
// and rest after each range as the copy does after a batch (--nice-ratio).
//
// Thread-safety: Begin/Done/Finish/SetThrottled/Cancel from the rewrite
// thread (Cancel and the progress getters from any thread). Workers are
// threads of their own while a pass runs.
#ifndef SHADOWCOPY_ENGINE_VERIFY_VERIFIER_H_
#define SHADOWCOPY_ENGINE_VERIFY_VERIFIER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/pg.h"
#include "engine/table/table_model.h"
#include "engine/verify/verify_sql.h"

namespace shadowcopy::engine {

// What one range gave.
struct RangeOutcome {
  size_t index = 0;  // into the pass's job list
  int64_t original_rows = 0;
  int64_t shadow_rows = 0;
  bool match = false;
  std::vector<std::string> differing;  // "key (what)", the first few
};

struct PassOutcome {
  std::vector<RangeOutcome> done;
  std::vector<size_t> not_started;  // job indexes left for the next pass
  absl::Status status;              // the first error of any worker
};

class Verifier {
 public:
  // `model` is borrowed. `workers` >= 1.
  Verifier(ConnectOptions connect, const TableModel* model, int workers, bool order_preserved);
  ~Verifier();  // cancels and joins a running pass

  // Opens the workers' connections (once); their server's version decides
  // the row hash's form (vsql::RowHashFormFor).
  absl::Status Connect();

  // Starts a pass over `jobs` under exported snapshot `snapshot_id`; workers
  // take no new range after `deadline`. Returns at once.
  void Begin(std::string snapshot_id, std::vector<vsql::KeyRange> jobs,
             std::chrono::steady_clock::time_point deadline);
  // True when every worker has finished the pass.
  bool Done() const { return running_.load() == 0; }
  // Joins the workers and returns the pass's outcome. REQUIRES: a pass began.
  PassOutcome Finish();

  void SetThrottled(bool throttled) { throttled_ = throttled; }
  // --nice-ratio: after a range that took d, a worker rests ratio × d.
  void SetNiceRatio(double ratio) { nice_ratio_ = ratio; }
  // Cancels the workers' queries and stops the pass. Any thread.
  void Cancel();

  int64_t ranges_done() const { return ranges_done_.load(); }
  int64_t rows_done() const { return rows_done_.load(); }
  std::vector<int> BackendPids() const;

 private:
  void Work(PgConn* conn);
  absl::Status BeginRange(PgConn* conn);
  absl::Status HashRange(PgConn* conn, size_t index);

  const ConnectOptions connect_;
  const TableModel* model_;
  const int workers_;
  const bool order_preserved_;
  std::vector<std::unique_ptr<PgConn>> conns_;  // fixed after Connect
  vsql::RowHashForm hash_form_ = vsql::RowHashForm::kRowText;  // fixed after Connect

  // Set by Begin before the threads start, read-only while they run.
  std::string snapshot_id_;
  std::vector<vsql::KeyRange> jobs_;
  std::chrono::steady_clock::time_point deadline_;

  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
  std::atomic<int> running_{0};
  std::atomic<bool> throttled_{false};
  std::atomic<double> nice_ratio_{0};
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> ranges_done_{0};
  std::atomic<int64_t> rows_done_{0};

  mutable std::mutex mu_;
  std::vector<RangeOutcome> done_;     // guarded by mu_
  std::vector<bool> started_;          // guarded by mu_
  absl::Status status_;                // guarded by mu_
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_VERIFY_VERIFIER_H_
