#include "engine/verify/verifier.h"

#include <algorithm>
#include <exception>
#include <thread>

#include "common/quote.h"
#include "common/status.h"
#include "fmt/format.h"
#include "throttler/pacing.h"

namespace shadowcopy::engine {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kDifferingKeys = 5;

}  // namespace

Verifier::Verifier(ConnectOptions connect, const TableModel* model, int workers, bool order_preserved)
    : connect_(std::move(connect)), model_(model), workers_(workers), order_preserved_(order_preserved) {}

Verifier::~Verifier() {
  if (!threads_.empty()) {
    Cancel();
    Finish();
  }
}

absl::Status Verifier::Connect() {
  if (!conns_.empty()) return absl::OkStatus();
  std::vector<std::unique_ptr<PgConn>> conns;
  for (int i = 0; i < workers_; ++i) {
    ConnectOptions co = connect_;
    co.application_name = "shadowcopy_verify";
    // The workers are the verification's parallelism: a range's query
    // starting parallel workers of its own would take more cores than
    // --verify-workers says (and than the throttle and --nice-ratio pace).
    co.settings.emplace_back("max_parallel_workers_per_gather", "0");
    ASSIGN_OR_RETURN(auto conn, PgConn::Connect(co));
    conns.push_back(std::move(conn));
  }
  // The sessions that run the hashes say which form their server can run.
  hash_form_ = vsql::RowHashFormFor(conns.front()->ServerVersion());
  std::lock_guard<std::mutex> lock(mu_);
  conns_ = std::move(conns);
  return absl::OkStatus();
}

std::vector<int> Verifier::BackendPids() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int> pids;
  for (const auto& c : conns_)
    if (c->Healthy()) pids.push_back(c->BackendPid());
  return pids;
}

void Verifier::Begin(std::string snapshot_id, std::vector<vsql::KeyRange> jobs, Clock::time_point deadline) {
  snapshot_id_ = std::move(snapshot_id);
  jobs_ = std::move(jobs);
  deadline_ = deadline;
  next_ = 0;
  cancelled_ = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_.clear();
    started_.assign(jobs_.size(), false);
    status_ = absl::OkStatus();
  }
  running_ = static_cast<int>(conns_.size());
  for (auto& c : conns_) {
    PgConn* conn = c.get();
    threads_.emplace_back([this, conn] {
      try {
        Work(conn);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu_);
        if (status_.ok()) status_ = absl::InternalError(fmt::format("verify worker: {}", e.what()));
      }
      --running_;
    });
  }
}

PassOutcome Verifier::Finish() {
  for (auto& t : threads_) t.join();
  threads_.clear();
  PassOutcome out;
  std::lock_guard<std::mutex> lock(mu_);
  out.done = std::move(done_);
  out.status = status_;
  for (size_t i = 0; i < started_.size(); ++i)
    if (!started_[i]) out.not_started.push_back(i);
  done_.clear();
  return out;
}

void Verifier::Cancel() {
  cancelled_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& c : conns_) c->Cancel();
}

// One worker: hashes ranges until none is left, the snapshot is too old, an
// error occurs or the pass is cancelled. Each range is its own transaction
// importing the pass's snapshot (importable while the exporting session
// keeps it): the tables' locks are held for one range, never for the whole
// pass, and a range that would wait for a lock (a DDL of the application
// holds or awaits one) is left for the next consistency point instead of
// queueing in front of the application.
void Verifier::Work(PgConn* conn) {
  auto fail = [&](const absl::Status& st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.ok()) status_ = st;
    cancelled_ = true;
  };
  // Each worker hashes at least one range per pass (unless throttled
  // throughout), so a snapshot age shorter than one range still progresses.
  for (int taken = 0;; ++taken) {
    while (throttled_ && !cancelled_ && Clock::now() < deadline_)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (cancelled_ || (Clock::now() >= deadline_ && (taken > 0 || throttled_))) break;
    size_t i = next_++;
    if (i >= jobs_.size()) break;
    {
      std::lock_guard<std::mutex> lock(mu_);
      started_[i] = true;
    }
    auto started = Clock::now();
    absl::Status st = BeginRange(conn);
    if (st.ok()) st = HashRange(conn, i);
    conn->RollbackQuietly();
    if (!st.ok() && !cancelled_ && SqlStateOf(st) == "55P03") {
      std::lock_guard<std::mutex> lock(mu_);
      started_[i] = false;  // hashed after the next consistency point
      break;
    }
    if (!st.ok()) {
      fail(cancelled_ ? absl::CancelledError("verification cancelled") : st);
      break;
    }
    auto rest_until = Clock::now() + throttler::NicePause(Clock::now() - started, nice_ratio_.load());
    while (!cancelled_ && Clock::now() < rest_until)
      std::this_thread::sleep_for(std::min<Clock::duration>(rest_until - Clock::now(), std::chrono::milliseconds(50)));
  }
  conn->RollbackQuietly();
}

absl::Status Verifier::BeginRange(PgConn* conn) {
  RETURN_IF_ERROR(conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ").status());
  RETURN_IF_ERROR(Annotate(conn->Exec(fmt::format("SET TRANSACTION SNAPSHOT {}", QuoteLiteral(snapshot_id_))).status(),
                           "verify: importing the snapshot"));
  return conn
      ->Exec(fmt::format("LOCK TABLE ONLY {}, {} IN ACCESS SHARE MODE NOWAIT",
                         QualifiedName(model_->names.schema, model_->names.table),
                         QualifiedName(model_->names.schema, model_->names.shadow)))
      .status();
}

absl::Status Verifier::HashRange(PgConn* conn, size_t index) {
  const vsql::KeyRange& r = jobs_[index];
  const bool lo = r.lower.has_value(), hi = r.upper.has_value();
  PgParams params = vsql::RangeParams(r);
  ASSIGN_OR_RETURN(
      auto h,
      conn->Query(vsql::RangeHashSql(*model_, lo, hi, order_preserved_, hash_form_), params));
  RangeOutcome out;
  out.index = index;
  out.original_rows = h.GetInt(0, 0);
  out.shadow_rows = h.GetInt(0, 2);
  out.match = h.Get(0, 0) == h.Get(0, 2) && h.Get(0, 1) == h.Get(0, 3);
  if (!out.match) {
    ASSIGN_OR_RETURN(auto d, conn->Query(vsql::RangeDiffSql(*model_, lo, hi, order_preserved_,
                                                            hash_form_, kDifferingKeys),
                                         params));
    for (int row = 0; row < d.Rows(); ++row)
      out.differing.push_back(fmt::format("{} ({})", d.Get(row, 0), d.Get(row, 1)));
  }
  ranges_done_++;
  rows_done_ += out.original_rows;
  std::lock_guard<std::mutex> lock(mu_);
  done_.push_back(std::move(out));
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
