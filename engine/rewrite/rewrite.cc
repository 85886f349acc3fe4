#include "engine/rewrite/rewrite.h"

#include <cstdio>
#include <thread>

#include "common/log.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/rewrite/after_swap.h"
#include "engine/rewrite/shadow_check.h"
#include "engine/table/run_lock.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

Rewrite::Rewrite(Config config)
    : config_(std::move(config)), control_(std::make_unique<Control>(config_.control)) {
  visibility_.set_enabled(!config_.test.disable_visibility);
  control_->SetAbortHandler([this] { RequestStop(); });
}

Rewrite::~Rewrite() {
  if (throttler_) throttler_->Stop();
  if (stream_) stream_->Stop();
}

void Rewrite::RequestStop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(conns_mu_);
  for (auto& c : apply_extra_)
    if (c) c->Cancel();
  for (auto* c : {main_.get(), copy_.get(), apply_.get(), lock_.get(), vlock_.get(), vexport_.get()})
    if (c) c->Cancel();
  for (auto& c : copy_extra_) c->Cancel();
  if (verifier_) verifier_->Cancel();
}

absl::Status Rewrite::CheckStop() const {
  if (stop_) return absl::CancelledError("interrupted");
  return absl::OkStatus();
}

void Rewrite::Phase(std::string_view name) {
  Log(LogLevel::kInfo, "phase={}", name);
  phase_ = std::string(name);
  PublishProgress(name);
}

void Rewrite::PublishProgress(std::string_view phase) {
  Progress p;
  p.phase = std::string(phase);
  p.rows_copied = summary_.rows_copied;
  p.estimated_rows = plan_.model.estimated_rows;
  p.batches = copier_ ? copier_->batches() : 0;
  p.chunk_size = sizer_ ? sizer_->Next() : config_.control.chunk_size;
  if (applier_ && summary_.revert_window) {  // the applier is the reverse stream's now
    p.changes_replayed = summary_.changes_replayed;
    p.reverse_changes_replayed = ReverseChanges();
  } else if (applier_) {
    p.changes_replayed = applier_->stats().changes;
  }
  if (stream_) {
    auto ss = stream_->stats();
    p.queue_depth = ss.queued_transactions;
    // Replay lag in time: while transactions wait, the age of the last one
    // replayed (commit times count from 2000-01-01).
    if (p.queue_depth > 0 && last_applied_commit_time_ > 0)
      p.replay_lag_s = std::max(0.0, std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                                         .count() - 946684800.0 - last_applied_commit_time_ / 1e6);
    p.replay_lag_bytes = ss.server_wal_end > durable_applied_ && durable_applied_ > 0
                             ? static_cast<int64_t>(ss.server_wal_end - durable_applied_) : 0;
  }
  double elapsed = SecondsSince(started_);
  p.rows_per_s = elapsed > 0 ? summary_.rows_copied / std::max(elapsed, 1e-3) : 0;
  if (phase == "copy" && p.rows_per_s > 0)
    p.eta_s = std::max(0.0, (plan_.model.estimated_rows - summary_.rows_copied) / p.rows_per_s);
  p.verify_state = config_.verify || !verify_state_.empty() ? verify_state_ : "off";
  p.verify_ranges_total = verify_total_;
  p.verify_ranges_done = verifier_ ? verifier_->ranges_done() - verify_done_base_ : 0;
  p.verify_rows = summary_.verify_rows;
  p.verify_mismatches = summary_.verify_mismatches;
  p.verify_repaired = summary_.verify_repaired;
  p.verify_blocked_ms = summary_.verify_blocked_ms;
  p.cutover_attempts = summary_.cutover_attempts;
  p.cutover_blocked_ms = summary_.blocked_ms;
  p.slot_retained_wal_bytes = slot_retained_bytes_;
  if (!lock_wait_.empty()) {
    p.lock_wait = lock_wait_;
    p.lock_wait_s = lock_wait_s_;
    p.lock_holder_pid = lock_wait_holder_.pid;
    p.lock_holder_application = lock_wait_holder_.application_name;
    p.lock_holder_user = lock_wait_holder_.usename;
    p.lock_holder_mode = lock_wait_holder_.mode;
    p.lock_holder_granted = lock_wait_holder_.granted;
    p.lock_holder_s = lock_wait_holder_.xact_age_ms >= 0 ? lock_wait_holder_.xact_age_ms / 1000.0 : -1;
    p.lock_holder_query = lock_wait_holder_.query;
  }
  control_->Publish(p);
}

absl::Status Rewrite::Connect() {
  ConnectOptions co;
  co.dsn = config_.dsn;
  auto open = [&](const char* role) -> absl::StatusOr<std::unique_ptr<PgConn>> {
    co.application_name = std::string("shadowcopy_") + role;
    return PgConn::Connect(co);
  };
  ASSIGN_OR_RETURN(auto main, open("main"));
  std::lock_guard<std::mutex> lock(conns_mu_);
  main_ = std::move(main);
  return absl::OkStatus();
}

absl::StatusOr<Summary> Rewrite::RunSteps() {
  started_ = Clock::now();
  summary_.dry_run = !config_.execute;
  RETURN_IF_ERROR(Connect());
  Hook("startup");
  ASSIGN_OR_RETURN(Inspection in, InspectPhase());
  summary_.names = in.names;
  if (config_.resume && !config_.execute) {
    // A run killed after its swap: say what --resume would finish.
    ASSIGN_OR_RETURN(auto swapped, FindSwappedRunOn(main_.get(), in.names.schema, in.names.table, in.oid));
    if (swapped) std::fputs(FormatFinishPlan(*swapped).c_str(), stdout);
    if (swapped) return summary_;
  }
  if (!config_.execute || !config_.resume) {
    // The ALTER is validated, and the swap rehearsed, before anything is
    // created: bad input changes nothing, and a swap that cannot work is
    // found now rather than hours into the copy.
    RetryPolicy policy;
    policy.attempts = config_.execute ? 3 : 10;
    absl::Status rehearsed = Retry(policy, config_.execute ? "rehearsing the swap" : "validating the ALTER",
                                   [&] { return DryRun(in, true); }, &stop_);
    if (!rehearsed.ok() && config_.execute && IsRetryable(rehearsed)) {
      // A long transaction holds the table: the cutover will wait for it
      // anyway. Validate the ALTER without the swap's locks and go on.
      Log(LogLevel::kWarning, "could not rehearse the swap ({}); validating the ALTER only", rehearsed.message());
      rehearsed = DryRun(in, false);
    }
    RETURN_IF_ERROR(rehearsed);
    Hook("validated");
  }
  if (!config_.execute) {
    summary_.elapsed_s = SecondsSince(started_);
    return summary_;
  }
  absl::Status st;
  if (config_.resume) {
    st = ResumeRun(in);
    if (st.ok() && already_finished_) {
      summary_.elapsed_s = SecondsSince(started_);
      return summary_;
    }
  } else {
    // The health baseline (a second of samples) before the slot exists:
    // the slot holds the server's WAL from its creation on.
    st = StartThrottler();
    if (st.ok()) st = Prepare(in);
    if (st.ok()) st = StartStream(/*create_slot=*/true);
  }
  // A lost connection or a server restart is survived inside the run: the
  // work continues from what the state table says is durable.
  constexpr int kMaxReconnects = 10;
  for (int reconnects = 0; st.ok() || (!swapped_ && ShouldReconnect(st) && reconnects < kMaxReconnects);) {
    if (!st.ok()) {
      ++reconnects;
      Log(LogLevel::kWarning, "{}; reconnecting and continuing from the recorded state (attempt {}/{})",
          st.message(), reconnects, kMaxReconnects);
      st = Reconnect(reconnects);
      if (!st.ok()) continue;
    }
    st = RunPhases();
    if (st.ok()) break;
  }
  if (!st.ok()) {
    if (stop_ && st.code() != absl::StatusCode::kCancelled)
      st = absl::CancelledError(fmt::format("interrupted ({})", st.message()));
    // After the swap only the slot and publication are left to drop (the
    // shadow is the table now).
    CleanupAfterFailure(st);
    return st;
  }
  summary_.elapsed_s = SecondsSince(started_);
  return summary_;
}

absl::Status Rewrite::RunPhases() {
  RETURN_IF_ERROR(StartThrottler());
  throttler_->SetSlot(plan_.model.names.slot);
  if (!copier_->done()) RETURN_IF_ERROR(CopyPhase());
  if (!indexes_done_) RETURN_IF_ERROR(IndexPhase());
  if (!swapped_) RETURN_IF_ERROR(CutoverPhase());
  return FinishPhase();
}

bool Rewrite::ShouldReconnect(const absl::Status& st) const {
  if (stop_ || st.code() != absl::StatusCode::kUnavailable) return false;
  // Lock timeouts are retried where they happen; here only lost sessions.
  for (const auto* c : {main_.get(), copy_.get(), apply_.get()})
    if (c != nullptr && !c->Healthy()) return true;
  for (const auto& c : copy_extra_)
    if (!c->Healthy()) return true;
  for (const auto& c : apply_extra_)
    if (!c->Healthy()) return true;
  return stream_ && !stream_->status().ok();
}

absl::Status Rewrite::ReopenSessions(int attempt) {
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
  RetryPolicy policy;
  policy.attempts = 30;
  policy.initial_backoff = milliseconds(250);
  policy.max_backoff = milliseconds(5000);
  std::this_thread::sleep_for(Backoff(policy, attempt));
  RETURN_IF_ERROR(Retry(policy, "reconnecting", [&] { return Connect(); }, &stop_));
  // The run's advisory lock went with the old session: `cleanup` must keep
  // seeing the run as alive.
  ASSIGN_OR_RETURN(bool locked, TryRunLock(main_.get(), run_lock_oid_));
  if (!locked) return absl::FailedPreconditionError("another shadowcopy run took over the table");
  return absl::OkStatus();
}

absl::Status Rewrite::Reconnect(int attempt) {
  RETURN_IF_ERROR(ReopenSessions(attempt));
  // The durable positions, not the in-memory ones: a COMMIT whose reply was
  // lost may or may not have happened.
  ASSIGN_OR_RETURN(auto rec, StateStore::FindUnfinished(main_.get(), plan_.model.names.schema,
                                                          plan_.model.names.table));
  if (!rec || rec->run_id != run_id_) return absl::InternalError("the run's state record disappeared");
  durable_applied_ = rec->applied_lsn;
  std::optional<std::vector<std::string>> high_water = rec->copy_high_water;
  bool copy_done = rec->copy_done;
  RETURN_IF_ERROR(CheckShadowIntact(main_.get(), plan_.model, high_water, copy_done));
  RETURN_IF_ERROR(StartStream(/*create_slot=*/false));
  copier_->Resume(high_water, copy_done);
  return absl::OkStatus();
}

void Rewrite::MaybeReportProgress(bool force) {
  auto now = Clock::now();
  if (!force && now - last_progress_ < config_.progress_interval) return;
  double dt = std::chrono::duration<double>(now - last_progress_).count();
  double rate = dt > 0 ? (summary_.rows_copied - rows_at_last_progress_) / dt : 0;
  last_progress_ = now;
  rows_at_last_progress_ = summary_.rows_copied;
  double total = std::max(plan_.model.estimated_rows, static_cast<double>(summary_.rows_copied));
  double pct = total > 0 ? 100.0 * summary_.rows_copied / total : 100.0;
  double eta = rate > 0 ? (total - summary_.rows_copied) / rate : 0;
  auto ss = stream_->stats();
  PublishProgress(phase_);
  if (config_.progress_json) {
    WriteOutputLine(control_->StatusJson() + "\n");
    return;
  }
  if (config_.progress_tty) return;  // the terminal's progress line shows it
  std::string throttle = last_throttle_reason_.empty() ? "" : "; " + last_throttle_reason_;
  if (phase_ == "verify" && verifier_) {
    Log(LogLevel::kInfo, "progress: verify {} / {} ranges, {} mismatches; replayed {} changes, {} transactions "
        "queued{}", verifier_->ranges_done() - verify_done_base_, verify_total_, summary_.verify_mismatches,
        applier_->stats().changes, ss.queued_transactions, throttle);
    return;
  }
  Log(LogLevel::kInfo,
      "progress: {} copied {} / ~{:.0f} rows ({:.1f}%), {:.0f} rows/s, ETA {:.0f} s; replayed {} "
      "changes, {} transactions queued; chunk {}{}",
      phase_, summary_.rows_copied, total, pct, rate, eta, applier_->stats().changes, ss.queued_transactions,
      sizer_ ? sizer_->Next() : 0, throttle);
}

}  // namespace shadowcopy::engine
