// Rewrite: the orchestrator. Reads as the list of phases of DESIGN.md §2 —
// inspect, prepare, copy ∥ replay, build indexes, catch up, cutover, cleanup —
// run on one rewrite thread. Copy batches and replay groups alternate on
// that thread (the single-applier ordering rule; see copier.h); the
// replication connection has its own thread (cdc::ChangeStream).
//
// Run() and RunPhases() (rewrite.cc) list the phases; each lives in a file
// of its own: rewrite_prepare.cc (inspect, dry run, prepare, the stream,
// --resume), rewrite_copy.cc (copy, deferred key index, indexes, replay,
// catch-up), rewrite_verify.cc (verification) and rewrite_cutover.cc
// (cutover, finish, cleanup after a failure).
//
// Every object created in the user's database is registered as it is created
// and removed on any failure or stop (cleanup never depends on how far the
// run got).
//
// Thread-safety: Run() on one thread; RequestStop() and Progress() from any.
#ifndef SHADOWCOPY_ENGINE_REWRITE_REWRITE_H_
#define SHADOWCOPY_ENGINE_REWRITE_REWRITE_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cdc/change_stream.h"
#include "common/pg.h"
#include "engine/control/config.h"
#include "engine/control/control.h"
#include "engine/control/hooks.h"
#include "engine/rewrite/applier.h"
#include "engine/rewrite/copier.h"
#include "engine/rewrite/lock_conflicts.h"
#include "engine/rewrite/schema_fingerprint.h"
#include "engine/rewrite/shadow_builder.h"
#include "engine/rewrite/state_store.h"
#include "engine/rewrite/verify_wording.h"
#include "engine/table/inspector.h"
#include "engine/table/snapshot.h"
#include "engine/verify/verifier.h"
#include "engine/verify/verify_sql.h"
#include "throttler/chunk_sizer.h"
#include "throttler/throttler.h"

namespace shadowcopy::engine {

struct Summary {
  bool dry_run = true;
  int64_t rows_copied = 0;
  int64_t batches = 0;
  int64_t relayed_batches = 0;  // batches copied by the COPY relay
  uint64_t changes_replayed = 0;
  uint64_t transactions_replayed = 0;
  uint64_t parallel_apply_groups = 0;  // replay groups split over several connections
  PlanStats replayed;
  // Writers blocked by the cutover's lock requests: from just before each
  // request entered the queue until it was released, over every attempt
  // (those that timed out or rolled back included).
  double blocked_ms = 0;
  double blocked_max_ms = 0;         // the longest single attempt
  int cutover_lock_failures = 0;     // attempts that queued and did not swap
  // Waiting (outside the queue) for a moment with no conflicting holder.
  double cutover_lock_wait_s = 0;
  double verify_lock_wait_s = 0;
  int verify_point_failures = 0;     // consistency point attempts that queued and gave up
  double rehearsal_blocked_ms = 0;   // the swap's rehearsal at the start of --execute
  std::vector<std::string> lock_holders;  // the sessions waited for, named
  double elapsed_s = 0;
  double copy_s = 0;
  // Replay waited for the copy and the key index built after it; false when
  // the key index existed from the start or was built early (the batch count
  // then, in replay_from_batch).
  bool replay_deferred = false;
  int64_t replay_from_batch = 0;
  double key_index_s = 0;  // building the deferred key index
  int cutover_attempts = 0;
  uint64_t visibility_waits = 0;
  ObjectNames names;
  bool old_table_dropped = false;
  // --resume found the swap committed by the interrupted run: this run only
  // did the work after it (the counts above are not known).
  bool resumed_after_swap = false;
  int after_swap_statements = 0;  // post-swap statements it found left
  // Verification (all of the run's verifications together).
  bool verified = false;              // a clean pass preceded the cutover
  int verify_points = 0;              // consistency points taken
  int64_t verify_ranges = 0;          // ranges hashed, re-checks included
  int64_t verify_rows = 0;            // original rows hashed
  int64_t verify_mismatches = 0;      // ranges found different
  int64_t verify_repaired = 0;        // ranges re-copied
  double verify_s = 0;
  double verify_blocked_ms = 0;       // longest writer block of a consistency point (attempt)
  double verify_blocked_total_ms = 0; // over every attempt, failed ones included
  std::vector<std::string> verify_not_compared;  // new columns without a source
  // --verify-after: the new table against the old one at the swap.
  bool verified_after = false;
  int64_t verify_after_ranges = 0;
  int64_t verify_after_mismatches = 0;
  double verify_after_s = 0;
  // --revert-window: the window ran; the old table was swapped back.
  bool revert_window = false;
  bool reverted = false;
  double revert_blocked_ms = 0;   // writers blocked by the swap back (every attempt)
  uint64_t reverse_changes = 0;   // changes replayed into the old table
  // Before the swap back: the old table against the new one mapped back.
  bool revert_verified = false;
  int64_t revert_verify_ranges = 0;
  int64_t revert_verify_mismatches = 0;  // ranges found different (and repaired)
  std::string revert_reason;      // why the run reverted by itself ("" when asked)
};

class Rewrite {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Rewrite(Config config);
  ~Rewrite();

  // Runs the dry run or the rewrite. Prints the plan (dry run) to stdout;
  // logs phases and progress to stderr.
  absl::StatusOr<Summary> Run();

  // Asks the run to stop: in-flight queries are cancelled, everything created
  // is removed. Safe from any thread.
  void RequestStop();

  // The operator's interface to this run (control socket, CLI). Valid for the
  // Rewrite's lifetime; thread-safe.
  Control* control() { return control_.get(); }

 private:
  absl::StatusOr<Summary> RunSteps();
  // Announces `event` to the hooks with the run's current facts (rewrite_hooks.cc).
  void Hook(std::string_view event, HookVars extra = {}, bool once = false);
  absl::Status Connect();
  absl::StatusOr<Inspection> InspectPhase();
  absl::Status DryRun(const Inspection& in, bool rehearse_swap);
  absl::Status Prepare(const Inspection& in);
  absl::Status ResumeRun(const Inspection& in);
  absl::Status FinishAfterSwap(const Inspection& in, const RunRecord& rec);
  void DropOldTable();  // --drop-old-table, once the run is done
  absl::Status StartStream(bool create_slot);
  // The stream of `m`'s slot and publication, expecting its columns.
  cdc::StreamOptions StreamOptionsFor(const TableModel& m) const;
  absl::Status RunPhases();
  bool ShouldReconnect(const absl::Status& st) const;
  bool CopyConnectionsHealthy() const;
  absl::Status LoseLockCycles(PgConn* conn);
  std::string SwapLockTimeoutSql() const;
  // The original table, quoted and schema-qualified, as errors name it.
  std::string OriginalName() const;
  absl::Status Reconnect(int attempt);
  // Every connection and the stream dropped, the attempt's back-off waited,
  // connected again and the run's advisory lock retaken: what both
  // reconnections (the forward run's, the revert window's) start with.
  absl::Status ReopenSessions(int attempt);
  absl::Status OpenWorkConnections();
  absl::Status CheckRetainedWal();
  // Deferred replay (the shadow's key index is built after the copy): true
  // while replay waits for the key index.
  bool ReplayHeld() const { return plan_.key_index_deferred; }
  bool DeferKeyIndex(const ShadowPlan& plan) const;
  // Builds the deferred key index now, on what the copy wrote so far, so
  // that replay can start during the rest of the copy.
  // `gentle`: with one process (the run was told to back off).
  absl::Status StartReplayDuringCopy(std::string_view why, bool gentle);
  absl::Status RunDeferredStatement(std::string stmt, bool one_process = false);
  // Why an index build should take one core rather than every core the
  // server would give it ("" when nothing says so).
  std::string OneProcessBuildWhy(bool one_process);
  // The backend pids of the run's own sessions.
  std::vector<int> OwnBackendPids();
  absl::Status RefreshParallelApply();
  void KeyIndexBuilt(std::chrono::steady_clock::time_point build_started);
  absl::Status RunAfterSwap(PgConn* conn);
  absl::Status StartThrottler();
  // Waits while the throttler (or the operator) holds the copy, replaying
  // meanwhile. Returns true when the copy may go on.
  absl::StatusOr<bool> CopyMayProceed();
  // Replays (or, with the replay paused, sleeps) until `until` or for at
  // most 200 ms, whichever comes first.
  absl::Status ReplayWhileWaiting(std::chrono::steady_clock::time_point until);
  // True while the replay must be paced: the application's health signal
  // fires (in `d`) and the slot's lag is well within its limits.
  bool PaceReplay(const throttler::Decision& d) const;
  // Replays for at most 50 ms (not beyond `until`), then rests as long.
  absl::Status PacedReplayStep(std::chrono::steady_clock::time_point until);
  // Waits, replaying, while the throttler says heavy work must wait (`what`
  // names the work in the log); a critical limit stops the run.
  absl::Status WaitForHeavyWork(std::string_view what);
  // The copy batch could not take its lock (`cause`): back off, say why.
  void BackOffFromLock(const absl::Status& cause);
  // "AccessExclusiveLock held by pid 7" for the locks on the original that
  // keep the copy out; "" when none is seen (any more).
  std::string DescribeBlockingLocks();
  void PublishProgress(std::string_view phase);
  absl::Status CopyPhase();
  absl::Status IndexPhase();
  absl::Status CatchUp(std::chrono::milliseconds budget);
  absl::Status CatchUpToWalEnd();
  absl::Status CutoverPhase();
  absl::StatusOr<bool> TryCutover(int attempt);
  // The before-cutover hook's verdict on `attempt`: OK, Unavailable (it
  // failed: postpone the attempt), or the catch-up's error while it ran.
  absl::Status CutoverVeto(int attempt);
  // Before a lock request that conflicts with writers (rewrite_lock_wait.cc):
  // replay up to a fence emitted without any lock, then wait (bounded by the
  // cutover lock timeout) for a moment when no other session holds or
  // awaits a lock the request would queue behind. false: not in time.
  absl::StatusOr<bool> PrepareLockRequest(PgConn* conn, LockMode want, std::string_view what, int attempt);
  absl::StatusOr<bool> PreFence(std::string_view what);
  absl::StatusOr<bool> AwaitQuietTable(PgConn* conn, uint32_t oid, const std::string& table, LockMode want,
                                       std::string_view what, Clock::time_point deadline, bool replay);
  absl::Status LockWhenQuiet(PgConn* conn, uint32_t oid, const std::string& table, LockMode want,
                             std::string_view what, const std::string& lock_sql, BlockedTime* blocked);
  std::string ShortLockTimeoutSql() const;
  void SyncBlockedSummary();  // the cutover's BlockedTime into summary_
  // How long the fence drain may take under the lock at this attempt.
  std::chrono::milliseconds LockedDrainBudget(int attempt) const;
  // With the table locked on `lock` (lock_ when null) since `lock_time`
  // (the request): emits `fence` and replays until it is applied, within
  // LockedDrainBudget(attempt). false (after rolling `lock` back) when not
  // in time, or at once when what was received cannot be replayed in the
  // time left (DrainWontFit); an error rolls back too.
  absl::StatusOr<bool> DrainFenceUnderLock(std::string_view what, int attempt, const std::string& fence,
                                           Clock::time_point lock_time, PgConn* lock = nullptr);
  absl::Status FinishPhase();
  void CleanupAfterFailure(const absl::Status& cause);

  // Verification (rewrite_verify.cc).
  // Runs a verification when --verify wants one before the cutover or the
  // operator asked for one, and answers the operator's requests.
  absl::Status VerifyIfWanted(bool before_cutover);
  absl::Status RunVerification();
  absl::Status OpenVerifySessions();
  absl::StatusOr<std::vector<vsql::KeyRange>> PlanVerifyRanges();
  absl::StatusOr<std::string> TakeConsistencyPoint(const vsql::KeyRange* corrupt);
  absl::StatusOr<std::optional<std::string>> TryConsistencyPoint(int attempt, const vsql::KeyRange* corrupt);
  absl::StatusOr<std::optional<std::string>> ExportVisibleSnapshot(Clock::time_point deadline);
  absl::Status WaitForVerifyPass();
  absl::Status RepairRange(const vsql::KeyRange& range);
  absl::Status WaitWhileThrottled();
  absl::StatusOr<throttler::Decision> VerifyCheckAndDecide();
  absl::Status VerifyReplayStep(std::chrono::milliseconds rest);
  absl::Status CorruptForTest(const vsql::KeyRange& range);
  absl::StatusOr<std::vector<vsql::KeyRange>> PlanRangesOf(const TableModel& model);
  // --verify-after: compares the new table with the old one under the
  // snapshot exported at the cutover; reports, repairs nothing.
  void VerifyAfterCutover();
  absl::Status DropSlotAndPublication(std::vector<std::string>* removed);

  // The revert window (rewrite_revert.cc).
  absl::Status PrepareReverseStream();           // before the cutover's lock
  absl::Status RecordReverseStart(PgConn* locked);  // in the swap's transaction
  absl::Status RevertWindowPhase();              // after the swap: until the window ends or a revert
  absl::Status LoadReversePlan();
  absl::Status CheckReverseWal();
  absl::Status SwapBack();
  absl::StatusOr<bool> TrySwapBack(int attempt);
  absl::Status FinishCommittedSwapBack();  // its COMMIT's reply lost with the session
  void RunAfterSwapBack(PgConn* conn);     // the statements after the swap back's commit
  absl::Status VerifyBeforeSwapBack();  // rewrite_revert_verify.cc
  absl::Status DropReverseStream(std::vector<std::string>* removed);
  // The reverse stream from a checkpoint, and again after a lost session or
  // a server restart (rewrite_revert_stream.cc).
  absl::Status OpenReverseStream(Lsn applied);
  bool ReverseStreamLost(const absl::Status& st) const;
  absl::Status ResumeReverseStream(absl::Status cause, int* reconnects);
  absl::Status ReconnectReverseStream(int attempt);
  uint64_t ReverseChanges() const;  // replayed into the old table, every stream of the window
  uint64_t reverse_changes_base_ = 0;  // by the streams before the current one
  uint32_t run_lock_oid_ = 0;  // the run's advisory lock is keyed by it (TryRunLock)
  bool RevertWanted();  // a health check failed often enough (rewrite_health.cc)
  bool created_rev_slot_ = false, created_rev_publication_ = false;
  bool reverted_ = false;
  ShadowPlan rev_plan_;
  std::vector<std::string> rev_after_swap_;
  BlockedTime revert_blocked_;
  std::unique_ptr<PgConn> health_;  // --health-check's own connection
  int health_failures_ = 0;         // in a row
  std::chrono::steady_clock::time_point next_health_check_{};

  // Applies what the stream has delivered, group by group, for at most
  // `budget`. Returns OK when the queue is empty or the budget is spent.
  absl::Status ReplayAvailable(std::chrono::milliseconds budget);
  absl::Status ApplyGroup(std::vector<cdc::Transaction>& group);
  // Under a lock that blocks writers: why the changes received and not yet
  // replayed cannot be replayed by `deadline` at the recent replay rate
  // (a large transaction came in), or "" when they can. The attempt then
  // gives up at once instead of holding writers back until its deadline.
  std::string DrainWontFit(std::chrono::steady_clock::time_point deadline) const;
  void MaybeReportProgress(bool force);
  void Phase(std::string_view name);
  absl::Status CheckStop() const;

  const Config config_;
  std::atomic<bool> stop_{false};

  // Owned by the rewrite thread.
  std::unique_ptr<PgConn> main_;   // inspection, DDL, fence
  std::unique_ptr<PgConn> copy_;   // copy batches
  std::vector<std::unique_ptr<PgConn>> copy_extra_;  // batches side by side with copy_'s
  std::unique_ptr<PgConn> apply_;  // replay
  std::vector<std::unique_ptr<PgConn>> apply_extra_;  // replay groups split by key (--apply-workers)
  std::unique_ptr<PgConn> lock_;   // cutover lock and swap
  std::optional<bool> superuser_;  // the role may set deadlock_timeout
  int rehearsals_ = 0;             // swap rehearsals run (test pause points)
  std::unique_ptr<PgConn> vlock_;    // the verification's consistency-point lock
  std::unique_ptr<PgConn> vexport_;  // holds the exported snapshot while workers use it
  std::unique_ptr<Verifier> verifier_;
  std::unique_ptr<cdc::ChangeStream> stream_;
  std::unique_ptr<Copier> copier_;
  std::unique_ptr<Applier> applier_;
  VisibilityTracker visibility_;
  ShadowPlan plan_;
  SchemaFingerprint built_from_;  // the original's definition the shadow was built from
  Summary summary_;
  std::string run_id_;
  std::vector<std::string> fences_seen_;
  std::vector<std::string> after_swap_;  // statements to run once the swap committed
  std::unique_ptr<StateStore> state_;
  std::unique_ptr<Control> control_;
  std::unique_ptr<Hooks> hooks_;  // set by Run
  std::unique_ptr<throttler::Throttler> throttler_;
  std::unique_ptr<throttler::ChunkSizer> sizer_;
  uint64_t control_revision_ = ~uint64_t{0};
  std::string last_throttle_reason_;
  std::chrono::steady_clock::time_point rest_until_{};     // nice ratio: no batch before
  std::chrono::steady_clock::time_point lock_retry_at_{};  // lock back-off: no batch before
  int lock_failures_ = 0;                                  // consecutive batches refused a lock
  std::string phase_ = "starting";
  Lsn durable_applied_ = 0;  // end LSN of the last group committed into the shadow
  bool indexes_done_ = false;
  bool already_finished_ = false;  // --resume found the swap committed
  std::chrono::steady_clock::time_point last_wal_check_{};
  int64_t slot_retained_bytes_ = -1;                       // at the last WAL check; < 0: not read
  int64_t last_applied_commit_time_ = 0;                   // of the last replayed transaction (PostgreSQL epoch, us)
  bool created_shadow_ = false, created_publication_ = false, created_slot_ = false;
  bool swapped_ = false;
  bool set_replica_identity_ = false;
  bool verify_order_preserved_ = true;  // the shadow's key order is the original's
  VerifyWording verify_wording_ = ForwardVerifyWording();  // the revert's check names its tables its own way
  bool verify_may_repair_ = true;  // false: a range that differs stops the verification
  bool verify_corrupted_ = false;       // the test hook has corrupted once
  uint64_t verify_answered_ = 0;        // operator requests answered so far
  int verify_fences_ = 0;
  int pre_fences_ = 0;
  std::chrono::milliseconds fence_round_trip_{0};  // the last fence replayed without a lock
  double apply_us_per_change_ = 25;  // recent replay cost per change (large groups), for DrainWontFit
  BlockedTime cutover_blocked_;      // the cutover's lock requests
  BlockedTime verify_blocked_;       // the consistency points' lock requests
  BlockedTime rehearsal_blocked_;    // the swap's rehearsal at the start of --execute
  std::string lock_wait_;            // whom a lock request waits for ("" when none), for status
  double lock_wait_s_ = 0;
  LockHolder lock_wait_holder_;
  std::string verify_state_;
  std::string after_snapshot_;  // exported under the cutover lock (--verify-after)
  TableModel after_model_;      // the model with the swapped names
  int64_t verify_total_ = 0, verify_done_base_ = 0;  // REPLICA IDENTITY USING INDEX set on the original
  std::chrono::steady_clock::time_point started_, last_progress_;
  int64_t rows_at_last_progress_ = 0;

  std::mutex conns_mu_;  // guards the connection pointers for RequestStop's cancel
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_REWRITE_H_
