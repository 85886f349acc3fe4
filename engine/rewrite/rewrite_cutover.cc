// The rewrite's cutover and what follows: the locked, fenced swap and its
// retries, the work after the swap, the finish, and the cleanup after a
// failure.
//
// Thread-safety: the rewrite thread.
#include <thread>

#include "common/log.h"
#include "common/quote.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/control/test_hooks.h"
#include "engine/rewrite/after_swap.h"
#include "engine/rewrite/lock_gate.h"
#include "engine/rewrite/rewrite.h"
#include "engine/rewrite/swap.h"
#include "engine/table/inheritance.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

}  // namespace

// With the table locked, the swap locks more (a child table whose foreign
// key is re-pointed, views, sequences). An application transaction that holds
// one of those and waits for our table closes a cycle; whichever side runs the
// deadlock check first is cancelled. Ours runs it first (where the role may
// set it: SET LOCAL in the open transaction), and every lock wait after the
// table's gives up well within the server's deadlock_timeout
// (SwapLockTimeoutSql): the swap rolls back and retries, the application
// never sees the deadlock.
absl::Status Rewrite::LoseLockCycles(PgConn* conn) {
  if (!superuser_) {
    ASSIGN_OR_RETURN(auto r, conn->Exec("SELECT current_setting('is_superuser') = 'on'"));
    superuser_ = r.GetBool(0, 0);
  }
  if (*superuser_) RETURN_IF_ERROR(conn->Exec("SET LOCAL deadlock_timeout = '50ms'").status());
  return absl::OkStatus();
}

std::string Rewrite::OriginalName() const {
  return QualifiedName(plan_.model.names.schema, plan_.model.names.table);
}

std::string Rewrite::SwapLockTimeoutSql() const {
  return fmt::format("SET LOCAL lock_timeout = '{}ms'", std::min<int64_t>(config_.cutover_lock_timeout.count(), 200));
}

// What is left once the swap committed (re-owning serial sequences, validating
// re-created foreign keys); what is done leaves after_swap_ and the run's record.
absl::Status Rewrite::RunAfterSwap(PgConn* conn) {
  return Annotate(RunAfterSwapStatements(conn, run_id_, &after_swap_, config_.cutover_lock_timeout, nullptr),
                  fmt::format("the swap succeeded; `shadowcopy cleanup --schema {} --table {} --execute` runs what "
                              "is left after it", summary_.names.schema, summary_.names.table));
}

// The swap of the run being resumed had committed: finish what follows it, as cleanup does.
absl::Status Rewrite::FinishAfterSwap(const Inspection& in, const RunRecord& rec) {
  Log(LogLevel::kInfo, "run {}: the swap had already committed; {} is the new table. Finishing the work after it.",
      rec.run_id, QualifiedName(in.names.schema, in.names.table));
  ASSIGN_OR_RETURN(auto run, FindSwappedRun(main_.get(), rec.table_oid));
  if (!run) return absl::InternalError(fmt::format("run {} has no record of its swap", rec.run_id));
  swapped_ = true;
  run_id_ = rec.run_id;
  summary_.names = NamesFor(rec.schema, rec.table, rec.table_oid, rec.old_suffix);
  summary_.resumed_after_swap = true;
  summary_.after_swap_statements = static_cast<int>(run->statements.size());
  RETURN_IF_ERROR(FinishSwappedRun(main_.get(), *run, {config_.cutover_lock_timeout,
                                                        "success (finished by --resume)", &stop_}));
  // The table is named in a second query: a name that does not exist fails
  // at parse time, whatever guards it in the same statement.
  ASSIGN_OR_RETURN(auto windows, main_->Query("SELECT to_regclass('shadowcopy.revert_windows') IS NOT NULL"));
  bool open_window = false;
  if (windows.GetBool(0, 0)) {
    ASSIGN_OR_RETURN(auto window, main_->Query("SELECT EXISTS (SELECT 1 FROM shadowcopy.revert_windows "
                                               "WHERE run_id = $1 AND state = 'open')", {run_id_}));
    open_window = window.GetBool(0, 0);
  }
  if (open_window) RETURN_IF_ERROR(RevertWindowPhase());  // continues the reverse stream
  if (config_.drop_old_table && !reverted_) DropOldTable();
  already_finished_ = true;
  return absl::OkStatus();
}

void Rewrite::DropOldTable() {
  const auto& n = summary_.names;
  // The swap left the old table without foreign keys or views: its own
  // lock is all the DROP takes, asked for at a quiet moment like every lock
  // after the run.
  const std::string old_table = QualifiedName(n.schema, n.old_table);
  absl::Status dropped = absl::OkStatus();
  auto oid = main_->Query("SELECT to_regclass($1)::oid", {old_table});
  if (!oid.ok()) dropped = oid.status();
  else if (oid->IsNull(0, 0)) dropped = absl::NotFoundError("it no longer exists");
  else
    dropped = ExecWhenTableQuiet(main_.get(), static_cast<uint32_t>(oid->GetInt(0, 0)), LockMode::kAccessExclusive,
                                 fmt::format("DROP TABLE {}", old_table), kAfterRunLockBudget);
  if (dropped.ok()) summary_.old_table_dropped = true;
  else Log(LogLevel::kWarning, "could not drop {}: {}", QualifiedName(n.schema, n.old_table), dropped.message());
}

absl::Status Rewrite::CutoverPhase() {
  Phase("catchup");
  (void)state_->SetPhase(main_.get(), "catchup");
  // A definition changed during the copy stops the run before verification.
  RETURN_IF_ERROR(CheckSchemaUnchanged(main_.get(), plan_.model.oid, OriginalName(), built_from_));
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
    Hook("begin-postponed");
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
  if (config_.revert_window.count() > 0 && !created_rev_slot_) RETURN_IF_ERROR(PrepareReverseStream());
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
  RETURN_IF_ERROR(CheckSchemaUnchanged(lock_.get(), plan_.model.oid, OriginalName(), built_from_));
  RetryPolicy policy;
  policy.initial_backoff = milliseconds(200);
  policy.max_backoff = milliseconds(3000);
  absl::Status vetoed;
  for (int attempt = 1; attempt <= config_.cutover_retries; ++attempt) {
    RETURN_IF_ERROR(CheckStop());
    if (attempt > 1) RETURN_IF_ERROR(CatchUpToWalEnd());
    summary_.cutover_attempts = attempt;
    PublishProgress(phase_);
    // The operator's hook may veto this attempt (never run under the lock).
    vetoed = CutoverVeto(attempt);
    if (!vetoed.ok() && !IsRetryable(vetoed)) return vetoed;
    bool done = false;
    if (vetoed.ok()) {
      hooks_->Hold(true);  // no hook starts while the lock may be held
      auto tried = TryCutover(attempt);
      hooks_->Hold(false);
      SyncBlockedSummary();
      ASSIGN_OR_RETURN(done, std::move(tried));
    }
    if (done) return absl::OkStatus();
    auto wait = Backoff(policy, attempt);
    auto until = Clock::now() + wait;
    while (Clock::now() < until) RETURN_IF_ERROR(CatchUp(milliseconds(100)));
  }
  if (!vetoed.ok())
    return absl::UnavailableError(fmt::format("cutover: {} attempts postponed, the last by {}", config_.cutover_retries,
                                              vetoed.message()));
  return absl::UnavailableError(fmt::format(
      "cutover: could not lock the table within {} ms in {} attempts (long transactions on it?)",
      config_.cutover_lock_timeout.count(), config_.cutover_retries));
}

// One cutover attempt. Returns false (after rolling back) when the lock or
// the fence drain did not fit their time limits; the caller retries.
absl::StatusOr<bool> Rewrite::TryCutover(int attempt) {
  const auto& n = plan_.model.names;
  if (ShouldPause(config_.test, "cutover-attempt", attempt)) RETURN_IF_ERROR(PauseHere(config_.test, nullptr, stop_));
  if (vexport_) vexport_->RollbackQuietly();  // a failed attempt's snapshot
  after_snapshot_.clear();
  // Never into the queue behind another session: the application would
  // queue behind us (rewrite_lock_wait.cc).
  ASSIGN_OR_RETURN(bool ready, PrepareLockRequest(lock_.get(), LockMode::kAccessExclusive, "cutover", attempt));
  if (!ready) return false;
  RETURN_IF_ERROR(lock_->Exec("BEGIN").status());
  RETURN_IF_ERROR(lock_->Exec(ShortLockTimeoutSql()).status());
  RETURN_IF_ERROR(LoseLockCycles(lock_.get()));
  ASSIGN_OR_RETURN(auto lock_sql, CutoverLockSql(lock_.get(), plan_.model.oid, QualifiedName(n.schema, n.table)));
  BlockedSpan blocking(&cutover_blocked_);  // until released, whatever the outcome
  auto locked = lock_->Exec(lock_sql);
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
  absl::Status same = shorter.ok()
                          ? CheckSchemaUnchanged(lock_.get(), plan_.model.oid, OriginalName(), built_from_)
                          : shorter.status();
  if (!same.ok()) {
    lock_->RollbackQuietly();
    return same;
  }
  // Fence: every change committed before the lock replayed into the shadow
  // (rewrite_fence_drain.cc).
  auto deadline = lock_time + LockedDrainBudget(attempt);
  ASSIGN_OR_RETURN(bool drained, DrainFenceUnderLock("cutover", attempt, fmt::format("{}/{}", run_id_, attempt),
                                                     lock_time));
  if (!drained) return false;
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
    RETURN_IF_ERROR(RecordReverseStart(lock_.get()));
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
  double held = blocking.End(/*ok=*/true);
  SyncBlockedSummary();
  Log(LogLevel::kInfo, "cutover done: writers were blocked for {:.1f} ms ({:.1f} ms by this attempt, {} attempts "
      "that queued)", summary_.blocked_ms, held, cutover_blocked_.attempts);
  // The swap commits once, at whichever attempt got the lock: `after-swap:1`.
  if (ShouldPause(config_.test, "after-swap", 1)) RETURN_IF_ERROR(PauseHere(config_.test, nullptr, stop_));
  RETURN_IF_ERROR(RunAfterSwap(lock_.get()));
  return true;
}

absl::Status Rewrite::FinishPhase() {
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
  if (created_rev_slot_) RETURN_IF_ERROR(RevertWindowPhase());
  if (config_.drop_old_table && !reverted_) DropOldTable();
  if (auto fin = state_->Finish(main_.get(), reverted_ ? "reverted" : "success"); !fin.ok())
    Log(LogLevel::kWarning, "could not record the run's outcome: {}", fin.message());
  Phase("done");
  return st;
}

absl::Status Rewrite::DropSlotAndPublication(std::vector<std::string>* removed) {
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

void Rewrite::CleanupAfterFailure(const absl::Status& cause) {
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
  if (auto rev = DropReverseStream(&removed); st.ok()) st = rev;
  if (set_replica_identity_ && !swapped_) {
    // After the publication is gone: the original gets its default back.
    // Its ACCESS EXCLUSIVE lock at a quiet moment: writers never queue
    // behind it for more than kShortLockTimeout.
    auto reset = ExecWhenTableQuiet(main_.get(), plan_.model.oid, LockMode::kAccessExclusive,
                                    fmt::format("ALTER TABLE {} REPLICA IDENTITY DEFAULT",
                                                QualifiedName(n.schema, n.table)),
                                    kAfterRunLockBudget);
    if (reset.ok()) removed.push_back(fmt::format("the replica identity set on {}", QualifiedName(n.schema, n.table)));
    else if (st.ok()) st = reset;
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

}  // namespace shadowcopy::engine
