#include "engine/rewrite/copier.h"

#include <chrono>
#include <thread>

#include "common/log.h"
#include "common/quote.h"
#include "common/status.h"
#include "engine/control/test_hooks.h"
#include "engine/rewrite/copy_relay.h"
#include "engine/table/relay_sql.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

Copier::Copier(PgConn* conn, const TableModel* model, VisibilityTracker* visibility,
               const TestHooks* hooks, const std::atomic<bool>* stop,
               std::function<absl::Status()> replay_step)
    : conn_(conn),
      model_(model),
      visibility_(visibility),
      hooks_(hooks),
      stop_(stop),
      replay_step_(std::move(replay_step)),
      plain_allowed_(sql::KeyOrderPreserved(*model)) {}

// The commit record of a decoded transaction can be flushed before the
// transaction leaves the proc array; a batch (or a repair) that cannot see an
// applied delete would copy the deleted row back.
absl::Status BeginVisibleTransaction(PgConn* conn, VisibilityTracker* visibility,
                                     const std::atomic<bool>* stop, uint64_t* waits) {
  auto started = std::chrono::steady_clock::now();
  auto next_log = started + std::chrono::seconds(1);
  for (;;) {
    RETURN_IF_ERROR(conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ").status());
    ASSIGN_OR_RETURN(auto r, conn->Exec("SELECT pg_current_snapshot()::text"));
    ASSIGN_OR_RETURN(auto snap, ParseSnapshot(r.Get(0, 0)));
    uint64_t waiting_for = 0;
    if (visibility->CheckAndClear(snap, &waiting_for)) return absl::OkStatus();
    conn->RollbackQuietly();
    ++*waits;
    if (*stop) return absl::CancelledError("stopped");
    auto now = std::chrono::steady_clock::now();
    if (now >= next_log) {
      Log(LogLevel::kInfo, "waiting for transaction {} to become visible ({} ms)", waiting_for,
          std::chrono::duration_cast<std::chrono::milliseconds>(now - started).count());
      next_log = now + std::chrono::seconds(10);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Opens the batch's transaction with a snapshot that sees every transaction
// the applier has already applied (the visibility rule).
absl::Status Copier::BeginVisibleSnapshot() {
  return BeginVisibleTransaction(conn_, visibility_, stop_, &visibility_waits_);
}

// The batch never waits in the original's lock queue: a session that holds
// or awaits a conflicting lock (an ACCESS EXCLUSIVE of a DDL) makes it fail at
// once with lock_not_available, and the caller backs off. Waiting instead
// would queue every later conflicting request (the application's DDL) behind
// the copy.
absl::Status Copier::LockOriginal(PgConn* conn) {
  return conn->Exec(fmt::format("LOCK TABLE ONLY {} IN ACCESS SHARE MODE NOWAIT",
                                QualifiedName(model_->names.schema, model_->names.table)))
      .status();
}

absl::StatusOr<Copier::Key> Copier::FindUpperBound(PgConn* conn, const Key& lower, int64_t chunk_size) {
  PgParams params;
  if (lower) params.insert(params.end(), lower->begin(), lower->end());
  params.push_back(std::to_string(chunk_size - 1));
  ASSIGN_OR_RETURN(auto r, conn->Query(sql::CopyBoundarySql(*model_, lower.has_value()), params));
  if (r.Rows() == 0) return Key();
  std::vector<std::string> key;
  for (int i = 0; i < r.Cols(); ++i) key.push_back(r.GetString(0, i));
  return Key(std::move(key));
}

// Rows the replay wrote ahead of the copy must win (ON CONFLICT DO NOTHING);
// a range the shadow holds nothing of yet takes a plain INSERT. No replay
// runs between the probe and the insert (single applier), and a conflict
// anyway fails the batch, which is then retried with ON CONFLICT: never a
// wrong row.
void Copier::set_relay_connection(PgConn* conn) {
  relay_ = conn != nullptr && sql::RelayAllowed(*model_) ? conn : nullptr;
}

absl::StatusOr<int64_t> Copier::InsertRange(PgConn* conn, const Key& lower, const Key& upper,
                                            PgConn** writer) {
  PgParams params;
  if (lower) params.insert(params.end(), lower->begin(), lower->end());
  if (upper) params.insert(params.end(), upper->begin(), upper->end());
  bool on_conflict = true;
  if (key_index_deferred_) {
    on_conflict = false;
  } else if (plain_allowed_ && !hooks_->disable_ordering) {
    ASSIGN_OR_RETURN(auto probe, conn->Query(sql::ShadowRangeProbeSql(*model_, lower.has_value(),
                                                                      upper.has_value()), params));
    on_conflict = probe.GetBool(0, 0);
  }
  if (!on_conflict && writer != nullptr && relay_ != nullptr && !hooks_->disable_ordering) {
    // The writer's transaction holds no snapshot that matters: it reads
    // nothing, and commits before this batch ends (no replay in between).
    RETURN_IF_ERROR(relay_->Exec("BEGIN").status());
    *writer = relay_;
    ASSIGN_OR_RETURN(int64_t rows, RelayCopy(conn, sql::RelayCopyOutSql(*model_, lower, upper), relay_,
                                             sql::RelayCopyInSql(*model_)));
    ++relayed_batches_;
    return rows;
  }
  ASSIGN_OR_RETURN(auto res, conn->Query(sql::CopyBatchSql(*model_, lower.has_value(), upper.has_value(),
                                                           on_conflict), params));
  return res.Affected();
}

// A plain INSERT met a row after all: fall back to ON CONFLICT for the rest
// of the copy (the caller retries the batch).
absl::Status Copier::FailedWithReplayedRow(const absl::Status& st) {
  if (SqlStateOf(st) != "23505" || !plain_allowed_) return st;
  plain_allowed_ = false;
  return absl::AbortedError("copy batch met a replayed row; retrying with ON CONFLICT");
}

absl::StatusOr<int64_t> Copier::CopyNextBatch(int64_t chunk_size) {
  last_round_batches_ = 1;
  if (done_) return 0;
  int batch = batches_ + 1;
  // Test pause points fire once per batch, also when a batch is retried.
  if (ShouldPause(*hooks_, "before-batch", batch) && paused_at_ != batch * 2) {
    paused_at_ = batch * 2;
    RETURN_IF_ERROR(PauseHere(*hooks_, replay_step_, *stop_));
  }
  RETURN_IF_ERROR(BeginVisibleSnapshot());
  PgConn* writer = conn_;
  auto run = [&]() -> absl::StatusOr<int64_t> {
    RETURN_IF_ERROR(LockOriginal(conn_));
    ASSIGN_OR_RETURN(auto upper, FindUpperBound(conn_, lower_, chunk_size));
    ASSIGN_OR_RETURN(int64_t rows, InsertRange(conn_, lower_, upper, &writer));
    if (ShouldPause(*hooks_, "before-commit", batch) && paused_at_ != batch * 2 + 1) {
      paused_at_ = batch * 2 + 1;
      // With the ordering mechanism disabled (tests only) replay runs while
      // the batch is open: the naive concurrent design this guards against.
      std::function<absl::Status()> idle;
      if (hooks_->disable_ordering) idle = replay_step_;
      RETURN_IF_ERROR(PauseHere(*hooks_, idle, *stop_));
    }
    // A relayed batch: the reading session wrote nothing; it ends first, so
    // that once the rows are committed nothing can fail the batch.
    if (writer != conn_) RETURN_IF_ERROR(conn_->Exec("COMMIT").status());
    if (checkpoint_) RETURN_IF_ERROR(checkpoint_(writer, upper, !upper.has_value()));
    RETURN_IF_ERROR(writer->Exec("COMMIT").status());
    if (upper) batch_ends_.push_back(BatchEnd{*upper, rows});
    if (upper) lower_ = std::move(upper);
    else done_ = true;
    return rows;
  };
  auto rows = run();
  if (!rows.ok()) {
    if (writer != conn_) writer->RollbackQuietly();
    conn_->RollbackQuietly();
    absl::Status st = FailedWithReplayedRow(rows.status());
    if (st.code() == absl::StatusCode::kAborted) return st;
    return Annotate(st, fmt::format("copy batch {}", batch));
  }
  batches_ = batch;
  return rows;
}

absl::StatusOr<int64_t> Copier::CopyNextRound(int64_t chunk_size) {
  if (extra_.empty() || !hooks_->pause_point.empty()) return CopyNextBatch(chunk_size);
  last_round_batches_ = 0;
  if (done_) return 0;
  struct Batch {
    PgConn* conn;
    Key lower, upper;
    absl::StatusOr<int64_t> rows = 0;
  };
  std::vector<Batch> round;
  auto rollback_all = [&round] {
    for (auto& b : round) b.conn->RollbackQuietly();
  };
  std::vector<PgConn*> conns = {conn_};
  conns.insert(conns.end(), extra_.begin(), extra_.end());
  // Snapshots one after the other: a transaction visible to one snapshot is
  // visible to every later one, so once the first passes the visibility
  // check, all of them see everything the applier applied.
  Key lower = lower_;
  for (PgConn* conn : conns) {
    round.push_back(Batch{conn, lower, Key()});
    absl::Status st = BeginVisibleTransaction(conn, visibility_, stop_, &visibility_waits_);
    if (st.ok()) st = LockOriginal(conn);
    if (st.ok()) {
      auto upper = FindUpperBound(conn, lower, chunk_size);
      if (upper.ok()) round.back().upper = *upper;
      st = upper.status();
    }
    if (!st.ok()) {
      rollback_all();
      return Annotate(st, fmt::format("copy batch {}", batches_ + static_cast<int>(round.size())));
    }
    lower = round.back().upper;
    if (!lower) break;  // the last batch of the copy
  }
  {
    std::vector<std::thread> threads;
    for (size_t i = 1; i < round.size(); ++i)
      threads.emplace_back([this, &b = round[i]] { b.rows = InsertRange(b.conn, b.lower, b.upper); });
    round[0].rows = InsertRange(round[0].conn, round[0].lower, round[0].upper);
    for (auto& t : threads) t.join();
  }
  // Commit in key order, each with its checkpoint; after a failure the rest
  // roll back, so what is committed is always a prefix of the round.
  int64_t copied = 0;
  absl::Status failure;
  for (auto& b : round) {
    if (failure.ok()) {
      absl::Status st = b.rows.status();
      if (st.ok() && checkpoint_) st = checkpoint_(b.conn, b.upper, !b.upper.has_value());
      if (st.ok()) st = b.conn->Exec("COMMIT").status();
      if (st.ok()) {
        copied += *b.rows;
        ++batches_;
        ++last_round_batches_;
        if (b.upper) batch_ends_.push_back(BatchEnd{*b.upper, *b.rows});
        if (b.upper) lower_ = b.upper;
        else done_ = true;
        continue;
      }
      failure = Annotate(FailedWithReplayedRow(st), fmt::format("copy batch {}", batches_ + 1));
    }
    b.conn->RollbackQuietly();
  }
  // Batches that committed count; the failed one is retried by the next call.
  if (!failure.ok() && last_round_batches_ == 0) return failure;
  if (!failure.ok()) Log(LogLevel::kInfo, "{} (retried)", failure.message());
  return copied;
}

}  // namespace shadowcopy::engine
