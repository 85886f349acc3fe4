#include "engine/migration.h"

#include <cstdio>
#include <random>
#include <thread>

#include "common/log.h"
#include "common/quote.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/after_swap.h"
#include "engine/plan_printer.h"
#include "engine/run_throttler.h"
#include "engine/sql_builder.h"
#include "engine/swap.h"
#include "engine/test_hooks.h"
#include "fmt/format.h"
#include "throttler/pacing.h"

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

Migration::Migration(Config config)
    : config_(std::move(config)), control_(std::make_unique<Control>(config_.control)) {
  visibility_.set_enabled(!config_.test.disable_visibility);
  control_->SetAbortHandler([this] { RequestStop(); });
}

Migration::~Migration() {
  if (throttler_) throttler_->Stop();
  if (stream_) stream_->Stop();
}

void Migration::RequestStop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(conns_mu_);
  for (auto& c : apply_extra_)
    if (c) c->Cancel();
  for (auto* c : {main_.get(), copy_.get(), apply_.get(), lock_.get(), vlock_.get(), vexport_.get()})
    if (c) c->Cancel();
  for (auto& c : copy_extra_) c->Cancel();
  if (verifier_) verifier_->Cancel();
}

absl::Status Migration::CheckStop() const {
  if (stop_) return absl::CancelledError("interrupted");
  return absl::OkStatus();
}

void Migration::Phase(std::string_view name) {
  Log(LogLevel::kInfo, "phase={}", name);
  phase_ = std::string(name);
  PublishProgress(name);
}

void Migration::PublishProgress(std::string_view phase) {
  Progress p;
  p.phase = std::string(phase);
  p.rows_copied = summary_.rows_copied;
  p.estimated_rows = plan_.model.estimated_rows;
  p.batches = copier_ ? copier_->batches() : 0;
  p.chunk_size = sizer_ ? sizer_->Next() : config_.control.chunk_size;
  if (applier_) p.changes_replayed = applier_->stats().changes;
  if (stream_) {
    auto ss = stream_->stats();
    p.queue_depth = ss.queued_transactions;
    p.replay_lag_bytes = ss.server_wal_end > durable_applied_ && durable_applied_ > 0
                             ? static_cast<int64_t>(ss.server_wal_end - durable_applied_) : 0;
  }
  double elapsed = SecondsSince(started_);
  p.rows_per_s = elapsed > 0 ? summary_.rows_copied / std::max(elapsed, 1e-3) : 0;
  p.verify_state = config_.verify || !verify_state_.empty() ? verify_state_ : "off";
  p.verify_ranges_total = verify_total_;
  p.verify_ranges_done = verifier_ ? verifier_->ranges_done() - verify_done_base_ : 0;
  p.verify_rows = summary_.verify_rows;
  p.verify_mismatches = summary_.verify_mismatches;
  p.verify_repaired = summary_.verify_repaired;
  p.verify_blocked_ms = summary_.verify_blocked_ms;
  control_->Publish(p);
}

absl::Status Migration::StartThrottler() {
  if (throttler_) return absl::OkStatus();
  ASSIGN_OR_RETURN(throttler_, StartRunThrottler(config_, control_.get()));
  throttler_->SetSlot(plan_.model.names.slot);
  sizer_ = std::make_unique<throttler::ChunkSizer>(control_->Sizing(), config_.control.chunk_size);
  return absl::OkStatus();
}

absl::StatusOr<bool> Migration::CopyMayProceed() {
  if (control_->abort_requested()) return absl::CancelledError("aborted by the operator");
  {
    std::vector<int> pids;
    std::lock_guard<std::mutex> lock(conns_mu_);
    for (auto* c : {main_.get(), copy_.get(), apply_.get(), lock_.get()})
      if (c && c->Healthy()) pids.push_back(c->BackendPid());
    for (auto& c : copy_extra_)
      if (c->Healthy()) pids.push_back(c->BackendPid());
    for (auto& c : apply_extra_)
      if (c->Healthy()) pids.push_back(c->BackendPid());
    throttler_->SetOwnPids(std::move(pids));
  }
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

absl::Status Migration::ReplayWhileWaiting(Clock::time_point until) {
  until = std::min(until, Clock::now() + milliseconds(200));
  if (control_->replay_paused() || ReplayHeld()) {
    std::this_thread::sleep_until(until);
    return absl::OkStatus();
  }
  for (;;) {
    auto now = Clock::now();
    if (now >= until) return absl::OkStatus();
    RETURN_IF_ERROR(ReplayAvailable(std::chrono::duration_cast<milliseconds>(until - now) + milliseconds(1)));
    if (stream_->Queued() == 0) std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), milliseconds(5)));
  }
}

void Migration::BackOffFromLock(const absl::Status& cause) {
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
}

std::string Migration::DescribeBlockingLocks() {
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

absl::Status Migration::Connect() {
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

absl::StatusOr<Summary> Migration::Run() {
  started_ = Clock::now();
  summary_.dry_run = !config_.execute;
  RETURN_IF_ERROR(Connect());
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
    st = Prepare(in);
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

absl::Status Migration::RunPhases() {
  RETURN_IF_ERROR(StartThrottler());
  if (!copier_->done()) RETURN_IF_ERROR(CopyPhase());
  if (!indexes_done_) RETURN_IF_ERROR(IndexPhase());
  if (!swapped_) RETURN_IF_ERROR(CutoverPhase());
  return FinishPhase();
}

bool Migration::ShouldReconnect(const absl::Status& st) const {
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

absl::Status Migration::Reconnect(int attempt) {
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
  int64_t key = (int64_t{0x5C} << 40) | plan_.model.oid;
  ASSIGN_OR_RETURN(auto locked, main_->Query("SELECT pg_try_advisory_lock($1::bigint)", {std::to_string(key)}));
  if (!locked.GetBool(0, 0)) return absl::FailedPreconditionError("another shadowcopy run took over the table");
  // The durable positions, not the in-memory ones: a COMMIT whose reply was
  // lost may or may not have happened.
  ASSIGN_OR_RETURN(auto rec, StateStore::FindUnfinished(main_.get(), plan_.model.names.schema,
                                                          plan_.model.names.table));
  if (!rec || rec->run_id != run_id_) return absl::InternalError("the run's state record disappeared");
  durable_applied_ = rec->applied_lsn;
  std::optional<std::vector<std::string>> high_water = rec->copy_high_water;
  bool copy_done = rec->copy_done;
  RETURN_IF_ERROR(StartStream(/*create_slot=*/false));
  copier_->Resume(high_water, copy_done);
  return absl::OkStatus();
}

absl::StatusOr<Inspection> Migration::InspectPhase() {
  Phase("inspect");
  Inspector inspector(main_.get());
  ASSIGN_OR_RETURN(Inspection in, inspector.Inspect(config_));
  if (config_.execute) {
    // One run per table at a time: a session-level advisory lock keyed by the
    // table's oid, held by the main connection until the process ends.
    int64_t key = (int64_t{0x5C} << 40) | in.oid;
    ASSIGN_OR_RETURN(auto r, main_->Query("SELECT pg_try_advisory_lock($1::bigint)",
                                          {std::to_string(key)}));
    if (!r.GetBool(0, 0))
      return absl::FailedPreconditionError(fmt::format(
          "another shadowcopy run is already working on {}", QualifiedName(in.names.schema, in.names.table)));
    if (!config_.resume) RETURN_IF_ERROR(inspector.CheckNoLeftovers(in));
  }
  return in;
}

// With the table locked, the swap locks more (a child table whose foreign
// key is re-pointed, views, sequences). An application transaction that holds
// one of those and waits for our table closes a cycle; whichever side runs the
// deadlock check first is cancelled. Ours runs it first (where the role may
// set it: SET LOCAL in the open transaction), and every lock wait after the
// table's gives up well within the server's deadlock_timeout
// (SwapLockTimeoutSql): the swap rolls back and retries, the application
// never sees the deadlock.
absl::Status Migration::LoseLockCycles(PgConn* conn) {
  if (!superuser_) {
    ASSIGN_OR_RETURN(auto r, conn->Exec("SELECT current_setting('is_superuser') = 'on'"));
    superuser_ = r.GetBool(0, 0);
  }
  if (*superuser_) RETURN_IF_ERROR(conn->Exec("SET LOCAL deadlock_timeout = '50ms'").status());
  return absl::OkStatus();
}

std::string Migration::SwapLockTimeoutSql() const {
  return fmt::format("SET LOCAL lock_timeout = '{}ms'", std::min<int64_t>(config_.cutover_lock_timeout.count(), 200));
}

absl::Status Migration::DryRun(const Inspection& in, bool rehearse_swap) {
  // The shadow is built, the ALTER applied and the swap rehearsed inside a
  // transaction that is rolled back: PostgreSQL itself validates the ALTER
  // and every cutover statement (re-created views, foreign keys, policies),
  // so a problem shows now, not hours into the copy. The rehearsal takes the
  // cutover's locks for the few milliseconds its statements run: only at the
  // start of --execute. The dry run takes nothing stronger than ACCESS SHARE
  // on the table (CREATE TABLE ... LIKE takes that much): it builds the swap
  // statements and prints them unrehearsed, since a queued ACCESS EXCLUSIVE
  // request would stall every reader behind the table's lock holders.
  RETURN_IF_ERROR(main_->Exec("BEGIN").status());
  auto rehearse = [&]() -> absl::Status {
    RETURN_IF_ERROR(main_->Exec(fmt::format("SET LOCAL lock_timeout = '{}ms'", config_.lock_timeout.count())).status());
    ShadowBuilder builder(main_.get(), config_);
    ASSIGN_OR_RETURN(ShadowPlan plan, builder.Build(in));
    if (!rehearse_swap) return absl::OkStatus();
    for (const auto& stmt : plan.deferred_indexes) RETURN_IF_ERROR(main_->Exec(stmt).status());
    if (!config_.execute) {
      ASSIGN_OR_RETURN(auto catalog, ReadSwapCatalog(main_.get(), plan));
      auto statements = BuildSwapStatements(plan, catalog);
      main_->RollbackQuietly();
      std::fputs(FormatPlan(config_, in, plan, statements).c_str(), stdout);
      std::fflush(stdout);
      return absl::OkStatus();
    }
    // The cutover's locks in the cutover's order: the table first, then what
    // the swap statements lock, losing any lock cycle as the cutover does.
    RETURN_IF_ERROR(main_->Exec(fmt::format("SET LOCAL lock_timeout = '{}ms'",
                                            config_.cutover_lock_timeout.count())).status());
    RETURN_IF_ERROR(LoseLockCycles(main_.get()));
    RETURN_IF_ERROR(main_->Exec(fmt::format("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
                                            QualifiedName(in.names.schema, in.names.table))).status());
    RETURN_IF_ERROR(main_->Exec(SwapLockTimeoutSql()).status());
    if (ShouldPause(config_.test, "rehearsal-locked", ++rehearsals_))
      RETURN_IF_ERROR(PauseHere(config_.test, nullptr, stop_));
    auto t = Clock::now();
    ASSIGN_OR_RETURN(auto catalog, ReadSwapCatalog(main_.get(), plan));
    auto statements = BuildSwapStatements(plan, catalog);
    for (const auto& stmt : statements.in_lock)
      RETURN_IF_ERROR(Annotate(main_->Exec(stmt).status(), fmt::format("rehearsing the swap: {}", stmt)));
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
    main_->RollbackQuietly();
    Log(LogLevel::kInfo, "validated the ALTER and rehearsed the swap ({} statements, {:.1f} ms)",
        statements.in_lock.size(), ms);
    return absl::OkStatus();
  };
  absl::Status st = rehearse();
  main_->RollbackQuietly();
  return st;
}

absl::Status Migration::Prepare(const Inspection& in) {
  Phase("prepare");
  RetryPolicy policy;
  const auto& n = in.names;
  std::string lock_timeout = fmt::format("SET lock_timeout = '{}ms'", config_.lock_timeout.count());
  RETURN_IF_ERROR(main_->Exec(lock_timeout).status());
  run_id_ = fmt::format("{}-{:x}", in.oid, std::random_device{}());
  state_ = std::make_unique<StateStore>(run_id_);
  int builds = 0;
  RETURN_IF_ERROR(Retry(policy, "creating the shadow table", [&]() -> absl::Status {
    RETURN_IF_ERROR(main_->Exec("BEGIN").status());
    ShadowBuilder builder(main_.get(), config_);
    // The original's definition, read before and after the shadow's creation.
    auto built_from = ReadSchemaFingerprint(main_.get(), in.oid);
    auto plan = built_from.ok() ? builder.Build(in) : absl::StatusOr<ShadowPlan>(built_from.status());
    absl::Status st = plan.status();
    if (st.ok() && DeferKeyIndex(*plan)) st = builder.DeferKeyIndex(&*plan);
    if (st.ok() && ShouldPause(config_.test, "shadow-built", ++builds)) st = PauseHere(config_.test, nullptr, stop_);
    if (st.ok()) st = ConfirmBuiltFrom(main_.get(), in.oid, *built_from);
    // The run's record commits with the shadow: never one without the other
    // (and bad input, refused by Build, leaves no state schema behind).
    if (st.ok()) st = Annotate(StateStore::EnsureSchema(main_.get()), "creating the state table shadowcopy.runs");
    if (st.ok()) st = state_->Create(main_.get(), *plan, config_.alter, *built_from);
    if (!st.ok()) {
      main_->RollbackQuietly();
      return st;
    }
    RETURN_IF_ERROR(main_->Exec("COMMIT").status());
    plan_ = std::move(*plan);
    built_from_ = std::move(*built_from);
    created_shadow_ = true;
    return absl::OkStatus();
  }, &stop_));
  Log(LogLevel::kInfo, "created shadow table {} (run {} recorded in shadowcopy.runs){}",
      QualifiedName(n.schema, n.shadow), run_id_,
      plan_.key_index_deferred ? "; its key index is built after the copy, replay starts then" : "");
  for (const auto& w : plan_.warnings) Log(LogLevel::kWarning, "{}", w);
  if (in.set_replica_identity) {
    RETURN_IF_ERROR(Retry(policy, "setting the replica identity", [&]() -> absl::Status {
      return main_->Exec(fmt::format("ALTER TABLE {} REPLICA IDENTITY USING INDEX {}",
                                     QualifiedName(n.schema, n.table), QuoteIdent(in.key_index)))
          .status();
    }, &stop_));
    set_replica_identity_ = true;
    Log(LogLevel::kInfo, "set REPLICA IDENTITY USING INDEX {} on {} for the run (no primary key)",
        QuoteIdent(in.key_index), QualifiedName(n.schema, n.table));
  }
  // The publication must exist before the slot: a slot created first fails
  // when decoding reaches a change ("publication does not exist").
  RETURN_IF_ERROR(Retry(policy, "creating the publication", [&]() -> absl::Status {
    return main_->Exec(fmt::format("CREATE PUBLICATION {} FOR TABLE {}", QuoteIdent(n.publication),
                                   QualifiedName(n.schema, n.table)))
        .status();
  }, &stop_));
  created_publication_ = true;
  Log(LogLevel::kInfo, "created publication {}", QuoteIdent(n.publication));
  return CheckStop();
}

absl::Status Migration::OpenWorkConnections() {
  ConnectOptions co;
  co.dsn = config_.dsn;
  co.application_name = "shadowcopy_copy";
  ASSIGN_OR_RETURN(auto copy, PgConn::Connect(co));
  co.application_name = "shadowcopy_apply";
  ASSIGN_OR_RETURN(auto apply, PgConn::Connect(co));
  // A re-read of the original during replay must never wait long behind a
  // lock (our own cutover lock included): fail instead, the run cleans up.
  RETURN_IF_ERROR(apply->Exec("SET lock_timeout = '5s'").status());
  // A copy batch reads the original under ACCESS SHARE: behind a queued
  // ACCESS EXCLUSIVE request it would make the application queue behind it.
  RETURN_IF_ERROR(copy->Exec(fmt::format("SET lock_timeout = '{}ms'", config_.lock_timeout.count())).status());
  std::vector<std::unique_ptr<PgConn>> extra;
  for (int i = 2; i <= config_.copy_workers; ++i) {
    co.application_name = fmt::format("shadowcopy_copy{}", i);
    ASSIGN_OR_RETURN(auto c, PgConn::Connect(co));
    RETURN_IF_ERROR(c->Exec(fmt::format("SET lock_timeout = '{}ms'", config_.lock_timeout.count())).status());
    extra.push_back(std::move(c));
  }
  std::vector<std::unique_ptr<PgConn>> apply_extra;
  for (int i = 2; i <= config_.apply_workers; ++i) {
    co.application_name = fmt::format("shadowcopy_apply{}", i);
    ASSIGN_OR_RETURN(auto c, PgConn::Connect(co));
    // Their commits precede the main apply session's in the WAL, and that
    // one flushes (synchronously) with the checkpoint: waiting for a flush
    // of their own would only add a round of fsync per group.
    RETURN_IF_ERROR(c->Exec("SET lock_timeout = '5s'; SET synchronous_commit = off").status());
    apply_extra.push_back(std::move(c));
  }
  std::lock_guard<std::mutex> lock(conns_mu_);
  copy_ = std::move(copy);
  copy_extra_ = std::move(extra);
  apply_ = std::move(apply);
  apply_extra_ = std::move(apply_extra);
  return absl::OkStatus();
}

// Replay groups may be split over the apply connections only while the
// shadow has no unique or exclusion index besides the key's.
absl::Status Migration::RefreshParallelApply() {
  if (!applier_ || apply_extra_.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto r, main_->Query(
      "SELECT NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
      "WHERE i.indrelid = $1 AND (i.indisunique OR i.indisexclusion) AND c.relname <> $2)",
      {std::to_string(plan_.shadow_oid), plan_.key_index}));
  applier_->set_parallel_allowed(r.GetBool(0, 0));
  return absl::OkStatus();
}

absl::Status Migration::StartStream(bool create_slot) {
  const auto& m = plan_.model;
  cdc::StreamOptions so;
  so.connect.dsn = config_.dsn;
  so.slot = m.names.slot;
  so.publication = m.names.publication;
  so.relation_oid = m.oid;
  for (const auto& c : m.source_columns)
    if (!c.generated) so.expected_columns.push_back({c.name, c.type_oid});
  stream_ = std::make_unique<cdc::ChangeStream>(so);
  std::optional<cdc::SlotInfo> slot;
  if (create_slot) {
    ASSIGN_OR_RETURN(slot, stream_->CreateSlot());
    created_slot_ = true;
    Log(LogLevel::kInfo, "created replication slot {} at {}", m.names.slot, FormatLsn(slot->consistent_point));
  }
  RETURN_IF_ERROR(OpenWorkConnections());
  if (slot) {
    // Start gap: a transaction committed before the slot's consistent point
    // is not streamed, so the copy must see it. Import the slot's snapshot
    // (valid only until the next command on the replication connection) and
    // make the first batch wait until its own snapshot sees at least as much.
    RETURN_IF_ERROR(copy_->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ").status());
    RETURN_IF_ERROR(copy_->Exec(fmt::format("SET TRANSACTION SNAPSHOT {}", QuoteLiteral(slot->snapshot_name))).status());
    ASSIGN_OR_RETURN(auto snap_text, copy_->Exec("SELECT pg_current_snapshot()::text"));
    RETURN_IF_ERROR(copy_->Exec("COMMIT").status());
    ASSIGN_OR_RETURN(auto exported, ParseSnapshot(snap_text.Get(0, 0)));
    visibility_.RequireSnapshot(exported);
  }
  stream_->MarkApplied(durable_applied_);
  RETURN_IF_ERROR(stream_->Start());
  applier_ = std::make_unique<Applier>(apply_.get(), &plan_.model, &visibility_, &stop_);
  {
    std::vector<PgConn*> extra;
    for (auto& c : apply_extra_) extra.push_back(c.get());
    applier_->set_extra_connections(std::move(extra));
    if (config_.test.parallel_apply_min_rows > 0) applier_->set_parallel_min_rows(config_.test.parallel_apply_min_rows);
    RETURN_IF_ERROR(RefreshParallelApply());
  }
  applier_->set_checkpoint([this](PgConn* conn, Lsn end) -> absl::Status {
    auto [sql, params] = state_->ApplyCheckpoint(end);
    return conn->Query(sql, params).status();
  });
  // Replay skips keys the copy has not reached (the copy reads them later).
  // Not with the ordering mechanism disabled in tests: that mode must show the
  // naive design's hazard.
  if (!config_.test.disable_ordering) {
    applier_->set_horizon([this]() -> Applier::CopyHorizon {
      if (!copier_ || copier_->done()) return {};
      return {true, copier_->high_water()};
    });
  }
  auto old = std::move(copier_);
  copier_ = std::make_unique<Copier>(copy_.get(), &plan_.model, &visibility_, &config_.test, &stop_,
                                     [this] { return ReplayAvailable(milliseconds(200)); });
  {
    std::vector<PgConn*> extra;
    for (auto& c : copy_extra_) extra.push_back(c.get());
    copier_->set_extra_connections(std::move(extra));
  }
  copier_->set_key_index_deferred(plan_.key_index_deferred);
  copier_->set_checkpoint([this](PgConn* conn, const std::optional<std::vector<std::string>>& hw,
                                 bool done) -> absl::Status {
    auto [sql, params] = state_->CopyCheckpoint(hw, done);
    return conn->Query(sql, params).status();
  });
  return absl::OkStatus();
}

absl::Status Migration::ResumeRun(const Inspection& in) {
  Phase("resume");
  const auto& n = in.names;
  ASSIGN_OR_RETURN(auto rec, StateStore::FindUnfinished(main_.get(), n.schema, n.table));
  if (!rec)
    return absl::FailedPreconditionError(fmt::format(
        "no unfinished run on {} to resume", QualifiedName(n.schema, n.table)));
  if (rec->format_version != kStateFormatVersion)
    return absl::FailedPreconditionError(fmt::format(
        "the run was recorded in state format {}, this shadowcopy writes {}; run cleanup and start again",
        rec->format_version, kStateFormatVersion));
  if (rec->alter != config_.alter)
    return absl::InvalidArgumentError(fmt::format(
        "the run being resumed used --alter \"{}\"; resume with the same --alter", rec->alter));
  if (rec->table_oid != in.oid) {
    // Did the swap commit before the tool died? Then only cleanup is left;
    // never swap twice.
    ASSIGN_OR_RETURN(auto old, main_->Query("SELECT to_regclass($1)::oid", {QualifiedName(n.schema, n.old_table)}));
    if (!old.IsNull(0, 0) && static_cast<uint32_t>(old.GetInt(0, 0)) == rec->table_oid)
      return FinishAfterSwap(in, *rec);
    return absl::FailedPreconditionError(fmt::format(
        "{} is not the table the run started on (it was replaced); run cleanup", QualifiedName(n.schema, n.table)));
  }
  ASSIGN_OR_RETURN(auto r, main_->Query(
      "SELECT (SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1), "
      "EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $2), to_regclass($3) IS NOT NULL",
      {n.slot, n.publication, QualifiedName(n.schema, n.shadow)}));
  if (r.IsNull(0, 0) || r.Get(0, 0) == "lost")
    return absl::FailedPreconditionError(fmt::format(
        "cannot resume: replication slot {} is {} (the changes it held are gone); run `shadowcopy cleanup "
        "--table {} --execute` and start again", n.slot, r.IsNull(0, 0) ? "missing" : "invalidated", n.table));
  if (!r.GetBool(0, 1) || !r.GetBool(0, 2))
    return absl::FailedPreconditionError(fmt::format(
        "cannot resume: the publication or the shadow table of run {} is missing; run cleanup and start again",
        rec->run_id));
  created_shadow_ = created_publication_ = created_slot_ = true;
  run_id_ = rec->run_id;
  state_ = std::make_unique<StateStore>(run_id_);
  ShadowPlan recorded;
  recorded.deferred_indexes = rec->deferred_indexes;
  recorded.index_names = rec->index_names;
  recorded.statistics_names = rec->statistics_names;
  recorded.key_index = rec->key_index;
  ShadowBuilder builder(main_.get(), config_);
  ASSIGN_OR_RETURN(plan_, builder.Reattach(in, std::move(recorded)));
  built_from_ = rec->schema_fingerprint;
  durable_applied_ = rec->applied_lsn;
  RETURN_IF_ERROR(StartStream(/*create_slot=*/false));
  copier_->Resume(rec->copy_high_water, rec->copy_done);
  Log(LogLevel::kInfo, "resuming run {}: copy {}, replay from {}", run_id_,
      rec->copy_done ? "done" : "continues after the recorded high-water key", FormatLsn(durable_applied_));
  return absl::OkStatus();
}

// What is left once the swap committed (re-owning serial sequences, validating
// re-created foreign keys); what is done leaves after_swap_ and the run's record.
absl::Status Migration::RunAfterSwap(PgConn* conn) {
  return Annotate(RunAfterSwapStatements(conn, run_id_, &after_swap_, config_.cutover_lock_timeout, nullptr),
                  fmt::format("the swap succeeded; `shadowcopy cleanup --schema {} --table {} --execute` runs what "
                              "is left after it", summary_.names.schema, summary_.names.table));
}

// The swap of the run being resumed had committed: finish what follows it, as cleanup does.
absl::Status Migration::FinishAfterSwap(const Inspection& in, const RunRecord& rec) {
  Log(LogLevel::kInfo, "run {}: the swap had already committed; {} is the new table. Finishing the work after it.",
      rec.run_id, QualifiedName(in.names.schema, in.names.table));
  ASSIGN_OR_RETURN(auto run, FindSwappedRun(main_.get(), rec.table_oid));
  if (!run) return absl::InternalError(fmt::format("run {} has no record of its swap", rec.run_id));
  swapped_ = true;
  run_id_ = rec.run_id;
  summary_.names = NamesFor(rec.schema, rec.table, rec.table_oid);
  summary_.resumed_after_swap = true;
  summary_.after_swap_statements = static_cast<int>(run->statements.size());
  RETURN_IF_ERROR(FinishSwappedRun(main_.get(), *run, {config_.cutover_lock_timeout,
                                                        "success (finished by --resume)", &stop_}));
  if (config_.drop_old_table) DropOldTable();
  already_finished_ = true;
  return absl::OkStatus();
}

void Migration::DropOldTable() {
  const auto& n = summary_.names;
  RetryPolicy policy;
  auto dropped = Retry(policy, "dropping the old table", [&] {
    return main_->Exec(fmt::format("DROP TABLE {}", QualifiedName(n.schema, n.old_table))).status();
  }, nullptr);
  if (dropped.ok()) summary_.old_table_dropped = true;
  else Log(LogLevel::kWarning, "could not drop {}: {}", QualifiedName(n.schema, n.old_table), dropped.message());
}

absl::Status Migration::CheckRetainedWal() {
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

bool Migration::CopyConnectionsHealthy() const {
  if (!copy_ || !copy_->Healthy()) return false;
  for (const auto& c : copy_extra_)
    if (!c->Healthy()) return false;
  return true;
}

absl::Status Migration::CopyPhase() {
  Phase("copy");
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
  summary_.copy_s = SecondsSince(copy_started);
  MaybeReportProgress(true);
  return absl::OkStatus();
}

bool Migration::DeferKeyIndex(const ShadowPlan& plan) const {
  // Only for a single copy connection whose batches are plain INSERTs into
  // ranges nothing else writes (the key's order survives the ALTER), and not
  // when tests switch off the ordering rules to show the hazards of
  // concurrent replay.
  return !config_.replay_during_copy && config_.copy_workers == 1 && sql::KeyOrderPreserved(plan.model) &&
         !config_.test.disable_ordering && !config_.test.disable_visibility;
}

absl::Status Migration::StartReplayDuringCopy(std::string_view why, bool gentle) {
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
void Migration::KeyIndexBuilt(Clock::time_point build_started) {
  plan_.key_index_deferred = false;
  copier_->set_key_index_deferred(false);
  summary_.key_index_s = SecondsSince(build_started);
}

// One statement of deferred_indexes on the copy connection, idempotent (a
// resumed or reconnected run may have built it already).
absl::Status Migration::RunDeferredStatement(std::string stmt, bool one_process) {
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
  // A paced run (--nice-ratio) builds each index with one process:
  // parallel maintenance workers would take every core from the
  // application for the length of the build.
  const bool paced = one_process || control_->NiceRatio() > 0;
  RETURN_IF_ERROR(copy_->Exec(paced ? "SET max_parallel_maintenance_workers = 0"
                                    : "RESET max_parallel_maintenance_workers").status());
  auto t = Clock::now();
  RETURN_IF_ERROR(Annotate(copy_->Exec(stmt).status(), "building an index of the new table"));
  RETURN_IF_ERROR(copy_->Exec("RESET max_parallel_maintenance_workers").status());
  Log(LogLevel::kInfo, "built index in {:.1f} s{}: {}", SecondsSince(t), paced ? " (one process)" : "", stmt);
  return RefreshParallelApply();
}

absl::Status Migration::IndexPhase() {
  Phase("indexes");
  (void)state_->SetPhase(main_.get(), "indexes");
  for (const std::string& stmt : plan_.deferred_indexes) {
    RETURN_IF_ERROR(CheckStop());
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

absl::Status Migration::ApplyGroup(std::vector<cdc::Transaction>& group) {
  if (group.empty()) return absl::OkStatus();
  std::vector<std::string> messages;
  RETURN_IF_ERROR(applier_->Apply(group, &messages));
  // The group is committed into the shadow: only now may the slot advance.
  durable_applied_ = std::max(durable_applied_, group.back().end_lsn);
  stream_->MarkApplied(group.back().end_lsn);
  fences_seen_.insert(fences_seen_.end(), messages.begin(), messages.end());
  group.clear();
  return absl::OkStatus();
}

absl::Status Migration::ReplayAvailable(milliseconds budget) {
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

absl::Status Migration::CatchUp(milliseconds budget) {
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
absl::Status Migration::CatchUpToWalEnd() {
  ASSIGN_OR_RETURN(auto t, main_->Exec("SELECT pg_current_wal_flush_lsn()::text"));
  Lsn target = ParseLsn(t.Get(0, 0)).value_or(0);
  auto next_log = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    RETURN_IF_ERROR(CheckStop());
    RETURN_IF_ERROR(CatchUp(milliseconds(200)));
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

absl::Status Migration::CutoverPhase() {
  Phase("catchup");
  (void)state_->SetPhase(main_.get(), "catchup");
  // A definition changed during the copy stops the run before verification.
  RETURN_IF_ERROR(CheckSchemaUnchanged(main_.get(), plan_.model.oid, built_from_));
  RETURN_IF_ERROR(CatchUpToWalEnd());
  // Verified before the cutover is postponed: replay keeps the new table
  // current meanwhile; the operator can ask for another verification.
  RETURN_IF_ERROR(VerifyIfWanted(/*before_cutover=*/true));
  if (!control_->CutoverAllowed()) {
    Log(LogLevel::kInfo, "cutover postponed: replay keeps the new table current; release it with "
                         "`shadowcopy ctl --socket {} cutover`{}", config_.socket_path,
        config_.control.postpone_cutover_flag_file.empty() ? ""
            : fmt::format(" or by removing {}", config_.control.postpone_cutover_flag_file));
    Phase("postponed");
    while (!control_->CutoverAllowed()) {
      RETURN_IF_ERROR(CheckStop());
      if (control_->abort_requested()) return absl::CancelledError("aborted by the operator");
      RETURN_IF_ERROR(CheckRetainedWal());
      if (control_->verify_requested() > verify_answered_) {
        RETURN_IF_ERROR(VerifyIfWanted(/*before_cutover=*/false));
        Phase("postponed");
      }
      if (control_->replay_paused()) std::this_thread::sleep_for(milliseconds(200));
      else RETURN_IF_ERROR(CatchUp(milliseconds(200)));
      MaybeReportProgress(false);
      if (!control_->replay_paused() && stream_->Queued() == 0) stream_->WaitQueued(milliseconds(200));
    }
    RETURN_IF_ERROR(CatchUp(milliseconds(60000)));
  }
  RETURN_IF_ERROR(VerifyIfWanted(/*before_cutover=*/true));
  if (config_.verify_after) RETURN_IF_ERROR(OpenVerifySessions());
  Phase("cutover");
  ConnectOptions co;
  co.dsn = config_.dsn;
  co.application_name = "shadowcopy_cutover";
  ASSIGN_OR_RETURN(auto lock, PgConn::Connect(co));
  {
    std::lock_guard<std::mutex> guard(conns_mu_);
    lock_ = std::move(lock);
  }
  // Once before locking: a changed definition stops the run without blocking
  // anyone, and the session's catalog caches are warm for the check under the lock.
  RETURN_IF_ERROR(CheckSchemaUnchanged(lock_.get(), plan_.model.oid, built_from_));
  RetryPolicy policy;
  policy.initial_backoff = milliseconds(200);
  policy.max_backoff = milliseconds(3000);
  for (int attempt = 1; attempt <= config_.cutover_retries; ++attempt) {
    RETURN_IF_ERROR(CheckStop());
    if (attempt > 1) RETURN_IF_ERROR(CatchUpToWalEnd());
    summary_.cutover_attempts = attempt;
    ASSIGN_OR_RETURN(bool done, TryCutover(attempt));
    if (done) return absl::OkStatus();
    auto wait = Backoff(policy, attempt);
    auto until = Clock::now() + wait;
    while (Clock::now() < until) RETURN_IF_ERROR(CatchUp(milliseconds(100)));
  }
  return absl::UnavailableError(fmt::format(
      "cutover: could not lock the table within {} ms in {} attempts (long transactions on it?)",
      config_.cutover_lock_timeout.count(), config_.cutover_retries));
}

// One cutover attempt. Returns false (after rolling back) when the lock or
// the fence drain did not fit their time limits; the caller retries.
absl::StatusOr<bool> Migration::TryCutover(int attempt) {
  const auto& n = plan_.model.names;
  if (ShouldPause(config_.test, "cutover-attempt", attempt)) RETURN_IF_ERROR(PauseHere(config_.test, nullptr, stop_));
  if (vexport_) vexport_->RollbackQuietly();  // a failed attempt's snapshot
  after_snapshot_.clear();
  RETURN_IF_ERROR(lock_->Exec("BEGIN").status());
  RETURN_IF_ERROR(lock_->Exec(fmt::format("SET LOCAL lock_timeout = '{}ms'", config_.cutover_lock_timeout.count())).status());
  RETURN_IF_ERROR(LoseLockCycles(lock_.get()));
  auto locked = lock_->Exec(fmt::format("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", QualifiedName(n.schema, n.table)));
  if (!locked.ok()) {
    lock_->RollbackQuietly();
    if (IsRetryable(locked.status())) {
      Log(LogLevel::kInfo, "cutover attempt {}: {}", attempt, locked.status().message());
      return false;
    }
    return locked.status();
  }
  auto lock_time = Clock::now();
  Log(LogLevel::kDebug, "cutover attempt {}: table locked", attempt);
  // DDL on the original since the shadow was built would stay on the old
  // table: compared under the lock, nothing swapped when it changed.
  auto shorter = lock_->Exec(SwapLockTimeoutSql());
  absl::Status same = shorter.ok() ? CheckSchemaUnchanged(lock_.get(), plan_.model.oid, built_from_)
                                   : shorter.status();
  if (!same.ok()) {
    lock_->RollbackQuietly();
    return same;
  }
  // Fence: with the lock held no writer is in flight. A transactional logical
  // message committed now is decoded after every change committed before the
  // lock; once it is applied, the shadow holds all of them. (Not a sleep, and
  // not pg_current_wal_lsn(): a write position the walsender may not have
  // sent yet.)
  std::string fence = fmt::format("{}/{}", run_id_, attempt);
  auto emitted = main_->Query("SELECT pg_logical_emit_message(true, 'shadowcopy', $1)", {fence});
  if (!emitted.ok()) {
    lock_->RollbackQuietly();
    return emitted.status();
  }
  auto deadline = lock_time + config_.cutover_drain_timeout;
  bool drained = false;
  while (!drained && Clock::now() < deadline) {
    auto st = ReplayAvailable(milliseconds(50));
    if (!st.ok()) {
      lock_->RollbackQuietly();
      return st;
    }
    drained = std::find(fences_seen_.begin(), fences_seen_.end(), fence) != fences_seen_.end();
    if (!drained) std::this_thread::sleep_for(milliseconds(1));
  }
  if (!drained) {
    lock_->RollbackQuietly();
    Log(LogLevel::kInfo, "cutover attempt {}: replay did not reach the fence within {} ms; catching up",
        attempt, config_.cutover_drain_timeout.count());
    return false;
  }
  Log(LogLevel::kDebug, "cutover attempt {}: fence applied after {:.1f} ms", attempt,
      std::chrono::duration<double, std::milli>(Clock::now() - lock_time).count());
  if (ShouldPause(config_.test, "cutover-locked", attempt)) {
    auto paused = PauseHere(config_.test, nullptr, stop_);
    if (!paused.ok()) {
      lock_->RollbackQuietly();
      return paused;
    }
  }
  if (config_.verify_after) {
    // The instant being swapped, for --verify-after: both tables as they are
    // now, under the lock, with everything replayed.
    auto exported = ExportVisibleSnapshot(deadline);
    if (!exported.ok() || !*exported) {
      vexport_->RollbackQuietly();
      lock_->RollbackQuietly();
      if (!exported.ok()) return exported.status();
      Log(LogLevel::kInfo, "cutover attempt {}: a replayed transaction was not visible in time", attempt);
      return false;
    }
    after_snapshot_ = **exported;
  }
  auto swap = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto catalog, ReadSwapCatalog(lock_.get(), plan_));
    // The replica identity the run set is not the user's: the new table keeps
    // the default.
    if (set_replica_identity_) catalog.replica_identity = 'd';
    auto statements = BuildSwapStatements(plan_, catalog);
    for (const auto& stmt : statements.in_lock) RETURN_IF_ERROR(lock_->Exec(stmt).status());
    after_swap_ = std::move(statements.after_commit);
    auto [record_sql, record_params] = state_->AfterSwap(after_swap_);
    RETURN_IF_ERROR(lock_->Query(record_sql, record_params).status());
    return lock_->Exec("COMMIT").status();
  };
  absl::Status st = swap();
  if (!st.ok() && !lock_->Healthy()) {
    // The session died, possibly after COMMIT was sent: find out whether the
    // swap happened before doing anything else (never swap twice, never drop
    // the wrong table).
    ConnectOptions co;
    co.dsn = config_.dsn;
    co.application_name = "shadowcopy_cutover";
    RetryPolicy policy;
    absl::Status checked = Retry(policy, "checking whether the swap committed", [&]() -> absl::Status {
      ASSIGN_OR_RETURN(auto conn, PgConn::Connect(co));
      ASSIGN_OR_RETURN(auto r, conn->Query("SELECT to_regclass($1)::oid",
                                           {QualifiedName(n.schema, n.table)}));
      if (!r.IsNull(0, 0) && static_cast<uint32_t>(r.GetInt(0, 0)) == plan_.shadow_oid) swapped_ = true;
      std::lock_guard<std::mutex> guard(conns_mu_);
      lock_ = std::move(conn);
      return absl::OkStatus();
    }, &stop_);
    RETURN_IF_ERROR(Annotate(checked, "the connection was lost during the swap's commit"));
    if (swapped_) {
      Log(LogLevel::kWarning, "the connection was lost during the swap's commit, but the swap committed");
      st = absl::OkStatus();
    } else {
      Log(LogLevel::kInfo, "cutover attempt {}: the connection was lost; the swap did not commit", attempt);
      return false;
    }
  }
  if (!st.ok()) {
    lock_->RollbackQuietly();
    if (IsRetryable(st)) {
      Log(LogLevel::kInfo, "cutover attempt {}: swap rolled back ({}); retrying", attempt, st.message());
      return false;
    }
    return Annotate(st, "cutover swap (rolled back; the original table is unchanged)");
  }
  swapped_ = true;
  summary_.blocked_ms = std::chrono::duration<double, std::milli>(Clock::now() - lock_time).count();
  Log(LogLevel::kInfo, "cutover done: writers were blocked for {:.1f} ms", summary_.blocked_ms);
  if (ShouldPause(config_.test, "after-swap", attempt)) RETURN_IF_ERROR(PauseHere(config_.test, nullptr, stop_));
  RETURN_IF_ERROR(RunAfterSwap(lock_.get()));
  return true;
}

absl::Status Migration::FinishPhase() {
  Phase("cleanup");
  std::vector<std::string> removed;
  absl::Status st = DropSlotAndPublication(&removed);
  for (const auto& r : removed) Log(LogLevel::kInfo, "removed {}", r);
  const auto& ast = applier_->stats();
  summary_.changes_replayed = ast.changes;
  summary_.parallel_apply_groups = ast.parallel_groups;
  summary_.transactions_replayed = ast.transactions;
  summary_.replayed = ast.plan;
  summary_.visibility_waits = copier_->visibility_waits();
  if (!after_snapshot_.empty()) VerifyAfterCutover();
  if (config_.drop_old_table) DropOldTable();
  if (auto fin = state_->Finish(main_.get(), "success"); !fin.ok())
    Log(LogLevel::kWarning, "could not record the run's outcome: {}", fin.message());
  Phase("done");
  return st;
}

absl::Status Migration::DropSlotAndPublication(std::vector<std::string>* removed) {
  const auto& n = summary_.names;
  if (stream_) stream_->Stop();  // the slot must be inactive to be dropped
  absl::Status first;
  if (created_slot_) {
    RetryPolicy policy;
    policy.initial_backoff = milliseconds(50);
    policy.attempts = 20;
    // The walsender may take a moment to exit after the connection closes.
    auto st = Retry(policy, "dropping the replication slot", [&]() -> absl::Status {
      auto r = main_->Query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                            "WHERE slot_name = $1", {n.slot});
      if (!r.ok() && SqlStateOf(r.status()) == "55006")
        return absl::UnavailableError(r.status().message());
      return r.status();
    }, nullptr);
    if (st.ok()) {
      created_slot_ = false;
      removed->push_back(fmt::format("replication slot {}", n.slot));
    } else if (first.ok()) {
      first = Annotate(st, fmt::format("could not drop replication slot {}", n.slot));
    }
  }
  if (created_publication_) {
    auto st = main_->Exec(fmt::format("DROP PUBLICATION IF EXISTS {}", QuoteIdent(n.publication))).status();
    if (st.ok()) {
      created_publication_ = false;
      removed->push_back(fmt::format("publication {}", n.publication));
    } else if (first.ok()) {
      first = Annotate(st, fmt::format("could not drop publication {}", n.publication));
    }
  }
  return first;
}

void Migration::CleanupAfterFailure(const absl::Status& cause) {
  Phase("cleanup");
  const auto& n = summary_.names;
  if (config_.keep_on_error && !swapped_ && (created_slot_ || created_shadow_)) {
    if (stream_) stream_->Stop();
    Log(LogLevel::kWarning,
        "--keep-on-error: kept replication slot {}, publication {} and table {}; the slot retains WAL until "
        "you run `shadowcopy --table {} --resume --execute` (same --alter) or `shadowcopy cleanup --table {} "
        "--execute`", n.slot, n.publication, QualifiedName(n.schema, n.shadow), n.table, n.table);
    return;
  }
  // Cleanup must run even after a stop request: a fresh connection, since the
  // main one may be mid-cancel or broken.
  ConnectOptions co;
  co.dsn = config_.dsn;
  co.application_name = "shadowcopy_cleanup";
  auto conn = PgConn::Connect(co);
  if (conn.ok()) {
    std::lock_guard<std::mutex> lock(conns_mu_);
    main_ = std::move(*conn);
  }
  if (!main_ || !main_->Healthy()) {
    Log(LogLevel::kError, "cannot reconnect to clean up; run `shadowcopy cleanup --table {}`", n.table);
    return;
  }
  main_->RollbackQuietly();
  std::vector<std::string> removed;
  auto st = DropSlotAndPublication(&removed);
  if (set_replica_identity_ && !swapped_) {
    // After the publication is gone: the original gets its default back.
    auto reset = main_->Exec(fmt::format("SET lock_timeout = '10s'; ALTER TABLE {} REPLICA IDENTITY DEFAULT",
                                         QualifiedName(n.schema, n.table)));
    if (reset.ok()) removed.push_back(fmt::format("the replica identity set on {}", QualifiedName(n.schema, n.table)));
    else if (st.ok()) st = reset.status();
  }
  if (created_shadow_ && !swapped_) {
    auto dropped = main_->Exec(fmt::format("SET lock_timeout = '10s'; DROP TABLE IF EXISTS {}",
                                           QualifiedName(n.schema, n.shadow)));
    if (dropped.ok()) removed.push_back(fmt::format("table {}", QualifiedName(n.schema, n.shadow)));
    else if (st.ok()) st = dropped.status();
  }
  for (const auto& r : removed) Log(LogLevel::kInfo, "removed {}", r);
  if (st.ok() && swapped_ && !after_swap_.empty()) {
    // The run's record keeps the post-swap work for cleanup or --resume.
    Log(LogLevel::kError, "the swap committed but {} post-swap statements are left; run `shadowcopy cleanup "
        "--schema {} --table {} --execute`", after_swap_.size(), n.schema, n.table);
    return;
  }
  if (st.ok() && state_)
    st = state_->Finish(main_.get(), swapped_ ? fmt::format("swapped; then failed: {}", cause.message())
                                              : fmt::format("failed: {}", cause.message()));
  if (!st.ok())
    Log(LogLevel::kError, "cleanup incomplete ({}); run `shadowcopy cleanup --table {} --execute`",
        st.message(), n.table);
}

void Migration::MaybeReportProgress(bool force) {
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
