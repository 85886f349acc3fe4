#include "engine/backfill/backfill.h"

#include <charconv>
#include <cstdio>
#include <random>
#include <thread>

#include "common/log.h"
#include "common/quote.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/backfill/backfill_plan.h"
#include "engine/control/run_throttler.h"
#include "engine/control/test_hooks.h"
#include "engine/table/run_lock.h"
#include "fmt/format.h"
#include "throttler/pacing.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The key model the shared range predicates are built from: the table's own
// columns, the key's columns in key order.
TableModel ModelFor(const Inspection& in) {
  TableModel m;
  m.oid = in.oid;
  m.names = in.names;
  m.source_columns = in.columns;
  m.estimated_rows = in.estimated_rows;
  for (const auto& c : in.columns) {
    MappedColumn mc;
    mc.source_name = mc.target_name = c.name;
    mc.source_type = mc.target_type = c.type;
    mc.kept = true;
    m.columns.push_back(mc);
  }
  for (size_t k = 0; k < in.key_names.size(); ++k)
    for (size_t i = 0; i < m.columns.size(); ++i)
      if (m.columns[i].source_name == in.key_names[k]) {
        m.columns[i].key_position = static_cast<int>(k);
        m.key_columns.push_back(static_cast<int>(i));
      }
  return m;
}

std::optional<int64_t> AsInt(const std::string& s) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Backfill::Backfill(Config config)
    : config_(std::move(config)), control_(std::make_unique<Control>(config_.control, ControlKind::kBackfill)) {
  control_->SetAbortHandler([this] { RequestStop(); });
  spec_.delete_rows = config_.backfill.delete_rows;
  spec_.set = config_.backfill.set;
  spec_.where = config_.backfill.where;
  summary_.delete_rows = spec_.delete_rows;
}

Backfill::~Backfill() {
  if (throttler_) throttler_->Stop();
  // Release the table's advisory lock before the process exits: the server
  // ends a closed session asynchronously, and a run started right after this
  // one must not find the table still taken.
  if (conn_ && conn_->Healthy()) (void)conn_->Exec("SELECT pg_advisory_unlock_all()");
}

void Backfill::RequestStop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(conn_mu_);
  if (conn_) conn_->Cancel();
}

void Backfill::SleepFor(milliseconds d) const {
  auto until = Clock::now() + d;
  while (!stop_ && Clock::now() < until)
    std::this_thread::sleep_for(std::min<Clock::duration>(milliseconds(20), until - Clock::now()));
}

absl::Status Backfill::Connect() {
  ConnectOptions co;
  co.dsn = config_.dsn;
  co.application_name = "shadowcopy_backfill";
  ASSIGN_OR_RETURN(auto conn, PgConn::Connect(co));
  std::lock_guard<std::mutex> lock(conn_mu_);
  conn_ = std::move(conn);
  return absl::OkStatus();
}

absl::StatusOr<BackfillSummary> Backfill::RunSteps() {
  started_ = Clock::now();
  summary_.dry_run = !config_.execute;
  RETURN_IF_ERROR(backfill_sql::CheckExpression(spec_.where, backfill_sql::ExpressionKind::kWhere));
  if (!spec_.delete_rows)
    RETURN_IF_ERROR(backfill_sql::CheckExpression(spec_.set, backfill_sql::ExpressionKind::kSet));
  RETURN_IF_ERROR(Connect());
  Hook("startup");
  RETURN_IF_ERROR(InspectPhase());
  if (!spec_.delete_rows) RETURN_IF_ERROR(CheckSetKeepsKeys());
  ASSIGN_OR_RETURN(auto rec, BackfillState::FindUnfinished(conn_.get(), in_.names.schema, in_.names.table));
  RETURN_IF_ERROR(CheckRecord(rec));
  if (!resumed_) RETURN_IF_ERROR(ReadSpan());
  sizer_ = std::make_unique<throttler::ChunkSizer>(control_->Sizing(), config_.control.chunk_size);
  if (!span_last_.empty() && !done_) RETURN_IF_ERROR(Validate());
  RETURN_IF_ERROR(key_probe_);
  Hook("validated");
  if (!config_.execute) {
    RETURN_IF_ERROR(Estimate());
    PrintPlan();
    summary_.elapsed_s = SecondsSince(started_);
    return summary_;
  }
  if (!resumed_) RETURN_IF_ERROR(CreateRecord());
  RETURN_IF_ERROR(StartThrottler());
  Hook("before-row-copy");
  absl::Status st = BatchLoop();
  if (!st.ok()) {
    if (stop_ || st.code() == absl::StatusCode::kCancelled) {
      st = absl::CancelledError(fmt::format(
          "interrupted: the batch in flight was rolled back; {} batches committed ({} rows changed), checkpoint "
          "{}; continue with --resume", summary_.batches, summary_.rows_changed, Where()));
      stop_reason_ = "interrupted";
    }
    // The record stays unfinished (for --resume); say why it stopped.
    // A stop's cancel request reaches the server asynchronously and may hit
    // one of these statements instead of the batch: try again.
    for (int attempt = 0; attempt < 3 && conn_ && conn_->Healthy(); ++attempt) {
      conn_->RollbackQuietly();
      if (state_->RecordStop(conn_.get(), stop_reason_.empty() ? std::string(st.message()) : stop_reason_).ok())
        break;
    }
    return st;
  }
  Hook("row-copy-complete");
  RETURN_IF_ERROR(state_->Finish(conn_.get(), "success"));
  summary_.elapsed_s = SecondsSince(started_);
  return summary_;
}

absl::Status Backfill::InspectPhase() {
  Inspector inspector(conn_.get());
  ASSIGN_OR_RETURN(in_, inspector.InspectForBackfill(config_));
  model_ = ModelFor(in_);
  summary_.table = QualifiedName(in_.names.schema, in_.names.table);
  if (!config_.execute) return absl::OkStatus();
  ASSIGN_OR_RETURN(bool locked, TakeRunLock(conn_.get(), in_.oid));
  if (!locked)
    return absl::FailedPreconditionError(
        fmt::format("another shadowcopy run is already working on {}", summary_.table));
  return absl::OkStatus();
}

// A run that did not finish is continued with --resume, never silently
// replaced by a new one (its ranges would be walked again).
absl::Status Backfill::CheckRecord(const std::optional<BackfillRecord>& rec) {
  const std::string op = spec_.delete_rows ? "delete" : "update";
  if (!config_.resume) {
    if (!rec) return absl::OkStatus();
    if (!config_.execute) {
      Log(LogLevel::kWarning, "an unfinished backfill of {} is recorded (run {}); --execute will refuse to start "
          "another until it is resumed or cleaned up", summary_.table, rec->run_id);
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(fmt::format(
        "an unfinished backfill of {} is recorded (run {}, started {}, checkpoint at key {}{}): continue it with "
        "--resume (same --set/--delete and --where), or discard its record with `shadowcopy cleanup --schema {} "
        "--table {} --execute`", summary_.table, rec->run_id, rec->started_at,
        rec->cursor ? backfill_sql::FormatKey(*rec->cursor) : "none yet",
        rec->last_error.empty() ? "" : "; it stopped on: " + rec->last_error, in_.names.schema, in_.names.table));
  }
  if (!rec)
    return absl::FailedPreconditionError(fmt::format("no unfinished backfill of {} to resume", summary_.table));
  if (rec->format_version != kBackfillFormatVersion)
    return absl::FailedPreconditionError(fmt::format(
        "the backfill was recorded in state format {}, this shadowcopy writes {}; run cleanup and start again",
        rec->format_version, kBackfillFormatVersion));
  if (rec->operation != op || rec->set_text != spec_.set || rec->where_text != spec_.where)
    return absl::InvalidArgumentError(fmt::format(
        "the backfill being resumed was started with {} --where \"{}\"; resume with the same expressions",
        rec->operation == "delete" ? "--delete" : "--set \"" + rec->set_text + "\"", rec->where_text));
  if (rec->table_oid != in_.oid || rec->key_columns != in_.key_names)
    return absl::FailedPreconditionError(fmt::format(
        "{} is not the table (or key) the backfill started on; run cleanup and start again", summary_.table));
  resumed_ = rec;
  summary_.resumed = true;
  span_first_ = rec->span_first;
  span_last_ = rec->span_last;
  cursor_ = rec->cursor;
  done_ = rec->done;
  keys_before_ = rec->keys_covered;
  summary_.total_rows_changed = rec->rows_changed;
  estimated_keys_ = in_.estimated_rows;
  if (config_.execute) state_ = std::make_unique<BackfillState>(rec->run_id);
  Log(LogLevel::kInfo, "resuming backfill {} of {} {} ({} batches, {} rows changed so far)", rec->run_id,
      summary_.table, Where(), rec->batches, rec->rows_changed);
  return absl::OkStatus();
}

absl::Status Backfill::ReadSpan() {
  for (bool last : {false, true}) {
    ASSIGN_OR_RETURN(auto r, conn_->Exec(backfill_sql::SpanEndSql(model_, last)));
    if (r.Rows() == 0) return absl::OkStatus();  // empty table: nothing to do
    auto& out = last ? span_last_ : span_first_;
    out.clear();
    for (int i = 0; i < r.Cols(); ++i) out.push_back(r.GetString(0, i));
  }
  estimated_keys_ = in_.estimated_rows;
  return absl::OkStatus();
}

// Keys are the batches' cursor and the run's checkpoint: a SET list that
// assigns a key column is refused before anything is recorded or changed,
// whatever values it would assign (see KeyAssignmentProbeSql).
absl::Status Backfill::CheckSetKeepsKeys() {
  RETURN_IF_ERROR(conn_->Exec("BEGIN").status());
  auto probe = [&]() -> absl::StatusOr<bool> {
    RETURN_IF_ERROR(
        conn_->Exec(fmt::format("SET LOCAL lock_timeout = '{}ms'", config_.lock_timeout.count())).status());
    absl::StatusOr<PgResult> r = absl::InternalError("no statement");
    for (const auto& stmt : backfill_sql::KeyAssignmentProbeSql(model_, spec_.set)) {
      r = conn_->Exec(stmt);
      if (!r.ok()) return r.status();
    }
    return r->GetBool(0, 0);
  };
  absl::StatusOr<bool> assigned = probe();
  conn_->RollbackQuietly();
  // A SET list the probe cannot compile is reported by the first batch's
  // validation as the user wrote it; if that batch compiles, this is returned.
  if (!assigned.ok()) {
    key_probe_ = Annotate(assigned.status(), "checking which columns --set assigns");
    return absl::OkStatus();
  }
  if (*assigned)
    return absl::InvalidArgumentError(fmt::format(
        "--set assigns a key column ({}): a backfill cannot change keys", QuoteIdentList(in_.key_names)));
  return absl::OkStatus();
}

// The first batch, run and rolled back: PostgreSQL checks the SET and WHERE
// text (and the data of the first rows) before anything is recorded.
absl::Status Backfill::Validate() {
  auto t = Clock::now();
  auto batch = RunBatchRetrying(sizer_->Next(), /*commit=*/false);
  if (!batch.ok()) {
    if (batch.status().code() == absl::StatusCode::kCancelled) return batch.status();
    return Annotate(batch.status(), "validating --set/--where on the first batch (rolled back)");
  }
  validation_ = *batch;
  validation_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  Log(LogLevel::kInfo, "validated on the first batch (rolled back): {} keys, {} rows would change, {:.1f} ms",
      batch->keys, batch->rows, validation_ms_);
  return absl::OkStatus();
}

absl::Status Backfill::Estimate() {
  auto r = conn_->Exec(backfill_sql::EstimateSql(model_, spec_.where));
  if (r.ok() && r->Rows() > 0) estimated_matches_ = backfill_sql::PlanRows(r->Get(0, 0));
  return absl::OkStatus();
}

absl::Status Backfill::CreateRecord() {
  RETURN_IF_ERROR(Annotate(BackfillState::EnsureSchema(conn_.get()), "creating the state table shadowcopy.backfills"));
  BackfillRecord rec;
  rec.schema = in_.names.schema;
  rec.table = in_.names.table;
  rec.table_oid = in_.oid;
  rec.operation = spec_.delete_rows ? "delete" : "update";
  rec.set_text = spec_.set;
  rec.where_text = spec_.where;
  rec.key_columns = in_.key_names;
  rec.span_first = span_first_;
  rec.span_last = span_last_;
  std::string run_id = fmt::format("{}-{:x}", in_.oid, std::random_device{}());
  state_ = std::make_unique<BackfillState>(run_id);
  RETURN_IF_ERROR(state_->Create(conn_.get(), rec));
  Log(LogLevel::kInfo, "backfill {} of {}: key span {} .. {} (fixed now), recorded in shadowcopy.backfills", run_id,
      summary_.table, backfill_sql::FormatKey(span_first_), backfill_sql::FormatKey(span_last_));
  if (span_last_.empty()) done_ = true;
  return absl::OkStatus();
}

absl::Status Backfill::StartThrottler() {
  ASSIGN_OR_RETURN(throttler_, StartRunThrottler(config_, control_.get()));
  throttler_->SetOwnPids({conn_->BackendPid()});
  return absl::OkStatus();
}

absl::StatusOr<bool> Backfill::MayProceed() {
  if (control_->abort_requested()) return absl::CancelledError("aborted by the operator");
  throttler::Decision d = throttler_->current();
  if (d.abort) return absl::AbortedError(fmt::format("stopping the backfill: {}", d.reason));
  if (d.reason != last_throttle_reason_) {
    Log(LogLevel::kInfo, "{}", d.reason.empty() ? "backfill resumed: no throttle signal over its limit" : d.reason);
    if (d.throttled && !control_->paused()) sizer_->OnThrottled();
    last_throttle_reason_ = d.reason;
  }
  if (!d.throttled) return true;
  SleepFor(milliseconds(100));
  return false;
}

absl::Status Backfill::BatchLoop() {
  control_->Publish([] { Progress p; p.phase = "backfill"; return p; }());
  loop_started_ = last_progress_ = Clock::now();
  while (!done_) {
    if (stop_) return absl::CancelledError("interrupted");
    ASSIGN_OR_RETURN(bool proceed, MayProceed());
    if (!proceed) {
      Publish();
      MaybeReportProgress(false);
      continue;
    }
    if (control_->revision() != control_revision_) {
      control_revision_ = control_->revision();
      sizer_->Configure(control_->Sizing());
    }
    // Test pause points fire once per batch number of this process.
    int number = static_cast<int>(summary_.batches) + 1;
    if (ShouldPause(config_.test, "before-batch", number) && paused_at_ != number * 2) {
      paused_at_ = number * 2;
      RETURN_IF_ERROR(PauseHere(config_.test, nullptr, stop_));
      continue;  // the operator may have paused meanwhile
    }
    auto t = Clock::now();
    auto batch = RunBatchRetrying(sizer_->Next(), /*commit=*/true);
    constexpr int kMaxReconnects = 10;
    if (!batch.ok() && !stop_ && batch.status().code() == absl::StatusCode::kUnavailable && !conn_->Healthy() &&
        reconnects_ < kMaxReconnects) {
      // The session was lost: the record says what committed (a COMMIT whose
      // reply was lost may or may not have happened).
      ++reconnects_;
      RETURN_IF_ERROR(Reconnect());
      continue;
    }
    if (!batch.ok() && batch.status().code() != absl::StatusCode::kCancelled && !stop_) {
      stop_reason_ = std::string(batch.status().message());
      return absl::Status(batch.status().code(), fmt::format(
          "{}; {} batches committed before it ({} rows changed), the checkpoint stays {}: fix the cause and "
          "continue with --resume", batch.status().message(), summary_.batches, summary_.rows_changed, Where()));
    }
    if (!batch.ok()) return batch.status();
    auto took = Clock::now() - t;
    sizer_->Observe(batch->keys, took);
    summary_.keys_covered += batch->keys;
    summary_.rows_changed += batch->rows;
    summary_.total_rows_changed += batch->rows;
    ++summary_.batches;
    if (batch->upper) cursor_ = batch->upper;
    done_ = batch->last;
    Publish();
    MaybeReportProgress(false);
    // --nice-ratio: rest that many times the batch's duration.
    if (!done_) SleepFor(std::chrono::duration_cast<milliseconds>(throttler::NicePause(took, control_->NiceRatio())));
  }
  summary_.batches_s = SecondsSince(loop_started_);
  MaybeReportProgress(true);
  return absl::OkStatus();
}

absl::StatusOr<Backfill::Batch> Backfill::RunBatch(int64_t size, bool commit) {
  // READ COMMITTED whatever the role's default: under REPEATABLE READ an
  // application update of a row in the range would fail the batch.
  RETURN_IF_ERROR(conn_->Exec("BEGIN ISOLATION LEVEL READ COMMITTED").status());
  auto body = [&]() -> absl::StatusOr<Batch> {
    RETURN_IF_ERROR(
        conn_->Exec(fmt::format("SET LOCAL lock_timeout = '{}ms'", config_.lock_timeout.count())).status());
    // lock_timeout bounds each lock wait; many waits in one batch add up, and
    // an application session waiting for a row the batch already changed
    // waits until the batch ends. The statement timeout bounds the whole
    // batch; a batch that meets it is retried with half the keys.
    const int64_t budget = std::max<int64_t>(
        5000, 2 * config_.lock_timeout.count() + 5 * control_->Sizing().target.count());
    RETURN_IF_ERROR(conn_->Exec(fmt::format("SET LOCAL statement_timeout = '{}ms'", budget)).status());
    // Before the first batch the range starts at the span's first key,
    // inclusive: rows inserted below it later are not the backfill's.
    const bool from_start = !cursor_.has_value();
    const std::vector<std::string>& lower = from_start ? span_first_ : *cursor_;
    PgParams p(lower.begin(), lower.end());
    p.insert(p.end(), span_last_.begin(), span_last_.end());
    p.push_back(std::to_string(size));
    ASSIGN_OR_RETURN(auto r, conn_->Query(backfill_sql::BoundarySql(model_, true, from_start), p));
    Batch b;
    b.last = true;
    if (r.Rows() > 0) {
      int k = static_cast<int>(model_.key_columns.size());
      std::vector<std::string> upper;
      for (int i = 0; i < k; ++i) upper.push_back(r.GetString(0, i));
      b.keys = r.GetInt(0, k);
      b.last = b.keys < size;
      PgParams bp(lower.begin(), lower.end());
      bp.insert(bp.end(), upper.begin(), upper.end());
      auto res = conn_->Query(backfill_sql::BatchSql(model_, spec_, true, from_start), bp);
      if (!res.ok()) return Annotate(res.status(), fmt::format("batch over keys {}", RangeText(upper)));
      b.rows = res->Affected();
      b.upper = std::move(upper);
    }
    if (!commit) return b;
    int number = static_cast<int>(summary_.batches) + 1;
    if (ShouldPause(config_.test, "before-commit", number) && paused_at_ != number * 2 + 1) {
      paused_at_ = number * 2 + 1;
      RETURN_IF_ERROR(PauseHere(config_.test, nullptr, stop_));
    }
    auto [sql, params] = state_->Checkpoint(b.upper, b.last, b.rows, b.keys);
    RETURN_IF_ERROR(Annotate(conn_->Query(sql, params).status(), "checkpoint"));
    RETURN_IF_ERROR(conn_->Exec("COMMIT").status());
    return b;
  };
  auto batch = body();
  conn_->RollbackQuietly();  // after COMMIT: no transaction, nothing to do
  return batch;
}

absl::StatusOr<Backfill::Batch> Backfill::RunBatchRetrying(int64_t size, bool commit) {
  RetryPolicy policy;
  policy.initial_backoff = milliseconds(100);
  policy.max_backoff = milliseconds(2000);
  const int attempts = config_.backfill.lock_retries;
  for (int attempt = 1;; ++attempt) {
    auto batch = RunBatch(size, commit);
    if (batch.ok()) return batch;
    if (stop_) return absl::CancelledError("interrupted");
    std::string state = SqlStateOf(batch.status());
    // Lock timeout, deadlock, or the batch's statement timeout (a cancel of
    // ours sets stop_ first, handled above).
    bool lock_conflict = state == "55P03" || state == "40P01" || state == "57014";
    if (!lock_conflict) return batch.status();
    if (attempt >= attempts)
      return Annotate(batch.status(), fmt::format("gave up after {} attempts", attempts));
    ++summary_.lock_retries;
    auto wait = Backoff(policy, attempt);
    int64_t next = std::max<int64_t>(1, size / 2);
    Log(LogLevel::kInfo, "backfill batch {}: {}; rolled back, retrying in {} ms with {} keys (attempt {}/{})",
        Where(), batch.status().message(), wait.count(), next, attempt + 1, attempts);
    if (commit) sizer_->OnThrottled();
    if (commit) Hook("batch-retry", {{"SHADOWCOPY_RETRY_ATTEMPT", std::to_string(attempt)},
                                     {"SHADOWCOPY_RETRY_REASON", std::string(batch.status().message())}});
    SleepFor(wait);
    if (stop_) return absl::CancelledError("interrupted");
    size = next;
  }
}

absl::Status Backfill::Reconnect() {
  Log(LogLevel::kWarning, "lost the connection; reconnecting and continuing from the recorded checkpoint");
  RetryPolicy policy;
  policy.attempts = 30;
  policy.initial_backoff = milliseconds(250);
  RETURN_IF_ERROR(Retry(policy, "reconnecting", [&]() -> absl::Status {
    RETURN_IF_ERROR(Connect());
    ASSIGN_OR_RETURN(bool locked, TryRunLock(conn_.get(), in_.oid));
    // The lost session may hold the lock until the server notices it is
    // gone: retried (a run that really took over keeps it through them all).
    if (!locked) return absl::UnavailableError("the table's advisory lock is still held (by the lost session, or another run)");
    return absl::OkStatus();
  }, &stop_));
  ASSIGN_OR_RETURN(auto rec, BackfillState::FindUnfinished(conn_.get(), in_.names.schema, in_.names.table));
  if (!rec || rec->run_id != state_->run_id()) return absl::InternalError("the backfill's state record disappeared");
  cursor_ = rec->cursor;
  done_ = rec->done;
  throttler_->SetOwnPids({conn_->BackendPid()});
  return absl::OkStatus();
}

std::string Backfill::Where() const {
  return cursor_ ? "after key " + backfill_sql::FormatKey(*cursor_) : "at the first key";
}

std::string Backfill::RangeText(const std::optional<std::vector<std::string>>& upper) const {
  return fmt::format("{}{} .. {}]", cursor_ ? "(" : "[",
                     backfill_sql::FormatKey(cursor_ ? *cursor_ : span_first_),
                     upper ? backfill_sql::FormatKey(*upper) : backfill_sql::FormatKey(span_last_));
}

// Progress by key value when the key is one integer column (exact whatever
// the gaps); < 0 otherwise.
double Backfill::SpanPercent() const {
  if (span_first_.size() != 1 || span_last_.empty()) return -1;
  auto lo = AsInt(span_first_[0]), hi = AsInt(span_last_[0]);
  if (!lo || !hi) return -1;
  if (done_) return 100;
  if (!cursor_) return 0;
  auto at = AsInt((*cursor_)[0]);
  if (!at || *hi <= *lo) return -1;
  return 100.0 * static_cast<double>(*at - *lo + 1) / static_cast<double>(*hi - *lo + 1);
}

void Backfill::Publish() {
  Progress p;
  p.phase = "backfill";
  p.keys_covered = keys_before_ + summary_.keys_covered;
  p.estimated_rows = std::max(estimated_keys_, static_cast<double>(p.keys_covered));
  p.rows_changed = summary_.total_rows_changed;
  p.batches = (resumed_ ? resumed_->batches : 0) + summary_.batches;
  p.chunk_size = sizer_->Next();
  double elapsed = std::max(SecondsSince(loop_started_), 1e-3);
  p.rows_per_s = summary_.keys_covered / elapsed;
  p.changed_per_s = summary_.rows_changed / elapsed;
  p.span_percent = SpanPercent();
  double left = p.span_percent >= 0 ? (100 - p.span_percent) / 100 * std::max(estimated_keys_, 1.0)
                                    : p.estimated_rows - p.keys_covered;
  p.eta_s = done_ ? 0 : p.rows_per_s > 0 ? std::max(0.0, left) / p.rows_per_s : -1;
  if (cursor_) p.key_position = backfill_sql::FormatKey(*cursor_);
  if (!span_last_.empty())
    p.key_span = backfill_sql::FormatKey(span_first_) + " .. " + backfill_sql::FormatKey(span_last_);
  control_->Publish(p);
}

void Backfill::MaybeReportProgress(bool force) {
  auto now = Clock::now();
  if (!force && now - last_progress_ < config_.progress_interval) return;
  last_progress_ = now;
  if (config_.progress_json) {
    WriteOutputLine(control_->StatusJson() + "\n");
    return;
  }
  if (config_.progress_tty) return;  // the terminal's progress line shows it
  Log(LogLevel::kInfo, "progress: {}", control_->StatusText());
}

void Backfill::PrintPlan() const {
  BackfillPlan plan;
  plan.table = summary_.table;
  plan.spec = spec_;
  plan.key_names = in_.key_names;
  plan.key_index = in_.key_index;
  plan.span_first = span_first_;
  plan.span_last = span_last_;
  if (resumed_) plan.resumes = fmt::format("run {} {}", resumed_->run_id, Where());
  plan.estimated_keys = estimated_keys_;
  plan.estimated_matches = estimated_matches_;
  plan.validation_keys = validation_.keys;
  plan.validation_rows = validation_.rows;
  plan.validation_ms = validation_ms_;
  plan.sizing = control_->Sizing();
  plan.lock_timeout = config_.lock_timeout;
  plan.statement = backfill_sql::BatchSql(model_, spec_, true);
  std::fputs(FormatBackfillPlan(plan).c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace shadowcopy::engine
