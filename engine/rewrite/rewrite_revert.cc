// The revert window: after the swap, a reverse stream keeps the old table
// current (every write to the new table replayed into it through the reverse
// mapping, revert_model.h), and a revert swaps the old table back with the
// cutover's fenced swap.
//
// The reverse slot and publication (shadowcopy_<oid>_rev) are created before
// the cutover's lock, on the shadow: creating a logical slot waits for every
// running transaction, which must never happen while writers queue behind
// our lock. What the lock fixes instead is where the reverse stream starts:
// the swap's transaction records pg_current_wal_insert_lsn() under the lock
// as the window's applied position. Every write to the new table commits
// after the swap does (it waits for our lock), so after that position; the
// forward replay's own writes into the shadow committed before it. Replay
// skips commits at or below the applied position (as after a restart), so
// nothing falls between and nothing is applied twice.
//
// Thread-safety: the rewrite thread.
#include <algorithm>
#include <thread>

#include "common/log.h"
#include "common/quote.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/control/test_hooks.h"
#include "engine/rewrite/lock_gate.h"
#include "engine/rewrite/revert_model.h"
#include "engine/rewrite/rewrite.h"
#include "engine/rewrite/swap.h"
#include "engine/table/state_tables.h"
#include "fmt/format.h"
#include "throttler/policy.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr const char* kRevertWindowsDdl =
    "CREATE SCHEMA IF NOT EXISTS shadowcopy; "
    "CREATE TABLE IF NOT EXISTS shadowcopy.revert_windows ("
    "  run_id text PRIMARY KEY, schema_name text NOT NULL, table_name text NOT NULL, slot_name text NOT NULL, "
    "  start_lsn pg_lsn, applied_lsn pg_lsn, until_at timestamptz, state text NOT NULL DEFAULT 'prepared', "
    "  outcome text, updated_at timestamptz NOT NULL DEFAULT now())";

constexpr const char* kRevertColumnsOfSql =
    "SELECT attnum, attname, format_type(atttypid, atttypmod), atttypid, attnotnull, attgenerated <> '', "
    "attidentity FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum";

absl::StatusOr<std::vector<ColumnInfo>> RevertColumnsOfTable(PgConn* conn, uint32_t oid) {
  ASSIGN_OR_RETURN(auto r, conn->Query(kRevertColumnsOfSql, {std::to_string(oid)}));
  std::vector<ColumnInfo> out;
  for (int i = 0; i < r.Rows(); ++i) {
    ColumnInfo c;
    c.attnum = static_cast<int>(r.GetInt(i, 0));
    c.name = r.GetString(i, 1);
    c.type = r.GetString(i, 2);
    c.type_oid = static_cast<uint32_t>(r.GetInt(i, 3));
    c.not_null = r.GetBool(i, 4);
    c.generated = r.GetBool(i, 5);
    c.identity = r.Get(i, 6).empty() ? 0 : r.Get(i, 6)[0];
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> RevertIndexNames(PgConn* conn, uint32_t oid) {
  ASSIGN_OR_RETURN(auto r, conn->Query("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                       "WHERE i.indrelid = $1 ORDER BY 1", {std::to_string(oid)}));
  std::vector<std::string> out;
  for (int i = 0; i < r.Rows(); ++i) out.push_back(r.GetString(i, 0));
  return out;
}

}  // namespace

absl::Status Rewrite::PrepareReverseStream() {
  const auto& n = plan_.model.names;
  const std::string name = ReverseSlotName(n);
  RETURN_IF_ERROR(CreateStateTables(main_.get(), kRevertWindowsDdl));
  RETURN_IF_ERROR(main_->Query("INSERT INTO shadowcopy.revert_windows (run_id, schema_name, table_name, slot_name) "
                               "VALUES ($1, $2, $3, $4) ON CONFLICT (run_id) DO NOTHING",
                               {run_id_, n.schema, n.table, name}).status());
  // Publication before slot (a slot created first fails at the first change).
  RetryPolicy policy;
  RETURN_IF_ERROR(Retry(policy, "creating the reverse publication", [&]() -> absl::Status {
    auto st = main_->Exec(fmt::format("BEGIN; SET LOCAL lock_timeout = '{}ms'; CREATE PUBLICATION {} FOR TABLE {}; "
                                      "COMMIT", config_.lock_timeout.count(), QuoteIdent(name),
                                      QualifiedName(n.schema, n.shadow))).status();
    if (!st.ok()) main_->RollbackQuietly();
    return st;
  }, &stop_));
  created_rev_publication_ = true;
  // Creating a slot waits for every transaction with an xid open on the
  // server to end, as the forward run's slot did: without the preparing
  // session's lock_timeout, which would fail the run on a long transaction
  // anywhere on the server.
  RETURN_IF_ERROR(main_->Exec("SET lock_timeout = 0").status());
  auto slot = main_->Query("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", {name});
  RETURN_IF_ERROR(main_->Exec(fmt::format("SET lock_timeout = '{}ms'", config_.lock_timeout.count())).status());
  RETURN_IF_ERROR(slot.status());
  created_rev_slot_ = true;
  Log(LogLevel::kInfo, "created publication {} and replication slot {} (at {}) for the revert window", name, name,
      slot->Get(0, 0));
  return absl::OkStatus();
}

absl::Status Rewrite::RecordReverseStart(PgConn* locked) {
  if (!created_rev_slot_) return absl::OkStatus();
  return locked->Query("UPDATE shadowcopy.revert_windows SET start_lsn = pg_current_wal_insert_lsn(), "
                       "applied_lsn = pg_current_wal_insert_lsn(), until_at = now() + $2::interval, state = 'open', "
                       "updated_at = now() WHERE run_id = $1",
                       {run_id_, fmt::format("{} milliseconds", config_.revert_window.count())}).status();
}

absl::Status Rewrite::LoadReversePlan() {
  const auto& n = summary_.names;
  ASSIGN_OR_RETURN(auto r, main_->Query("SELECT to_regclass($1)::oid, to_regclass($2)::oid",
                                        {QualifiedName(n.schema, n.table), QualifiedName(n.schema, n.old_table)}));
  if (r.IsNull(0, 0) || r.IsNull(0, 1))
    return absl::FailedPreconditionError(fmt::format("the revert window needs both {} and {}",
                                                     QualifiedName(n.schema, n.table), QualifiedName(n.schema, n.old_table)));
  uint32_t new_oid = static_cast<uint32_t>(r.GetInt(0, 0)), old_oid = static_cast<uint32_t>(r.GetInt(0, 1));
  ASSIGN_OR_RETURN(auto new_cols, RevertColumnsOfTable(main_.get(), new_oid));
  ASSIGN_OR_RETURN(auto old_cols, RevertColumnsOfTable(main_.get(), old_oid));
  ASSIGN_OR_RETURN(auto key, main_->Query(
      "SELECT k.attnum FROM (SELECT * FROM pg_index WHERE indrelid = $1 AND indisunique AND indpred IS NULL "
      "AND indexprs IS NULL ORDER BY indisprimary DESC, indisreplident DESC, indexrelid LIMIT 1) i, "
      "unnest(i.indkey) WITH ORDINALITY k(attnum, ord) ORDER BY k.ord", {std::to_string(new_oid)}));
  std::vector<int> key_attnums;
  for (int i = 0; i < key.Rows(); ++i) key_attnums.push_back(static_cast<int>(key.GetInt(i, 0)));
  std::string retired = n.old_suffix.rfind("_old", 0) == 0 ? "_new" + n.old_suffix.substr(4) : "_new";
  ASSIGN_OR_RETURN(auto model, BuildReverseModel(new_cols, old_cols, key_attnums, new_oid, ReverseNames(n, retired)));
  ASSIGN_OR_RETURN(auto new_idx, RevertIndexNames(main_.get(), new_oid));
  ASSIGN_OR_RETURN(auto old_idx, RevertIndexNames(main_.get(), old_oid));
  rev_plan_ = ReversePlan(std::move(model), old_oid, new_idx, old_idx, n.old_suffix);
  return absl::OkStatus();
}

absl::Status Rewrite::RevertWindowPhase() {
  const auto& n = summary_.names;
  Phase("revert-window");
  summary_.revert_window = true;
  ASSIGN_OR_RETURN(auto w, main_->Query(
      "SELECT applied_lsn::text, greatest(extract(epoch FROM until_at - now()), 0)::float8, slot_name "
      "FROM shadowcopy.revert_windows WHERE run_id = $1 AND state = 'open'", {run_id_}));
  if (w.Rows() == 0) return absl::InternalError(fmt::format("run {} has no open revert window", run_id_));
  created_rev_slot_ = created_rev_publication_ = true;
  Lsn applied = ParseLsn(w.Get(0, 0)).value_or(0);
  auto until = Clock::now() + milliseconds(static_cast<int64_t>(std::stod(w.GetString(0, 1)) * 1000));
  RETURN_IF_ERROR(LoadReversePlan());
  RETURN_IF_ERROR(OpenReverseStream(applied));  // rewrite_revert_stream.cc
  Log(LogLevel::kInfo, "revert window open for {:.0f} s: writes to {} are replayed into {}; `shadowcopy ctl --socket {} "
      "revert` (or `shadowcopy revert --table {} --execute`) swaps it back", std::stod(w.GetString(0, 1)),
      QualifiedName(n.schema, n.table), QualifiedName(n.schema, n.old_table), config_.socket_path, n.table);
  Hook("revert-window-open", {{"SHADOWCOPY_REVERT_WINDOW_SECONDS", w.GetString(0, 1)}});
  absl::Status st;
  std::string outcome = "closed";
  int reconnects = 0;
  bool revert_again = false;  // a swap back cut short by a lost session
  for (;;) {
    if (stop_) {
      st = absl::CancelledError("interrupted during the revert window");
      break;
    }
    if (control_->abort_requested()) {
      st = absl::CancelledError("aborted by the operator during the revert window (the new table stays)");
      break;
    }
    if (revert_again || control_->revert_requested() || RevertWanted()) {
      st = SwapBack();
      // A restart or a lost session during the swap back (its catch-up,
      // verification or lock): reconnect, continue from the checkpoint and
      // ask again. A swap whose COMMIT's reply was lost had happened.
      if (!st.ok() && !reverted_ && (ReverseStreamLost(st) || (lock_ && !lock_->Healthy()))) {
        Log(LogLevel::kWarning, "revert: {}; the swap back is asked again once reconnected", st.message());
        st = ResumeReverseStream(st, &reconnects);
        if (st.ok()) {
          revert_again = true;
          continue;
        }
        if (st.code() == absl::StatusCode::kAlreadyExists) st = FinishCommittedSwapBack();
      }
      if (st.ok()) outcome = "reverted";
      break;
    }
    if (Clock::now() >= until) break;
    st = CheckReverseWal();
    if (!st.ok() && ReverseStreamLost(st)) st = ResumeReverseStream(st, &reconnects);
    if (!st.ok()) break;
    if (control_->replay_paused()) {
      std::this_thread::sleep_for(milliseconds(200));
    } else if (throttler_ && PaceReplay(throttler_->current())) {
      auto step_until = Clock::now() + milliseconds(200);
      st = PacedReplayStep(step_until);
    } else {
      st = ReplayAvailable(milliseconds(200));
      if (st.ok() && stream_->Queued() == 0) stream_->WaitQueued(milliseconds(100));
    }
    if (!st.ok() && ReverseStreamLost(st)) {
      st = ResumeReverseStream(st, &reconnects);  // a restart or a lost session: continue from the checkpoint
      if (st.ok()) continue;
      break;
    }
    if (!st.ok()) {
      st = absl::FailedPreconditionError(fmt::format(
          "the revert window stopped: a change to {} could not be written back into {} ({}); both tables are "
          "intact and {} keeps every write, but the old table no longer follows it", QualifiedName(n.schema, n.table),
          QualifiedName(n.schema, n.old_table), st.message(), QualifiedName(n.schema, n.table)));
      break;
    }
    MaybeReportProgress(false);
  }
  summary_.reverse_changes = ReverseChanges();
  if (!st.ok()) outcome = fmt::format("failed: {}", st.message());
  if (!main_ || !main_->Healthy()) (void)Connect();
  if (!main_) return st;  // the cleanup after the failure drops the reverse stream
  std::vector<std::string> removed;
  absl::Status dropped = DropReverseStream(&removed);
  for (const auto& r : removed) Log(LogLevel::kInfo, "removed {}", r);
  (void)main_->Query("UPDATE shadowcopy.revert_windows SET state = 'closed', outcome = $2, updated_at = now() "
                     "WHERE run_id = $1", {run_id_, outcome});
  if (outcome == "reverted") Hook("reverted", {{"SHADOWCOPY_REVERT_REASON", summary_.revert_reason}});
  Hook("revert-window-closed", {{"SHADOWCOPY_REVERT_OUTCOME", outcome}});
  if (st.ok() && outcome == "closed")
    Log(LogLevel::kInfo, "revert window closed after replaying {} changes into {}", summary_.reverse_changes,
        QualifiedName(n.schema, n.old_table));
  if (st.ok() && reverted_ && !summary_.revert_reason.empty())
    return absl::AbortedError(fmt::format("health check failed: {}; reverted: {} has its old definition and every "
                                          "write", summary_.revert_reason, QualifiedName(n.schema, n.table)));
  return st.ok() ? dropped : st;
}

absl::Status Rewrite::CheckReverseWal() {
  auto now = Clock::now();
  if (now - last_wal_check_ < std::chrono::seconds(5)) return absl::OkStatus();
  last_wal_check_ = now;
  const auto& slot = rev_plan_.model.names.slot;
  ASSIGN_OR_RETURN(auto r, main_->Query("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, wal_status "
                                        "FROM pg_replication_slots WHERE slot_name = $1", {slot}));
  if (r.Rows() == 0 || r.Get(0, 1) == "lost")
    return absl::DataLossError(fmt::format("replication slot {} is gone: the revert window ends", slot));
  int64_t retained = r.IsNull(0, 0) ? 0 : r.GetInt(0, 0);
  if (retained > config_.max_retained_wal)
    return absl::ResourceExhaustedError(fmt::format(
        "replication slot {} retains {} of WAL, over --max-retained-wal: the revert window ends", slot,
        throttler::FormatBytes(retained)));
  return absl::OkStatus();
}

absl::Status Rewrite::SwapBack() {
  Phase("revert");
  ConnectOptions co;
  co.dsn = config_.dsn;
  co.application_name = "shadowcopy_revert";
  ASSIGN_OR_RETURN(auto lock, PgConn::Connect(co));
  {
    std::lock_guard<std::mutex> guard(conns_mu_);
    lock_ = std::move(lock);
  }
  RETURN_IF_ERROR(CatchUp(milliseconds(10000)));
  RETURN_IF_ERROR(VerifyBeforeSwapBack());
  Phase("revert");
  RetryPolicy policy;
  policy.initial_backoff = milliseconds(200);
  policy.max_backoff = milliseconds(3000);
  for (int attempt = 1; attempt <= config_.cutover_retries; ++attempt) {
    RETURN_IF_ERROR(CheckStop());
    ASSIGN_OR_RETURN(bool done, TrySwapBack(attempt));
    summary_.revert_blocked_ms = revert_blocked_.total_ms;
    if (done) return absl::OkStatus();
    auto until = Clock::now() + Backoff(policy, attempt);
    while (Clock::now() < until) RETURN_IF_ERROR(CatchUp(milliseconds(100)));
  }
  return absl::UnavailableError(fmt::format("revert: could not lock {} within {} ms in {} attempts",
                                            summary_.names.table, config_.cutover_lock_timeout.count(),
                                            config_.cutover_retries));
}

// The swap back committed, its reply lost with the session: done, but for
// the statements after it (sequence ownership, ...), run now on the new
// session.
absl::Status Rewrite::FinishCommittedSwapBack() {
  const auto& m = rev_plan_.model;
  reverted_ = true;
  summary_.reverted = true;
  Log(LogLevel::kInfo, "revert done: the swap back had committed before the connection was lost; {} has its old "
      "definition back", QualifiedName(m.names.schema, m.names.table));
  RunAfterSwapBack(main_.get());
  return absl::OkStatus();
}

void Rewrite::RunAfterSwapBack(PgConn* conn) {
  for (const auto& stmt : rev_after_swap_) {
    RetryPolicy policy;
    auto done = Retry(policy, "after the revert", [&]() -> absl::Status {
      return conn->Exec(fmt::format("SET lock_timeout = '{}ms'; {}", config_.cutover_lock_timeout.count(), stmt))
          .status();
    }, nullptr);
    if (!done.ok()) Log(LogLevel::kWarning, "after the revert, `{}` failed: {}", stmt, done.message());
  }
}

absl::StatusOr<bool> Rewrite::TrySwapBack(int attempt) {
  const auto& m = rev_plan_.model;
  if (ShouldPause(config_.test, "revert-attempt", attempt)) RETURN_IF_ERROR(PauseHere(config_.test, nullptr, stop_));
  const std::string table = QualifiedName(m.names.schema, m.names.table);
  // Replayed up to a fence first, so that the drain under the lock is left
  // with the last moments' writes only; and never into the queue behind
  // another session (rewrite_lock_wait.cc).
  ASSIGN_OR_RETURN(bool fenced, PreFence("revert"));
  if (!fenced) return false;
  ASSIGN_OR_RETURN(bool quiet, AwaitQuietTable(lock_.get(), m.oid, table, LockMode::kAccessExclusive, "revert",
                                               Clock::now() + config_.cutover_lock_timeout, /*replay=*/true));
  if (!quiet) return false;
  RETURN_IF_ERROR(lock_->Exec("BEGIN").status());
  RETURN_IF_ERROR(lock_->Exec(ShortLockTimeoutSql()).status());
  RETURN_IF_ERROR(LoseLockCycles(lock_.get()));
  BlockedSpan blocking(&revert_blocked_);
  auto locked = lock_->Exec(fmt::format("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", table));
  if (!locked.ok()) {
    lock_->RollbackQuietly();
    if (IsRetryable(locked.status())) return false;
    return locked.status();
  }
  auto lock_time = Clock::now();
  // The fence, as at the cutover: once applied, the old table holds every
  // write committed before the lock.
  ASSIGN_OR_RETURN(bool drained, DrainFenceUnderLock("revert", attempt, fmt::format("{}/revert-{}", run_id_, attempt),
                                                     lock_time));
  if (!drained) return false;
  auto swap = [&]() -> absl::Status {
    RETURN_IF_ERROR(lock_->Exec(SwapLockTimeoutSql()).status());
    ASSIGN_OR_RETURN(auto catalog, ReadSwapCatalog(lock_.get(), rev_plan_));
    auto statements = BuildSwapStatements(rev_plan_, catalog);
    for (const auto& stmt : statements.in_lock) RETURN_IF_ERROR(lock_->Exec(stmt).status());
    rev_after_swap_ = std::move(statements.after_commit);
    RETURN_IF_ERROR(lock_->Query("UPDATE shadowcopy.revert_windows SET state = 'reverted', updated_at = now() "
                                 "WHERE run_id = $1", {run_id_}).status());
    return lock_->Exec("COMMIT").status();
  };
  absl::Status st = swap();
  if (!st.ok()) {
    lock_->RollbackQuietly();
    if (IsRetryable(st)) {
      Log(LogLevel::kInfo, "revert attempt {}: swap rolled back ({}); retrying", attempt, st.message());
      return false;
    }
    return Annotate(st, "revert swap (rolled back; the new table is unchanged)");
  }
  reverted_ = true;
  summary_.reverted = true;
  double held = blocking.End(/*ok=*/true);
  summary_.revert_blocked_ms = revert_blocked_.total_ms;
  Log(LogLevel::kInfo, "revert done: {} has its old definition back; writers were blocked for {:.1f} ms ({:.1f} ms "
      "by this attempt); the new table is kept as {}", table, revert_blocked_.total_ms, held,
      QualifiedName(m.names.schema, m.names.old_table));
  RunAfterSwapBack(lock_.get());
  return true;
}

absl::Status Rewrite::DropReverseStream(std::vector<std::string>* removed) {
  if (!created_rev_slot_ && !created_rev_publication_) return absl::OkStatus();
  const std::string name = ReverseSlotName(summary_.names);
  if (stream_) stream_->Stop();
  absl::Status first;
  if (created_rev_slot_) {
    RetryPolicy policy;
    policy.initial_backoff = milliseconds(50);
    policy.attempts = 20;
    auto st = Retry(policy, "dropping the reverse replication slot", [&]() -> absl::Status {
      auto r = main_->Query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                            "WHERE slot_name = $1", {name});
      if (!r.ok() && SqlStateOf(r.status()) == "55006") return absl::UnavailableError(r.status().message());
      return r.status();
    }, nullptr);
    if (st.ok()) {
      created_rev_slot_ = false;
      removed->push_back(fmt::format("replication slot {}", name));
    } else {
      first = st;
    }
  }
  if (created_rev_publication_) {
    auto st = main_->Exec(fmt::format("DROP PUBLICATION IF EXISTS {}", QuoteIdent(name))).status();
    if (st.ok()) {
      created_rev_publication_ = false;
      removed->push_back(fmt::format("publication {}", name));
    } else if (first.ok()) {
      first = st;
    }
  }
  return first;
}

}  // namespace shadowcopy::engine
