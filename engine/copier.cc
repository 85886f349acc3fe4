#include "engine/copier.h"

#include <chrono>
#include <thread>

#include "common/log.h"
#include "common/quote.h"
#include "common/status.h"
#include "engine/sql_builder.h"
#include "engine/test_hooks.h"
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

absl::StatusOr<std::optional<std::vector<std::string>>> Copier::FindUpperBound(int64_t chunk_size) {
  PgParams params;
  if (lower_) params.insert(params.end(), lower_->begin(), lower_->end());
  params.push_back(std::to_string(chunk_size - 1));
  ASSIGN_OR_RETURN(auto r, conn_->Query(sql::CopyBoundarySql(*model_, lower_.has_value()), params));
  if (r.Rows() == 0) return std::optional<std::vector<std::string>>();
  std::vector<std::string> key;
  for (int i = 0; i < r.Cols(); ++i) key.push_back(r.GetString(0, i));
  return std::optional<std::vector<std::string>>(std::move(key));
}

absl::StatusOr<int64_t> Copier::CopyNextBatch(int64_t chunk_size) {
  if (done_) return 0;
  int batch = batches_ + 1;
  // Test pause points fire once per batch, also when a batch is retried.
  if (ShouldPause(*hooks_, "before-batch", batch) && paused_at_ != batch * 2) {
    paused_at_ = batch * 2;
    RETURN_IF_ERROR(PauseHere(*hooks_, replay_step_, *stop_));
  }
  RETURN_IF_ERROR(BeginVisibleSnapshot());
  auto run = [&]() -> absl::StatusOr<int64_t> {
    // The batch never waits in the original's lock queue: a session that
    // holds or awaits a conflicting lock (an ACCESS EXCLUSIVE of a DDL) makes
    // it fail at once with lock_not_available, and the caller backs off.
    // Waiting instead would queue every later conflicting request (the
    // application's DDL) behind the copy.
    RETURN_IF_ERROR(conn_->Exec(fmt::format("LOCK TABLE ONLY {} IN ACCESS SHARE MODE NOWAIT",
                                            QualifiedName(model_->names.schema, model_->names.table)))
                        .status());
    ASSIGN_OR_RETURN(auto upper, FindUpperBound(chunk_size));
    PgParams params;
    if (lower_) params.insert(params.end(), lower_->begin(), lower_->end());
    if (upper) params.insert(params.end(), upper->begin(), upper->end());
    // Rows the replay wrote ahead of the copy must win (ON CONFLICT DO
    // NOTHING); a range the shadow holds nothing of yet takes a plain INSERT.
    // No replay runs between the probe and the insert (single applier), and a
    // conflict anyway would fail the batch, which is then retried with
    // ON CONFLICT: never a wrong row.
    bool on_conflict = true;
    if (plain_allowed_ && !hooks_->disable_ordering) {
      ASSIGN_OR_RETURN(auto probe, conn_->Query(sql::ShadowRangeProbeSql(*model_, lower_.has_value(),
                                                                         upper.has_value()), params));
      on_conflict = probe.GetBool(0, 0);
    }
    ASSIGN_OR_RETURN(auto res, conn_->Query(sql::CopyBatchSql(*model_, lower_.has_value(),
                                                              upper.has_value(), on_conflict),
                                            params));
    if (ShouldPause(*hooks_, "before-commit", batch) && paused_at_ != batch * 2 + 1) {
      paused_at_ = batch * 2 + 1;
      // With the ordering mechanism disabled (tests only) replay runs while
      // the batch is open: the naive concurrent design this guards against.
      std::function<absl::Status()> idle;
      if (hooks_->disable_ordering) idle = replay_step_;
      RETURN_IF_ERROR(PauseHere(*hooks_, idle, *stop_));
    }
    if (checkpoint_) RETURN_IF_ERROR(checkpoint_(conn_, upper, !upper.has_value()));
    RETURN_IF_ERROR(conn_->Exec("COMMIT").status());
    if (upper) lower_ = std::move(upper);
    else done_ = true;
    return res.Affected();
  };
  auto rows = run();
  if (!rows.ok() && SqlStateOf(rows.status()) == "23505" && plain_allowed_) {
    // Unexpected: fall back to ON CONFLICT for the rest of the copy.
    plain_allowed_ = false;
    conn_->RollbackQuietly();
    return absl::AbortedError("copy batch met a replayed row; retrying with ON CONFLICT");
  }
  if (!rows.ok()) {
    conn_->RollbackQuietly();
    return Annotate(rows.status(), fmt::format("copy batch {}", batch));
  }
  batches_ = batch;
  return rows;
}

}  // namespace shadowcopy::engine
