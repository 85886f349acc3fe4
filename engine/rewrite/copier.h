// Copier: copies the original into the shadow in key-ordered batches, each
// its own short REPEATABLE READ transaction (no long-running snapshot holding
// back vacuum), server-side (INSERT ... SELECT), ON CONFLICT (<key>) DO NOTHING
// so rows the replay already wrote are kept.
//
// Ordering rule (DESIGN.md §3, "single applier"): the copier and the applier
// run on the same rewrite thread and alternate, so no replay runs while a
// batch is open; a change committed during a batch is applied after the
// batch commits and overwrites what the batch read.
// Visibility rule: each batch checks its snapshot against the VisibilityTracker
// before reading and retries a few milliseconds later when a transaction the
// applier already applied is not visible yet.
//
// Thread-safety: used by the rewrite thread only.
#ifndef SHADOWCOPY_ENGINE_REWRITE_COPIER_H_
#define SHADOWCOPY_ENGINE_REWRITE_COPIER_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/control/config.h"
#include "engine/table/snapshot.h"
#include "engine/table/table_model.h"

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

  // Connections for batches run in parallel with the first (borrowed; each
  // used by one thread at a time). Empty: one batch at a time.
  void set_extra_connections(std::vector<PgConn*> conns) { extra_ = std::move(conns); }

  // Copies up to 1 + extra connections consecutive batches of at most
  // `chunk_size` rows each: their snapshots are taken one after the other,
  // their INSERTs run in parallel, and they commit in key order, so the
  // committed ranges always form a prefix and the high-water mark only moves
  // over copied keys. Nothing is replayed during a round (single applier).
  // Returns the rows inserted; an error only when no batch committed. Runs
  // CopyNextBatch instead without extra connections or when a test pause
  // point is armed.
  absl::StatusOr<int64_t> CopyNextRound(int64_t chunk_size);
  // Batches committed by the last CopyNextRound (for sizing: they ran side
  // by side, so each took about the round's time).
  int last_round_batches() const { return last_round_batches_; }

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
  // The shadow has no key index yet (built after the copy; replay waits for
  // it): no range can hold a row, every batch is a plain INSERT.
  void set_key_index_deferred(bool deferred) { key_index_deferred_ = deferred; }
  // A session idle while a batch runs (borrowed; the single applier's: no
  // replay runs during a batch). With it, a batch that would be a plain
  // INSERT is relayed instead: COPY TO STDOUT from the batch's snapshot on
  // the copy session, COPY FROM STDIN into the shadow on this one, which
  // commits it with the checkpoint before the copy session ends its
  // read-only transaction (engine/table/relay_sql.h says which tables).
  void set_relay_connection(PgConn* conn);
  int relayed_batches() const { return relayed_batches_; }

  // Continues after a restart: the next batch starts after `high_water`.
  void Resume(std::optional<std::vector<std::string>> high_water, bool done) {
    // The batches before a restart are not known: no boundary list.
    if (high_water || done) batch_ends_complete_ = false;
    lower_ = std::move(high_water);
    done_ = done;
  }

  // The upper key and row count of every committed batch, in key order
  // (the last batch, open above, is not listed), when this copier copied
  // the whole table; nullopt after a resume. The verification cuts its key
  // ranges there instead of scanning the key index for boundaries.
  struct BatchEnd {
    std::vector<std::string> upper;
    int64_t rows = 0;
  };
  std::optional<std::vector<BatchEnd>> batch_ends() const {
    if (!batch_ends_complete_ || !done_) return std::nullopt;
    return batch_ends_;
  }

  bool done() const { return done_; }
  // The last key copied (nullopt before the first batch).
  const std::optional<std::vector<std::string>>& high_water() const { return lower_; }
  int batches() const { return batches_; }
  uint64_t visibility_waits() const { return visibility_waits_; }

 private:
  using Key = std::optional<std::vector<std::string>>;
  absl::Status BeginVisibleSnapshot();
  absl::Status LockOriginal(PgConn* conn);
  absl::StatusOr<Key> FindUpperBound(PgConn* conn, const Key& lower, int64_t chunk_size);
  // Probe and INSERT of the range (lower, upper] inside the open transaction.
  // With `writer` set, the rows may be relayed instead: *writer is then the
  // session whose open transaction holds them (else `conn`).
  absl::StatusOr<int64_t> InsertRange(PgConn* conn, const Key& lower, const Key& upper,
                                      PgConn** writer = nullptr);
  absl::Status FailedWithReplayedRow(const absl::Status& st);

  PgConn* conn_;
  const TableModel* model_;
  VisibilityTracker* visibility_;
  const TestHooks* hooks_;
  const std::atomic<bool>* stop_;
  std::function<absl::Status()> replay_step_;
  Checkpoint checkpoint_;
  std::optional<std::vector<std::string>> lower_;  // last key copied
  bool done_ = false;
  int paused_at_ = 0;  // last test pause point fired (batch * 2 + point)
  bool plain_allowed_ = false;  // key order preserved: ranges can be probed
  bool key_index_deferred_ = false;
  int batches_ = 0;
  int last_round_batches_ = 1;
  uint64_t visibility_waits_ = 0;
  std::vector<PgConn*> extra_;
  std::vector<BatchEnd> batch_ends_;
  bool batch_ends_complete_ = true;
  PgConn* relay_ = nullptr;  // null: no relay
  int relayed_batches_ = 0;
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_COPIER_H_
