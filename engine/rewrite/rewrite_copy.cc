// The rewrite's copy phase with the replay alongside it: throttling and lock
// back-off, the deferred key index, the index phase, replay of what the
// stream delivered and the catch-up before the cutover.
//
// Thread-safety: the rewrite thread.
#include <thread>

#include "common/log.h"
#include "common/quote.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/control/run_throttler.h"
#include "engine/rewrite/lock_gate.h"
#include "engine/rewrite/rewrite.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"
#include "throttler/pacing.h"
#include "throttler/probes.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxGroupTransactions = 2000;
constexpr size_t kMaxGroupChanges = 20000;
constexpr size_t kMaxGroupBytes = 32u << 20;
// Deferred replay starts early once this much waits in the stream's queue
// (half its bound: the stream stops reading at 64 MiB).
constexpr size_t kDeferredReplayQueueBytes = 32u << 20;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

absl::Status Rewrite::StartThrottler() {
  if (throttler_) return absl::OkStatus();
  ASSIGN_OR_RETURN(throttler_, StartRunThrottler(config_, control_.get()));
  sizer_ = std::make_unique<throttler::ChunkSizer>(control_->Sizing(), config_.control.chunk_size);
  return absl::OkStatus();
}

std::vector<int> Rewrite::OwnBackendPids() {
  std::vector<int> pids;
  std::lock_guard<std::mutex> lock(conns_mu_);
  for (auto* c : {main_.get(), copy_.get(), apply_.get(), lock_.get()})
    if (c && c->Healthy()) pids.push_back(c->BackendPid());
  for (auto& c : copy_extra_)
    if (c->Healthy()) pids.push_back(c->BackendPid());
  for (auto& c : apply_extra_)
    if (c->Healthy()) pids.push_back(c->BackendPid());
  return pids;
}

absl::StatusOr<bool> Rewrite::CopyMayProceed() {
  if (control_->abort_requested()) return absl::CancelledError("aborted by the operator");
  throttler_->SetOwnPids(OwnBackendPids());
  auto now = Clock::now();
  if (lock_failures_ > 0 && now >= lock_retry_at_) {
    // Time to try the lock again; a new refusal reports anew.
    throttler_->ClearReport(throttler::Signal::kTableLock);
  }
  throttler::Decision d = throttler_->current();
  if (d.abort) return absl::AbortedError(fmt::format("stopping the migration: {}", d.reason));
  if (d.reason != last_throttle_reason_) {
    Log(LogLevel::kInfo, "{}", d.reason.empty() ? "copy resumed: no throttle signal over its limit" : d.reason);
    if (d.throttled && !control_->paused()) sizer_->OnThrottled();
    last_throttle_reason_ = d.reason;
  }
  if (!d.throttled) {
    if (now >= rest_until_) return true;
    // The nice ratio's rest after the last batch: the replay goes on.
    RETURN_IF_ERROR(ReplayWhileWaiting(rest_until_));
    return false;
  }
  // Throttled: the copy waits, the replay goes on (so the slot never falls
  // behind) unless the operator paused the replay too.
  RETURN_IF_ERROR(ReplayWhileWaiting(now + milliseconds(200)));
  return false;
}

absl::Status Rewrite::ReplayWhileWaiting(Clock::time_point until) {
  until = std::min(until, Clock::now() + milliseconds(200));
  if (control_->replay_paused() || ReplayHeld()) {
    std::this_thread::sleep_until(until);
    return absl::OkStatus();
  }
  const bool pace = throttler_ && PaceReplay(throttler_->current());
  for (;;) {
    auto now = Clock::now();
    if (now >= until) return absl::OkStatus();
    if (pace) {
      RETURN_IF_ERROR(PacedReplayStep(until));
      continue;
    }
    RETURN_IF_ERROR(ReplayAvailable(std::chrono::duration_cast<milliseconds>(until - now) + milliseconds(1)));
    if (stream_->Queued() == 0) std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), milliseconds(5)));
  }
}

void Rewrite::BackOffFromLock(const absl::Status& cause) {
  ++lock_failures_;
  auto delay = throttler::LockBackoff(lock_failures_, milliseconds(100), milliseconds(2000));
  lock_retry_at_ = Clock::now() + delay;
  std::string holders = DescribeBlockingLocks();
  throttler::Reading r;
  r.signal = throttler::Signal::kTableLock;
  r.source = QualifiedName(plan_.model.names.schema, plan_.model.names.table);
  r.value = 1;
  r.detail = fmt::format("{}; the copy does not queue for it, next try in {:.1f} s",
                         holders.empty() ? std::string(cause.message()) : holders,
                         std::chrono::duration<double>(delay).count());
  r.read_at = Clock::now();
  throttler_->Report(std::move(r));
  Hook("batch-retry", {{"SHADOWCOPY_RETRY_ATTEMPT", std::to_string(lock_failures_)},
                       {"SHADOWCOPY_RETRY_REASON", std::string(cause.message())}});
}

std::string Rewrite::DescribeBlockingLocks() {
  // pg_locks takes every lock-manager partition lock: read only after a
  // refusal, which backs off at least 100 ms.
  auto r = main_->Query(
      "SELECT string_agg(format('%s %s by pid %s', mode, CASE WHEN granted THEN 'held' ELSE 'awaited' END, pid), "
      "', ' ORDER BY granted DESC, pid) FROM pg_locks WHERE locktype = 'relation' AND relation = $1::oid "
      "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "AND mode = 'AccessExclusiveLock' AND pid <> pg_backend_pid()",
      {std::to_string(plan_.model.oid)});
  if (!r.ok() || r->Rows() == 0 || r->IsNull(0, 0)) return "";
  return r->GetString(0, 0);
}

absl::Status Rewrite::CheckRetainedWal() {
  auto now = Clock::now();
  // Every second while replay is held: the held changes keep the slot from
  // advancing, so its lag grows with the copy's own WAL.
  if (now - last_wal_check_ < (ReplayHeld() ? std::chrono::seconds(1) : std::chrono::seconds(5)))
    return absl::OkStatus();
  last_wal_check_ = now;
  ASSIGN_OR_RETURN(auto r, main_->Query(
      "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, wal_status, "
      "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
      "FROM pg_replication_slots WHERE slot_name = $1", {plan_.model.names.slot}));
  if (r.Rows() == 0) return absl::DataLossError("the replication slot disappeared during the run");
  if (r.Get(0, 1) == "lost")
    return absl::DataLossError(fmt::format(
        "the server invalidated replication slot {} (max_slot_wal_keep_size): changes were lost, the run stops",
        plan_.model.names.slot));
  int64_t retained = r.IsNull(0, 0) ? 0 : r.GetInt(0, 0);
  slot_retained_bytes_ = retained;
  if (ReplayHeld() && retained > config_.max_retained_wal / 4)
    RETURN_IF_ERROR(StartReplayDuringCopy(fmt::format("the slot retains {} of WAL", throttler::FormatBytes(retained)),
                                          /*gentle=*/false));
  if (ReplayHeld() && !r.IsNull(0, 2)) {
    // Deferral must end before the replay-lag limits do: well before the
    // critical one (which would abort the run), a little before the
    // throttling one (which would make the copy wait).
    const auto limits = control_->ThrottleLimits();
    int64_t lag = r.GetInt(0, 2), limit = 0;
    if (limits.critical_replay_lag_bytes > 0) limit = limits.critical_replay_lag_bytes / 2;
    if (limits.max_replay_lag_bytes > 0) {
      int64_t near_max = limits.max_replay_lag_bytes / 10 * 9;
      limit = limit > 0 ? std::min(limit, near_max) : near_max;
    }
    if (limit > 0 && lag > limit)
      RETURN_IF_ERROR(StartReplayDuringCopy(fmt::format("replay lag {} nears its limit", throttler::FormatBytes(lag)),
                                            /*gentle=*/false));
  }
  if (retained > config_.max_retained_wal)
    return absl::ResourceExhaustedError(fmt::format(
        "the replication slot retains {} of WAL, more than --max-retained-wal ({}); stopping "
        "before the disk fills", throttler::FormatBytes(retained), throttler::FormatBytes(config_.max_retained_wal)));
  if (retained > config_.max_retained_wal * 8 / 10) {
    // Near the limit: let replay catch up before copying more.
    Log(LogLevel::kInfo, "throttled: the slot retains {} of WAL (limit {})", throttler::FormatBytes(retained),
        throttler::FormatBytes(config_.max_retained_wal));
    RETURN_IF_ERROR(CatchUp(milliseconds(5000)));
  }
  return absl::OkStatus();
}

bool Rewrite::CopyConnectionsHealthy() const {
  if (!copy_ || !copy_->Healthy()) return false;
  for (const auto& c : copy_extra_)
    if (!c->Healthy()) return false;
  return true;
}

absl::Status Rewrite::CopyPhase() {
  Phase("copy");
  Hook("before-row-copy", {}, /*once=*/true);
  auto copy_started = Clock::now();
  last_progress_ = copy_started;
  (void)state_->SetPhase(main_.get(), "copy");
  while (!copier_->done()) {
    RETURN_IF_ERROR(CheckStop());
    RETURN_IF_ERROR(stream_->status());
    RETURN_IF_ERROR(CheckRetainedWal());
    if (ReplayHeld()) {
      // Deferred replay holds the backlog in the server's WAL and in the
      // stream's bounded queue. Start replaying as soon as either fills, or
      // the copy is made to wait (replay must go on meanwhile).
      throttler::Decision d = throttler_->current();
      const auto stats = stream_->stats();
      if (d.throttled || control_->paused())
        // Told to back off: the key index is built with one process.
        RETURN_IF_ERROR(StartReplayDuringCopy(d.reason.empty() ? "the copy is paused" : d.reason, /*gentle=*/true));
      else if (stats.queued_bytes >= kDeferredReplayQueueBytes)
        RETURN_IF_ERROR(StartReplayDuringCopy(fmt::format("{} transactions wait to be replayed",
                                                          stats.queued_transactions), /*gentle=*/false));
      else if (config_.test.early_key_after_batch > 0 && copier_->batches() >= config_.test.early_key_after_batch)
        RETURN_IF_ERROR(StartReplayDuringCopy("test hook", /*gentle=*/false));
    }
    ASSIGN_OR_RETURN(bool proceed, CopyMayProceed());
    if (!proceed) {
      PublishProgress(phase_);
      MaybeReportProgress(false);
      continue;
    }
    if (control_->revision() != control_revision_) {
      control_revision_ = control_->revision();
      sizer_->Configure(control_->Sizing());
    }
    const int64_t chunk = sizer_->Next();
    auto batch_started = Clock::now();
    int64_t rows = 0;
    RetryPolicy policy;
    policy.attempts = 20;
    // A failed batch rolled back and did not advance: retrying it is safe.
    // A lost session is not retried here: the run reconnects everything.
    absl::Status batch = RetryIf(policy, "copy batch", [&]() -> absl::Status {
      ASSIGN_OR_RETURN(rows, copier_->CopyNextRound(chunk));
      return absl::OkStatus();
    }, &stop_, [this](const absl::Status& st) {
      return IsRetryable(st) && CopyConnectionsHealthy() && SqlStateOf(st) != "55P03";
    });
    if (SqlStateOf(batch) == "55P03" && CopyConnectionsHealthy()) {
      // Another session holds or awaits a lock the batch needs: back off
      // (replaying meanwhile) instead of queueing in front of the application.
      BackOffFromLock(batch);
      continue;
    }
    RETURN_IF_ERROR(batch);
    if (lock_failures_ > 0) {
      lock_failures_ = 0;
      throttler_->ClearReport(throttler::Signal::kTableLock);
    }
    auto batch_time = Clock::now() - batch_started;
    summary_.rows_copied += rows;
    // The round's batches ran side by side: each took about the round's time.
    sizer_->Observe(rows / std::max(1, copier_->last_round_batches()), batch_time);
    rest_until_ = Clock::now() + throttler::NicePause(batch_time, control_->NiceRatio());
    PublishProgress(phase_);
    // Replay what arrived while the batch ran, after it committed.
    RETURN_IF_ERROR(ReplayAvailable(milliseconds(1000)));
    MaybeReportProgress(false);
  }
  summary_.batches = copier_->batches();
  summary_.relayed_batches = copier_->relayed_batches();
  summary_.copy_s = SecondsSince(copy_started);
  MaybeReportProgress(true);
  return absl::OkStatus();
}

bool Rewrite::DeferKeyIndex(const ShadowPlan& plan) const {
  // Only for a single copy connection whose batches are plain INSERTs into
  // ranges nothing else writes (the key's order survives the ALTER), and not
  // when tests switch off the ordering rules to show the hazards of
  // concurrent replay.
  return !config_.replay_during_copy && config_.copy_workers == 1 && sql::KeyOrderPreserved(plan.model) &&
         !config_.test.disable_ordering && !config_.test.disable_visibility;
}

absl::Status Rewrite::StartReplayDuringCopy(std::string_view why, bool gentle) {
  if (!ReplayHeld() || plan_.deferred_indexes.empty()) return absl::OkStatus();
  auto t = Clock::now();
  Log(LogLevel::kInfo, "replay starts during the copy ({}): building the key index on the {} rows copied so far",
      why, summary_.rows_copied);
  RETURN_IF_ERROR(RunDeferredStatement(plan_.deferred_indexes.front(), gentle));
  KeyIndexBuilt(t);
  summary_.replay_from_batch = copier_->batches();
  Log(LogLevel::kInfo, "built the key index in {:.1f} s; replay runs between copy batches from now on",
      summary_.key_index_s);
  return absl::OkStatus();
}

// Replay may run from now on; the copy probes ranges again.
void Rewrite::KeyIndexBuilt(Clock::time_point build_started) {
  plan_.key_index_deferred = false;
  copier_->set_key_index_deferred(false);
  summary_.key_index_s = SecondsSince(build_started);
}

// One statement of deferred_indexes on the copy connection, idempotent (a
// resumed or reconnected run may have built it already).
absl::Status Rewrite::RunDeferredStatement(std::string stmt, bool one_process) {
  for (const char* prefix : {"CREATE INDEX ", "CREATE UNIQUE INDEX "})
    if (stmt.rfind(prefix, 0) == 0) stmt.insert(std::string(prefix).size(), "IF NOT EXISTS ");
  if (stmt.rfind("ALTER TABLE ", 0) == 0) {
    auto pos = stmt.find(" ADD CONSTRAINT ");
    std::string rest = pos == std::string::npos ? "" : stmt.substr(pos + 16);
    ASSIGN_OR_RETURN(auto exists, main_->Query(
        "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = $1 AND (starts_with($2, quote_ident(conname) "
        "|| ' ') OR starts_with($2, '\"' || replace(conname, '\"', '\"\"') || '\" ')))",
        {std::to_string(plan_.shadow_oid), rest}));
    if (exists.GetBool(0, 0)) return absl::OkStatus();
  }
  const std::string one = OneProcessBuildWhy(one_process);
  RETURN_IF_ERROR(copy_->Exec(one.empty() ? "RESET max_parallel_maintenance_workers"
                                          : "SET max_parallel_maintenance_workers = 0").status());
  auto t = Clock::now();
  RETURN_IF_ERROR(Annotate(copy_->Exec(stmt).status(), "building an index of the new table"));
  RETURN_IF_ERROR(copy_->Exec("RESET max_parallel_maintenance_workers").status());
  Log(LogLevel::kInfo, "built index in {:.1f} s{}: {}", SecondsSince(t),
      one.empty() ? "" : fmt::format(" (one process: {})", one), stmt);
  return RefreshParallelApply();
}

// Parallel maintenance workers would take every core from the application
// for the length of the build, and a build is one statement: nothing can
// slow it once it runs. So one process whenever the run is paced or
// throttled, and whenever another session of the database is at work (a
// build then takes longer, the application keeps the other cores).
std::string Rewrite::OneProcessBuildWhy(bool one_process) {
  if (one_process) return "the run backs off";
  if (control_->NiceRatio() > 0) return "--nice-ratio";
  if (throttler_ && throttler_->current().throttled) return "throttled";
  if (!config_.parallel_index_builds) {
    auto quiet = throttler::ProbeDatabaseQuiet(*main_, OwnBackendPids());
    if (!quiet.ok() || !*quiet) return "the application is at work";
  }
  return "";
}

absl::Status Rewrite::IndexPhase() {
  Phase("indexes");
  Hook("row-copy-complete", {}, /*once=*/true);
  (void)state_->SetPhase(main_.get(), "indexes");
  for (const std::string& stmt : plan_.deferred_indexes) {
    RETURN_IF_ERROR(CheckStop());
    // Between builds, the throttler's word holds as for the copy; but not
    // before the key index while the replay waits for it (the slot must not
    // grow meanwhile).
    if (!ReplayHeld()) RETURN_IF_ERROR(WaitForHeavyWork("index builds"));
    auto t = Clock::now();
    RETURN_IF_ERROR(RunDeferredStatement(stmt));
    auto took = Clock::now() - t;
    if (ReplayHeld()) {
      // The first statement built the key index: replay starts now, before
      // the secondary indexes make every change cost more.
      KeyIndexBuilt(t);
      summary_.replay_deferred = true;
      Log(LogLevel::kInfo, "replaying {} transactions received during the copy", stream_->Queued());
    }
    RETURN_IF_ERROR(ReplayAvailable(milliseconds(5000)));
    // The nice ratio's rest after a build, as after a copy batch.
    auto until = Clock::now() + throttler::NicePause(took, control_->NiceRatio());
    while (Clock::now() < until) {
      RETURN_IF_ERROR(CheckStop());
      RETURN_IF_ERROR(ReplayWhileWaiting(until));
    }
  }
  // Statistics are keyed by table oid: analyze the shadow before the swap so
  // the application's plans are good from the first query.
  RETURN_IF_ERROR(copy_->Exec(fmt::format("ANALYZE {}", QualifiedName(plan_.model.names.schema,
                                                                       plan_.model.names.shadow)))
                      .status());
  indexes_done_ = true;
  return absl::OkStatus();
}

absl::Status Rewrite::ApplyGroup(std::vector<cdc::Transaction>& group) {
  if (group.empty()) return absl::OkStatus();
  std::vector<std::string> messages;
  const uint64_t changes_before = applier_->stats().changes;
  const auto started = Clock::now();
  RETURN_IF_ERROR(applier_->Apply(group, &messages));
  apply_us_per_change_ = NextReplayCost(apply_us_per_change_, applier_->stats().changes - changes_before,
                                        std::chrono::duration<double, std::micro>(Clock::now() - started).count());
  // The group is committed into the shadow: only now may the slot advance.
  durable_applied_ = std::max(durable_applied_, group.back().end_lsn);
  last_applied_commit_time_ = group.back().commit_time;
  stream_->MarkApplied(group.back().end_lsn);
  fences_seen_.insert(fences_seen_.end(), messages.begin(), messages.end());
  group.clear();
  return absl::OkStatus();
}

std::string Rewrite::DrainWontFit(Clock::time_point deadline) const {
  return DrainWontFitWhy(stream_->PendingChanges(), apply_us_per_change_,
                         std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}

absl::Status Rewrite::ReplayAvailable(milliseconds budget) {
  // Deferred replay: the shadow has no key index yet; everything received
  // waits in the stream's queue (bounded) and the slot's WAL.
  if (ReplayHeld()) return stream_->status();
  auto deadline = Clock::now() + budget;
  std::vector<cdc::Transaction> group;
  size_t changes = 0, bytes = 0;
  cdc::Transaction txn;
  while (Clock::now() < deadline) {
    RETURN_IF_ERROR(stream_->status());
    if (!stream_->Pop(&txn, milliseconds(0))) break;
    if (txn.end_lsn <= durable_applied_) {
      // Re-delivered after a restart (confirmed_flush is not durable on
      // PG15): already in the shadow. It must still be visible to the next
      // copy batch.
      visibility_.AddApplied(txn.xid);
      stream_->MarkApplied(txn.end_lsn);
      continue;
    }
    changes += txn.changes.size();
    bytes += txn.bytes;
    group.push_back(std::move(txn));
    if (group.size() >= kMaxGroupTransactions || changes >= kMaxGroupChanges || bytes >= kMaxGroupBytes) {
      RETURN_IF_ERROR(ApplyGroup(group));
      changes = bytes = 0;
    }
  }
  return ApplyGroup(group);
}

absl::Status Rewrite::CatchUp(milliseconds budget) {
  if (ReplayHeld()) return stream_->status();
  auto deadline = Clock::now() + budget;
  while (Clock::now() < deadline) {
    RETURN_IF_ERROR(CheckStop());
    RETURN_IF_ERROR(ReplayAvailable(milliseconds(500)));
    if (stream_->Queued() == 0) return absl::OkStatus();
  }
  return absl::OkStatus();
}

// Replays until the walsender has decoded the WAL up to where it was when
// this started (our own copy's WAL included: decoding reads all of it) and
// nothing received is left unapplied. Only then may the cutover lock the
// table: its fence drain must cover just the writes made while it waited.
absl::Status Rewrite::CatchUpToWalEnd() {
  ASSIGN_OR_RETURN(auto t, main_->Exec("SELECT pg_current_wal_flush_lsn()::text"));
  Lsn target = ParseLsn(t.Get(0, 0)).value_or(0);
  auto next_log = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    RETURN_IF_ERROR(CheckStop());
    if (throttler_ && PaceReplay(throttler_->current()) && !ReplayHeld()) {
      // The application suffers: catch up at half speed while the slot's lag
      // allows it.
      auto until = Clock::now() + milliseconds(200);
      while (Clock::now() < until && stream_->Queued() > 0) RETURN_IF_ERROR(PacedReplayStep(until));
      RETURN_IF_ERROR(CheckRetainedWal());
    } else {
      RETURN_IF_ERROR(CatchUp(milliseconds(200)));
    }
    ASSIGN_OR_RETURN(auto r, main_->Query(
        "SELECT r.sent_lsn::text FROM pg_replication_slots s JOIN pg_stat_replication r "
        "ON r.pid = s.active_pid WHERE s.slot_name = $1", {plan_.model.names.slot}));
    Lsn sent = r.Rows() > 0 && !r.IsNull(0, 0) ? ParseLsn(r.Get(0, 0)).value_or(0) : 0;
    if (sent >= target && stream_->Queued() == 0) return absl::OkStatus();
    if (Clock::now() >= next_log) {
      Log(LogLevel::kInfo, "catching up: the stream has decoded up to {}, waiting for {} ({} transactions queued)",
          FormatLsn(sent), FormatLsn(target), stream_->Queued());
      next_log = Clock::now() + std::chrono::seconds(10);
    }
    MaybeReportProgress(false);
    std::this_thread::sleep_for(milliseconds(20));
  }
}

}  // namespace shadowcopy::engine
