// The rewrite's verification phase: shadow vs. original, key range by key
// range, at consistency points, with repair of the ranges that differ.
//
// Consistency point (why it is correct): with SHARE on the original, no
// writer is in flight and none can commit (readers go on). A transactional
// logical message committed then is decoded after every change committed
// before the lock; once the applier (this thread) has applied it, the shadow
// holds all of them. A snapshot exported now, while no replay runs and no
// writer can commit, sees both tables at one instant; it is checked against
// the visibility rule (it must see every transaction applied). The lock is
// released at once; the workers import the snapshot, while this thread goes
// on replaying (the snapshot does not see it). The exporting transaction is
// not the lock-holding one: it must live until every worker imported the
// snapshot, the lock must not.
//
// Thread-safety: the rewrite thread.
#include <algorithm>
#include <map>
#include <thread>

#include "common/log.h"
#include "common/quote.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/rewrite/lock_gate.h"
#include "engine/rewrite/rewrite.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

absl::Status Rewrite::VerifyIfWanted(bool before_cutover) {
  const uint64_t requested = control_->verify_requested();
  const bool wanted = before_cutover && config_.verify && !summary_.verified;
  if (!wanted && requested <= verify_answered_) return absl::OkStatus();
  const Summary before = summary_;
  summary_.verify_blocked_ms = 0;
  absl::Status st = RunVerification();
  const int64_t found = summary_.verify_mismatches - before.verify_mismatches;
  std::string text;
  if (st.ok())
    text = fmt::format("verified {}: {} ranges, {} rows, {}; writers blocked {:.1f} ms at most",
                       QualifiedName(plan_.model.names.schema, plan_.model.names.table),
                       summary_.verify_ranges - before.verify_ranges, summary_.verify_rows - before.verify_rows,
                       found == 0 ? std::string("no mismatch")
                                  : fmt::format("{} mismatches found and repaired", found),
                       summary_.verify_blocked_ms);
  else
    text = std::string(st.message());
  summary_.verify_blocked_ms = std::max(summary_.verify_blocked_ms, before.verify_blocked_ms);
  control_->VerifyCompleted(requested, st.ok(), text);
  verify_answered_ = requested;
  // An on-demand verification that could not run (its lock not granted in
  // time, a lock wait) is answered as failed; the postponed rewrite goes
  // on. A mismatch it cannot repair, or a lost session, still stops the run.
  if (!before_cutover && !st.ok() && IsRetryable(st) && main_->Healthy() && apply_->Healthy() &&
      copy_->Healthy()) {
    Log(LogLevel::kWarning, "verify: {}; the migration stays postponed", st.message());
    return absl::OkStatus();
  }
  return st;
}

absl::Status Rewrite::OpenVerifySessions() {
  if (verifier_) return absl::OkStatus();
  const auto& m = plan_.model;
  ConnectOptions co;
  co.dsn = config_.dsn;
  co.application_name = "shadowcopy_verify";
  ASSIGN_OR_RETURN(auto vlock, PgConn::Connect(co));
  ASSIGN_OR_RETURN(auto vexport, PgConn::Connect(co));
  // The shadow's key orders rows as the original's only with the same types
  // (or integers widened or narrowed) and the same collations; otherwise its
  // side cannot be cut by the original's key ranges and the table is one range.
  ASSIGN_OR_RETURN(auto coll, main_->Exec(vsql::KeyCollationsSql(m, plan_.shadow_oid)));
  bool same_collations = coll.Rows() == static_cast<int>(m.key_columns.size());
  for (int i = 0; i < coll.Rows(); ++i) same_collations &= coll.Get(i, 0) == coll.Get(i, 1);
  verify_order_preserved_ = vsql::KeyRangesComparable(m) && same_collations;
  std::vector<const std::optional<std::string>*> names;
  std::vector<std::optional<std::string>> kept;
  for (const auto& c : m.columns)
    if (c.kept) kept.emplace_back(c.target_name);
  for (const auto& k : kept) names.push_back(&k);
  ASSIGN_OR_RETURN(auto unmapped, main_->Query(vsql::UnmappedColumnsSql(),
                                               {std::to_string(plan_.shadow_oid), sql::TextArrayLiteral(names)}));
  summary_.verify_not_compared.clear();
  for (int i = 0; i < unmapped.Rows(); ++i) summary_.verify_not_compared.push_back(QuoteIdent(unmapped.Get(i, 0)));
  if (!summary_.verify_not_compared.empty())
    Log(LogLevel::kInfo, "{}", NotComparedText(verify_wording_, Join(summary_.verify_not_compared)));
  auto verifier = std::make_unique<Verifier>(co, &plan_.model, config_.verify_workers, verify_order_preserved_);
  RETURN_IF_ERROR(verifier->Connect());
  std::lock_guard<std::mutex> guard(conns_mu_);
  vlock_ = std::move(vlock);
  vexport_ = std::move(vexport);
  verifier_ = std::move(verifier);
  return absl::OkStatus();
}

// Where the copy ran from the start in batches of at most
// --verify-range-rows rows, its batches' boundaries already cut the key
// space (no scan of the key index); else PlanRangesOf (a larger batch would
// make a range larger than asked).
absl::StatusOr<std::vector<vsql::KeyRange>> Rewrite::PlanVerifyRanges() {
  auto ends = copier_ ? copier_->batch_ends() : std::nullopt;
  if (!verify_order_preserved_ || !ends) return PlanRangesOf(plan_.model);
  std::vector<std::pair<std::vector<std::string>, int64_t>> batches;
  int64_t listed = 0;
  for (auto& e : *ends) {
    if (e.rows > config_.verify_range_rows) return PlanRangesOf(plan_.model);
    listed += e.rows;
    batches.emplace_back(std::move(e.upper), e.rows);
  }
  // The last batch, open above, is not listed.
  if (summary_.rows_copied - listed > config_.verify_range_rows) return PlanRangesOf(plan_.model);
  return vsql::PlanRanges(vsql::BoundariesFromBatches(batches, config_.verify_range_rows));
}

// Cuts the original's key space every verify_range_rows keys, as the copy
// cuts its batches. The boundaries need no snapshot: any sorted keys
// partition the key space, and both sides are filtered by the same ranges.
absl::StatusOr<std::vector<vsql::KeyRange>> Rewrite::PlanRangesOf(const TableModel& model) {
  std::vector<std::vector<std::string>> boundaries;
  if (verify_order_preserved_) {
    std::optional<std::vector<std::string>> lower;
    for (;;) {
      RETURN_IF_ERROR(CheckStop());
      PgParams params;
      if (lower) params.insert(params.end(), lower->begin(), lower->end());
      params.push_back(std::to_string(config_.verify_range_rows - 1));
      ASSIGN_OR_RETURN(auto r, main_->Query(sql::CopyBoundarySql(model, lower.has_value()), params));
      if (r.Rows() == 0) break;
      std::vector<std::string> key;
      for (int i = 0; i < r.Cols(); ++i) key.push_back(r.GetString(0, i));
      boundaries.push_back(key);
      lower = std::move(key);
      if (!swapped_) RETURN_IF_ERROR(ReplayAvailable(milliseconds(20)));
    }
  }
  return vsql::PlanRanges(boundaries);
}

absl::Status Rewrite::RunVerification() {
  verify_state_ = "running";
  verify_total_ = 0;
  verify_done_base_ = verifier_ ? verifier_->ranges_done() : 0;
  Phase("verify");
  auto started = Clock::now();
  RETURN_IF_ERROR(OpenVerifySessions());
  const double sessions_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  ASSIGN_OR_RETURN(auto ranges, PlanVerifyRanges());
  Log(LogLevel::kDebug, "verify: sessions opened in {:.1f} ms, ranges planned in {:.1f} ms", sessions_ms,
      std::chrono::duration<double, std::milli>(Clock::now() - started).count() - sessions_ms);
  verify_total_ = static_cast<int64_t>(ranges.size());
  verify_done_base_ = verifier_->ranges_done();
  PublishProgress(phase_);
  Log(LogLevel::kInfo, "verify: {} key ranges of up to {} rows, {} workers{}", ranges.size(),
      config_.verify_range_rows, config_.verify_workers,
      verify_order_preserved_ ? "" : OneRangeNote(verify_wording_));
  std::vector<size_t> pending(ranges.size());
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  std::map<size_t, int> mismatches;
  while (!pending.empty()) {
    RETURN_IF_ERROR(CheckStop());
    RETURN_IF_ERROR(CatchUpToWalEnd());
    std::vector<vsql::KeyRange> jobs;
    for (size_t i : pending) jobs.push_back(ranges[i]);
    const std::string& corrupt = config_.test.corrupt;
    bool inject = corrupt == "always" || (corrupt == "once" && !verify_corrupted_);
    // The consistency point blocks writers for a moment: not while a
    // throttle signal is over its limit or the operator paused.
    RETURN_IF_ERROR(WaitWhileThrottled());
    ASSIGN_OR_RETURN(std::string snapshot, TakeConsistencyPoint(inject ? &jobs[0] : nullptr));
    verifier_->SetThrottled(throttler_->current().throttled);  // before any worker takes a range
    verifier_->SetNiceRatio(control_->NiceRatio());
    verifier_->Begin(snapshot, jobs, Clock::now() + config_.verify_max_snapshot_age);
    absl::Status waited = WaitForVerifyPass();
    if (!waited.ok()) verifier_->Cancel();
    PassOutcome out = verifier_->Finish();
    vexport_->RollbackQuietly();  // the snapshot is no longer needed
    verifier_->SetThrottled(false);
    RETURN_IF_ERROR(waited);
    RETURN_IF_ERROR(Annotate(out.status, "verify"));
    std::vector<size_t> next;
    for (size_t j : out.not_started) next.push_back(pending[j]);
    std::sort(out.done.begin(), out.done.end(),
              [](const RangeOutcome& a, const RangeOutcome& b) { return a.index < b.index; });
    for (const auto& r : out.done) {
      summary_.verify_ranges++;
      summary_.verify_rows += r.original_rows;
      if (r.match) continue;
      const size_t idx = pending[r.index];
      const int n = ++mismatches[idx];
      summary_.verify_mismatches++;
      std::string where = vsql::DescribeRange(plan_.model, ranges[idx]);
      Log(LogLevel::kWarning, "{}", RangeDiffersText(verify_wording_, where, n, config_.verify_max_mismatches,
                                                     r.original_rows, r.shadow_rows, r.differing));
      if (n >= config_.verify_max_mismatches || !verify_may_repair_)
        return absl::DataLossError(RangeStillDiffersText(
            verify_wording_, where, QualifiedName(plan_.model.names.schema, plan_.model.names.table), n - 1,
            r.original_rows, r.shadow_rows, r.differing));
      RETURN_IF_ERROR(RepairRange(ranges[idx]));
      summary_.verify_repaired++;
      verify_total_++;
      next.push_back(idx);
    }
    std::sort(next.begin(), next.end());
    pending = std::move(next);
    if (!pending.empty())
      Log(LogLevel::kInfo, "verify: {} ranges left for a new consistency point", pending.size());
  }
  summary_.verified = true;
  summary_.verify_s += std::chrono::duration<double>(Clock::now() - started).count();
  verify_state_ = "clean";
  Log(LogLevel::kInfo, "verify: clean: {} ranges, {} mismatches found and {} repaired over the run ({:.1f} s)",
      ranges.size(), summary_.verify_mismatches, summary_.verify_repaired,
      std::chrono::duration<double>(Clock::now() - started).count());
  PublishProgress(phase_);
  return absl::OkStatus();
}

// The checks of every waiting step of the verification, then the
// throttler's decision.
absl::StatusOr<throttler::Decision> Rewrite::VerifyCheckAndDecide() {
  RETURN_IF_ERROR(CheckStop());
  if (control_->abort_requested()) return absl::CancelledError("aborted by the operator");
  RETURN_IF_ERROR(stream_->status());
  RETURN_IF_ERROR(CheckRetainedWal());
  throttler::Decision d = throttler_->current();
  if (d.abort) return absl::AbortedError(fmt::format("stopping the migration: {}", d.reason));
  return d;
}

// One step of waiting: replays what arrived (unless the operator paused the
// replay), rests a moment when there was nothing, publishes progress.
absl::Status Rewrite::VerifyReplayStep(milliseconds rest) {
  if (!control_->replay_paused()) RETURN_IF_ERROR(ReplayAvailable(milliseconds(100)));
  if (control_->replay_paused() || stream_->Queued() == 0) std::this_thread::sleep_for(rest);
  PublishProgress(phase_);
  MaybeReportProgress(false);
  return absl::OkStatus();
}

// Replays until the throttler lets heavy work go on.
absl::Status Rewrite::WaitWhileThrottled() {
  for (;;) {
    ASSIGN_OR_RETURN(throttler::Decision d, VerifyCheckAndDecide());
    if (!d.throttled && !control_->paused()) return absl::OkStatus();
    if (d.reason != last_throttle_reason_) {
      Log(LogLevel::kInfo, "verify: {}", d.reason.empty() ? "paused by the operator" : d.reason);
      last_throttle_reason_ = d.reason;
    }
    RETURN_IF_ERROR(VerifyReplayStep(milliseconds(20)));
  }
}

// Replays, and passes the throttler's decision to the workers, until they
// have finished the pass.
absl::Status Rewrite::WaitForVerifyPass() {
  while (!verifier_->Done()) {
    ASSIGN_OR_RETURN(throttler::Decision d, VerifyCheckAndDecide());
    if (d.reason != last_throttle_reason_) {
      Log(LogLevel::kInfo, "verify: {}", d.reason.empty() ? "resumed: no throttle signal over its limit" : d.reason);
      last_throttle_reason_ = d.reason;
    }
    verifier_->SetThrottled(d.throttled);
    verifier_->SetNiceRatio(control_->NiceRatio());
    RETURN_IF_ERROR(VerifyReplayStep(milliseconds(10)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Rewrite::TakeConsistencyPoint(const vsql::KeyRange* corrupt) {
  RetryPolicy policy;
  policy.initial_backoff = milliseconds(200);
  policy.max_backoff = milliseconds(3000);
  for (int attempt = 1; attempt <= config_.cutover_retries; ++attempt) {
    RETURN_IF_ERROR(CheckStop());
    if (attempt > 1) RETURN_IF_ERROR(CatchUpToWalEnd());
    const double total_before = verify_blocked_.total_ms;
    auto snapshot = TryConsistencyPoint(attempt, corrupt);
    // Every attempt that queued counts, the failed ones included.
    const double blocked = verify_blocked_.total_ms - total_before;
    summary_.verify_blocked_ms = std::max(summary_.verify_blocked_ms, blocked);
    summary_.verify_blocked_total_ms += blocked;
    summary_.verify_point_failures = verify_blocked_.failed;
    if (!snapshot.ok()) return snapshot.status();
    if (*snapshot) {
      Log(LogLevel::kInfo, "verify: consistency point taken: writers were blocked for {:.1f} ms ({:.1f} ms over "
          "this verification's attempts)", blocked, summary_.verify_blocked_total_ms);
      return **snapshot;
    }
    auto until = Clock::now() + Backoff(policy, attempt);
    while (Clock::now() < until) RETURN_IF_ERROR(CatchUp(milliseconds(100)));
  }
  return absl::UnavailableError(fmt::format(
      "verify: could not lock the table within {} ms in {} attempts (long transactions on it?)",
      config_.cutover_lock_timeout.count(), config_.cutover_retries));
}

// One attempt: nullopt (after rolling back) when the lock, the fence drain or
// a visible snapshot did not fit the time limits.
absl::StatusOr<std::optional<std::string>> Rewrite::TryConsistencyPoint(int attempt,
                                                                          const vsql::KeyRange* corrupt) {
  const auto& n = plan_.model.names;
  // The replay close behind and nobody to queue behind: under the lock only
  // a short tail is left to drain (rewrite_lock_wait.cc).
  ASSIGN_OR_RETURN(bool ready, PrepareLockRequest(vlock_.get(), LockMode::kShare, "verify", attempt));
  if (!ready) return std::optional<std::string>();
  RETURN_IF_ERROR(vlock_->Exec("BEGIN").status());
  RETURN_IF_ERROR(vlock_->Exec(ShortLockTimeoutSql()).status());
  // SHARE: conflicts with every writer (ROW EXCLUSIVE), not with readers.
  // ONLY: an inheritance parent's children are not ours to block.
  BlockedSpan blocking(&verify_blocked_);  // until released, whatever the outcome
  // Writers queue behind the request from now on: the attempt's budget
  // (its wait for the lock, then the drain and the snapshot under it) is
  // counted from here, so that one attempt blocks them for at most the
  // budget, a little longer at each attempt.
  const auto requested = Clock::now();
  auto locked = vlock_->Exec(fmt::format("LOCK TABLE ONLY {} IN SHARE MODE", QualifiedName(n.schema, n.table)));
  if (!locked.ok()) {
    vlock_->RollbackQuietly();
    if (!IsRetryable(locked.status())) return locked.status();
    Log(LogLevel::kInfo, "verify: consistency point attempt {}: {}", attempt, locked.status().message());
    return std::optional<std::string>();
  }
  auto deadline = requested + LockedDrainBudget(attempt);
  auto give_up = [&](std::string_view why) {
    vexport_->RollbackQuietly();
    vlock_->RollbackQuietly();
    Log(LogLevel::kInfo, "verify: consistency point attempt {}: {}; retrying", attempt, why);
    return std::optional<std::string>();
  };
  std::string fence = fmt::format("{}/verify-{}", run_id_, ++verify_fences_);
  ASSIGN_OR_RETURN(bool drained, DrainFenceUnderLock("verify: consistency point", attempt, fence, requested,
                                                     vlock_.get()));
  if (!drained) return std::optional<std::string>();
  if (corrupt) {
    if (auto st = CorruptForTest(*corrupt); !st.ok()) {
      vlock_->RollbackQuietly();
      return st;
    }
  }
  auto snapshot = ExportVisibleSnapshot(deadline);
  if (!snapshot.ok()) {
    vexport_->RollbackQuietly();
    vlock_->RollbackQuietly();
    return snapshot.status();
  }
  if (!*snapshot) return give_up("a replayed transaction was not visible in time");
  RETURN_IF_ERROR(vlock_->Exec("ROLLBACK").status());
  blocking.End(/*ok=*/true);
  summary_.verify_points++;
  return snapshot;
}

// On the exporting session: a REPEATABLE READ snapshot that sees every
// transaction the applier applied (the visibility rule), exported for the
// workers. nullopt when none did by `deadline`.
absl::StatusOr<std::optional<std::string>> Rewrite::ExportVisibleSnapshot(Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    RETURN_IF_ERROR(CheckStop());
    RETURN_IF_ERROR(vexport_->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ").status());
    ASSIGN_OR_RETURN(auto r, vexport_->Exec("SELECT pg_export_snapshot(), pg_current_snapshot()::text"));
    ASSIGN_OR_RETURN(auto snap, ParseSnapshot(r.Get(0, 1)));
    if (visibility_.CheckAndClear(snap)) return std::optional<std::string>(r.GetString(0, 0));
    vexport_->RollbackQuietly();
    std::this_thread::sleep_for(milliseconds(2));
  }
  return std::optional<std::string>();
}

// Re-copies one range in one transaction, as a copy batch does: on this
// thread (no replay while it is open: the ordering rule) and under a snapshot
// that sees every applied transaction (the visibility rule). Changes
// committed after that snapshot are replayed after the commit.
absl::Status Rewrite::RepairRange(const vsql::KeyRange& range) {
  const auto& m = plan_.model;
  const bool lo = range.lower.has_value(), hi = range.upper.has_value();
  PgParams params = vsql::RangeParams(range);
  uint64_t waits = 0;
  auto started = Clock::now();
  auto run = [&]() -> absl::StatusOr<std::pair<int64_t, int64_t>> {
    RETURN_IF_ERROR(BeginVisibleTransaction(copy_.get(), &visibility_, &stop_, &waits));
    // As a copy batch: never queue for the original's lock (a DDL holding or
    // awaiting it would make the application queue behind us).
    RETURN_IF_ERROR(copy_->Exec(fmt::format("LOCK TABLE ONLY {} IN ACCESS SHARE MODE NOWAIT",
                                            QualifiedName(m.names.schema, m.names.table)))
                        .status());
    ASSIGN_OR_RETURN(auto del, copy_->Query(vsql::RepairDeleteSql(m, lo, hi, verify_order_preserved_), params));
    ASSIGN_OR_RETURN(auto ins, copy_->Query(sql::CopyBatchSql(m, lo, hi, /*on_conflict=*/false), params));
    RETURN_IF_ERROR(copy_->Exec("COMMIT").status());
    return std::make_pair(del.Affected(), ins.Affected());
  };
  RetryPolicy backoff;
  backoff.initial_backoff = milliseconds(100);
  backoff.max_backoff = milliseconds(2000);
  auto done = run();
  for (int attempt = 1; !done.ok() && SqlStateOf(done.status()) == "55P03" && attempt < 60; ++attempt) {
    copy_->RollbackQuietly();
    RETURN_IF_ERROR(CheckStop());
    // Replay while waiting: nothing of the repair is open.
    auto until = Clock::now() + Backoff(backoff, attempt);
    while (Clock::now() < until) {
      RETURN_IF_ERROR(CatchUp(milliseconds(100)));
      std::this_thread::sleep_for(milliseconds(20));
    }
    done = run();
  }
  if (!done.ok()) {
    copy_->RollbackQuietly();
    return Annotate(done.status(), fmt::format("verify: repairing range {}", vsql::DescribeRange(m, range)));
  }
  Log(LogLevel::kInfo, "{}", RangeRepairedText(verify_wording_, vsql::DescribeRange(m, range), done->first,
                                               done->second, MsSince(started)));
  return absl::OkStatus();
}

// Test-only: alters a row of the shadow under the consistency point's lock,
// so that nothing can replay over it before the snapshot is taken.
absl::Status Rewrite::CorruptForTest(const vsql::KeyRange& range) {
  verify_corrupted_ = true;
  const bool lo = range.lower.has_value(), hi = range.upper.has_value();
  ASSIGN_OR_RETURN(auto r, apply_->Query(vsql::CorruptRowSql(plan_.model, lo, hi, verify_order_preserved_),
                                         vsql::RangeParams(range)));
  Log(LogLevel::kWarning, "test hook: corrupted {} row(s) of {} in range {}", r.Affected(),
      CorruptedTableText(verify_wording_), vsql::DescribeRange(plan_.model, range));
  return absl::OkStatus();
}

void Rewrite::VerifyAfterCutover() {
  Phase("verify-after");
  auto started = Clock::now();
  const auto& n = plan_.model.names;
  // The old table is the original, the new one the former shadow: the same
  // mapping between them, under the names they have now.
  after_model_ = plan_.model;
  after_model_.names.table = n.old_table;
  after_model_.names.shadow = n.table;
  auto run = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto ranges, PlanRangesOf(after_model_));
    ConnectOptions co;
    co.dsn = config_.dsn;
    Verifier after(co, &after_model_, config_.verify_workers, verify_order_preserved_);
    RETURN_IF_ERROR(after.Connect());
    after.Begin(after_snapshot_, ranges, Clock::now() + config_.verify_max_snapshot_age);
    while (!after.Done()) {
      if (stop_) after.Cancel();
      std::this_thread::sleep_for(milliseconds(20));
    }
    PassOutcome out = after.Finish();
    RETURN_IF_ERROR(out.status);
    for (const auto& r : out.done) {
      summary_.verify_after_ranges++;
      if (r.match) continue;
      summary_.verify_after_mismatches++;
      Log(LogLevel::kWarning, "verify after the cutover: range {} differs: {} rows in {}, {} in {}; first differing "
          "keys: {}", vsql::DescribeRange(plan_.model, ranges[r.index]), r.original_rows,
          QualifiedName(n.schema, n.old_table), r.shadow_rows, QualifiedName(n.schema, n.table), Join(r.differing));
    }
    if (!out.not_started.empty())
      Log(LogLevel::kWarning, "verify after the cutover: {} ranges not compared (the snapshot reached "
          "--verify-max-snapshot-age)", out.not_started.size());
    return absl::OkStatus();
  };
  absl::Status st = run();
  vexport_->RollbackQuietly();
  summary_.verify_after_s = std::chrono::duration<double>(Clock::now() - started).count();
  if (!st.ok()) {
    Log(LogLevel::kWarning, "verify after the cutover could not finish: {}", st.message());
    return;
  }
  summary_.verified_after = true;
  Log(summary_.verify_after_mismatches ? LogLevel::kWarning : LogLevel::kInfo,
      "verify after the cutover: {} ranges, {} differ ({:.1f} s; report only, nothing was changed)",
      summary_.verify_after_ranges, summary_.verify_after_mismatches, summary_.verify_after_s);
}

}  // namespace shadowcopy::engine
