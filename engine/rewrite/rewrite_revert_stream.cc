// The revert window's reverse stream: opened from the window's checkpoint
// (shadowcopy.revert_windows.applied_lsn), and opened again after a lost
// connection or a server restart, as the forward replay survives them
// (Rewrite::Reconnect): every session is dropped, the run reconnects with
// back-off, takes its advisory lock again and continues from the durable
// checkpoint, not from what it held in memory (a COMMIT whose reply was lost
// may or may not have happened). Replay skips commits at or below the
// checkpoint, so nothing is applied twice and nothing is skipped.
//
// Thread-safety: the rewrite thread.
#include <thread>

#include "common/log.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/rewrite/rewrite.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;

}  // namespace

absl::Status Rewrite::OpenReverseStream(Lsn applied) {
  const auto& m = rev_plan_.model;
  cdc::StreamOptions so;
  so.connect.dsn = config_.dsn;
  so.slot = m.names.slot;
  so.publication = m.names.publication;
  so.relation_oid = m.oid;
  for (const auto& c : m.source_columns)
    if (!c.generated) so.expected_columns.push_back({c.name, c.type_oid});
  if (stream_) stream_->Stop();
  stream_ = std::make_unique<cdc::ChangeStream>(so);
  if (!apply_) RETURN_IF_ERROR(OpenWorkConnections());
  durable_applied_ = applied;
  stream_->MarkApplied(applied);
  RETURN_IF_ERROR(stream_->Start());
  applier_ = std::make_unique<Applier>(apply_.get(), &rev_plan_.model, &visibility_, &stop_);
  applier_->set_checkpoint([this](PgConn* conn, Lsn end) -> absl::Status {
    return conn->Query("UPDATE shadowcopy.revert_windows SET applied_lsn = greatest(applied_lsn, $2::pg_lsn), "
                       "updated_at = now() WHERE run_id = $1", {run_id_, FormatLsn(end)}).status();
  });
  if (throttler_) throttler_->SetSlot(m.names.slot);
  return absl::OkStatus();
}

uint64_t Rewrite::ReverseChanges() const {
  return reverse_changes_base_ + (applier_ ? applier_->stats().changes : 0);
}

bool Rewrite::ReverseStreamLost(const absl::Status& st) const {
  if (stop_ || st.code() != absl::StatusCode::kUnavailable) return false;
  // Lock timeouts are not losses: only a session or the stream gone.
  for (const auto* c : {main_.get(), apply_.get()})
    if (c == nullptr || !c->Healthy()) return true;
  return stream_ && !stream_->status().ok();
}

absl::Status Rewrite::ResumeReverseStream(absl::Status cause, int* reconnects) {
  constexpr int kMaxReverseReconnects = 10;
  absl::Status st = std::move(cause);
  while (*reconnects < kMaxReverseReconnects) {
    ++*reconnects;
    Log(LogLevel::kWarning, "revert window: {}; reconnecting and continuing the reverse stream from its "
        "checkpoint (attempt {}/{})", st.message(), *reconnects, kMaxReverseReconnects);
    st = ReconnectReverseStream(*reconnects);
    if (st.ok() || stop_ || st.code() != absl::StatusCode::kUnavailable) break;
  }
  if (st.ok()) return st;
  return Annotate(st, fmt::format("the revert window ends: the reverse stream could not continue after {} "
                                  "reconnection attempts", *reconnects));
}

absl::Status Rewrite::ReconnectReverseStream(int attempt) {
  if (stream_) stream_->Stop();
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    verifier_.reset();
    vlock_.reset();
    vexport_.reset();
    copy_.reset();
    copy_extra_.clear();
    apply_extra_.clear();
    apply_.reset();
    lock_.reset();
    main_.reset();
  }
  reverse_changes_base_ = ReverseChanges();
  applier_.reset();  // wrote through the apply session just closed
  RetryPolicy policy;
  policy.attempts = 30;
  policy.initial_backoff = milliseconds(250);
  policy.max_backoff = milliseconds(5000);
  std::this_thread::sleep_for(Backoff(policy, attempt));
  RETURN_IF_ERROR(Retry(policy, "reconnecting", [&] { return Connect(); }, &stop_));
  // The run's advisory lock went with the old session: `cleanup` must keep
  // seeing the run as alive.
  ASSIGN_OR_RETURN(auto locked, main_->Query("SELECT pg_try_advisory_lock($1::bigint)",
                                             {std::to_string(advisory_key_)}));
  if (!locked.GetBool(0, 0)) return absl::FailedPreconditionError("another shadowcopy run took over the table");
  ASSIGN_OR_RETURN(auto w, main_->Query("SELECT applied_lsn::text FROM shadowcopy.revert_windows "
                                        "WHERE run_id = $1 AND state = 'open'", {run_id_}));
  if (w.Rows() == 0) return absl::InternalError(fmt::format("run {} has no open revert window", run_id_));
  Lsn applied = ParseLsn(w.Get(0, 0)).value_or(0);
  RETURN_IF_ERROR(OpenWorkConnections());
  RETURN_IF_ERROR(OpenReverseStream(applied));
  Log(LogLevel::kInfo, "revert window: reconnected; the reverse stream continues from its checkpoint {}",
      FormatLsn(applied));
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
