// The revert window's reverse stream: opened from the window's checkpoint
// (shadowcopy.revert_windows.applied_lsn), and opened again after a lost
// connection or a server restart, as the forward replay survives them
// (both through Rewrite::ReopenSessions): every session is dropped, the run
// reconnects with back-off, takes its advisory lock again and continues from the durable
// checkpoint, not from what it held in memory (a COMMIT whose reply was lost
// may or may not have happened). Replay skips commits at or below the
// checkpoint, so nothing is applied twice and nothing is skipped.
//
// Thread-safety: the rewrite thread.
#include "common/log.h"
#include "common/status.h"
#include "engine/rewrite/rewrite.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

absl::Status Rewrite::OpenReverseStream(Lsn applied) {
  const auto& m = rev_plan_.model;
  if (stream_) stream_->Stop();
  stream_ = std::make_unique<cdc::ChangeStream>(StreamOptionsFor(m));
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
  reverse_changes_base_ = ReverseChanges();
  applier_.reset();  // writes through the apply session about to close
  RETURN_IF_ERROR(ReopenSessions(attempt));
  ASSIGN_OR_RETURN(auto w, main_->Query("SELECT applied_lsn::text, state FROM shadowcopy.revert_windows "
                                        "WHERE run_id = $1", {run_id_}));
  // The swap back commits its record with it: a swap whose COMMIT's reply
  // was lost is found here.
  if (w.Rows() == 1 && w.Get(0, 1) == "reverted")
    return absl::AlreadyExistsError("the swap back had committed before the connection was lost");
  if (w.Rows() == 0 || w.Get(0, 1) != "open")
    return absl::InternalError(fmt::format("run {} has no open revert window", run_id_));
  Lsn applied = ParseLsn(w.Get(0, 0)).value_or(0);
  RETURN_IF_ERROR(OpenWorkConnections());
  RETURN_IF_ERROR(OpenReverseStream(applied));
  Log(LogLevel::kInfo, "revert window: reconnected; the reverse stream continues from its checkpoint {}",
      FormatLsn(applied));
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
