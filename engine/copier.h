// Copier: copies the original into the shadow in key-ordered batches, each
// its own short REPEATABLE READ transaction (no long-running snapshot holding
// back vacuum), server-side (INSERT ... SELECT), ON CONFLICT (<key>) DO NOTHING
// so rows the replay already wrote are kept.
//
// Ordering rule (DESIGN.md §3, "single applier"): the copier and the applier
// run on the same migration thread and alternate, so no replay runs while a
// batch is open; a change committed during a batch is applied after the
// batch commits and overwrites what the batch read.
// Visibility rule: each batch checks its snapshot against the VisibilityTracker
// before reading and retries a few milliseconds later when a transaction the
// applier already applied is not visible yet.
//
// Thread-safety: used by the migration thread only.
#ifndef SHADOWCOPY_ENGINE_COPIER_H_
#define SHADOWCOPY_ENGINE_COPIER_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/config.h"
#include "engine/snapshot.h"
#include "engine/table_model.h"

namespace shadowcopy::engine {

// Opens a REPEATABLE READ transaction on `conn` whose snapshot sees every
// transaction the applier has applied (the visibility rule), retrying every
// 2 ms while one is not visible yet; each retry increments *waits.
absl::Status BeginVisibleTransaction(PgConn* conn, VisibilityTracker* visibility,
                                     const std::atomic<bool>* stop, uint64_t* waits);

class Copier {
 public:
  // All pointers are borrowed. `idle` runs while a test pause point waits.
  Copier(PgConn* conn, const TableModel* model, VisibilityTracker* visibility,
         const TestHooks* hooks, const std::atomic<bool>* stop,
         std::function<absl::Status()> replay_step);

  // Copies the next batch of at most `chunk_size` rows and commits it.
  // Returns the number of rows inserted (rows the replay already wrote are
  // skipped and not counted). Unavailable with SQLSTATE 55P03 (nothing
  // done) when another session holds or awaits a lock on the original that
  // conflicts with reading it: the batch does not queue for it.
  absl::StatusOr<int64_t> CopyNextBatch(int64_t chunk_size);

  // Runs inside each batch's transaction, before COMMIT, with the batch's
  // upper key (nullopt for the last batch) and whether the copy is done: the
  // high-water mark is then durable exactly when the batch is.
  using Checkpoint = std::function<absl::Status(PgConn*, const std::optional<std::vector<std::string>>&, bool)>;
  void set_checkpoint(Checkpoint c) { checkpoint_ = std::move(c); }

  // Continues after a restart: the next batch starts after `high_water`.
  void Resume(std::optional<std::vector<std::string>> high_water, bool done) {
    lower_ = std::move(high_water);
    done_ = done;
  }

  bool done() const { return done_; }
  // The last key copied (nullopt before the first batch).
  const std::optional<std::vector<std::string>>& high_water() const { return lower_; }
  int batches() const { return batches_; }
  uint64_t visibility_waits() const { return visibility_waits_; }

 private:
  absl::Status BeginVisibleSnapshot();
  absl::StatusOr<std::optional<std::vector<std::string>>> FindUpperBound(int64_t chunk_size);

  PgConn* conn_;
  const TableModel* model_;
  VisibilityTracker* visibility_;
  const TestHooks* hooks_;
  const std::atomic<bool>* stop_;
  std::function<absl::Status()> replay_step_;
  Checkpoint checkpoint_;
  std::optional<std::vector<std::string>> lower_;  // last key copied
  bool done_ = false;
  int paused_at_ = 0;
  bool plain_allowed_ = false;  // key order preserved: ranges can be probed  // last test pause point fired (batch * 2 + point)
  int batches_ = 0;
  uint64_t visibility_waits_ = 0;
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_COPIER_H_
