#include "engine/verifier.h"

#include <exception>

#include "common/quote.h"
#include "common/status.h"
#include "fmt/format.h"

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
    ASSIGN_OR_RETURN(auto conn, PgConn::Connect(co));
    conns.push_back(std::move(conn));
  }
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

// One worker: imports the snapshot, then hashes ranges until none is left,
// the snapshot is too old, an error occurs or the pass is cancelled.
void Verifier::Work(PgConn* conn) {
  auto fail = [&](const absl::Status& st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.ok()) status_ = st;
    cancelled_ = true;
  };
  auto begun = [&]() -> absl::Status {
    RETURN_IF_ERROR(conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ").status());
    return conn->Exec(fmt::format("SET TRANSACTION SNAPSHOT {}", QuoteLiteral(snapshot_id_))).status();
  }();
  if (!begun.ok()) {
    conn->RollbackQuietly();
    return fail(Annotate(begun, "verify: importing the snapshot"));
  }
  for (;;) {
    while (throttled_ && !cancelled_ && Clock::now() < deadline_)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (cancelled_ || Clock::now() >= deadline_) break;
    size_t i = next_++;
    if (i >= jobs_.size()) break;
    {
      std::lock_guard<std::mutex> lock(mu_);
      started_[i] = true;
    }
    if (auto st = HashRange(conn, i); !st.ok()) {
      fail(cancelled_ ? absl::CancelledError("verification cancelled") : st);
      break;
    }
  }
  conn->RollbackQuietly();
}

absl::Status Verifier::HashRange(PgConn* conn, size_t index) {
  const vsql::KeyRange& r = jobs_[index];
  const bool lo = r.lower.has_value(), hi = r.upper.has_value();
  PgParams params = vsql::RangeParams(r);
  ASSIGN_OR_RETURN(auto h, conn->Query(vsql::RangeHashSql(*model_, lo, hi, order_preserved_), params));
  RangeOutcome out;
  out.index = index;
  out.original_rows = h.GetInt(0, 0);
  out.shadow_rows = h.GetInt(0, 3);
  out.match = h.Get(0, 0) == h.Get(0, 3) && h.Get(0, 1) == h.Get(0, 4) && h.Get(0, 2) == h.Get(0, 5);
  if (!out.match) {
    ASSIGN_OR_RETURN(auto d, conn->Query(vsql::RangeDiffSql(*model_, lo, hi, order_preserved_, kDifferingKeys),
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
