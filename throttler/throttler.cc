#include "throttler/throttler.h"

#include <algorithm>
#include <exception>
#include <thread>

#include "common/log.h"
#include "common/status.h"
#include "fmt/format.h"
#include "throttler/probes.h"

namespace shadowcopy::throttler {

using std::chrono::milliseconds;

struct Throttler::Probe {
  std::string name;
  milliseconds interval;
  std::function<std::vector<Reading>(TimePoint)> run;
  std::optional<TimePoint> next_due;  // nullopt: never run yet
};

namespace {

constexpr milliseconds kMinLockInterval{1000};  // pg_blocking_pids at most once a second
constexpr milliseconds kMaxSleep{100};          // bounds a wait on a fake or slow clock
constexpr milliseconds kHealthDetailRefresh{5000};  // the health reason's numbers while it throttles

Reading NotConnected(Signal signal, std::string source, const absl::Status& st, TimePoint now) {
  Reading r;
  r.signal = signal;
  r.source = std::move(source);
  r.error = st.ok() ? "not connected" : std::string(st.message());
  r.read_at = now;
  return r;
}

ConnectOptions ProbeConnectOptions(ConnectOptions co, milliseconds statement_timeout) {
  co.application_name = "shadowcopy_throttler";
  co.replication = false;
  co.settings.push_back({"statement_timeout", std::to_string(statement_timeout.count())});
  co.settings.push_back({"lock_timeout", std::to_string(statement_timeout.count())});
  // The operator's throttle query runs here: it must not change anything.
  co.settings.push_back({"default_transaction_read_only", "on"});
  return co;
}

}  // namespace

Throttler::Throttler(ThrottlerOptions options) : options_(std::move(options)) {
  if (!options_.limits) options_.limits = [] { return Limits{}; };
  if (!options_.operator_paused) options_.operator_paused = [] { return false; };
  if (!options_.clock) options_.clock = [] { return std::chrono::steady_clock::now(); };
  options_.lock_interval = std::max(options_.lock_interval, kMinLockInterval);
  auto primary = [this](Signal signal, auto fn) {
    return [this, signal, fn](TimePoint now) -> std::vector<Reading> {
      if (!primary_) return {NotConnected(signal, "", primary_error_, now)};
      return fn(now);
    };
  };
  if (options_.probe_database) {
    probes_.push_back({"standbys", options_.standby_interval,
                       primary(Signal::kReplicaLag, [this](TimePoint now) {
                         return ProbeStandbys(*primary_, &timeline_, now);
                       }), std::nullopt});
    probes_.push_back({"slot", options_.slot_interval,
                       primary(Signal::kReplayLagBytes, [this](TimePoint now) -> std::vector<Reading> {
                         std::string slot;
                         {
                           absl::MutexLock lock(&mu_);
                           slot = slot_;
                         }
                         if (slot.empty()) return {};
                         return {ProbeSlot(*primary_, slot, now)};
                       }), std::nullopt});
    probes_.push_back({"locks", options_.lock_interval,
                       primary(Signal::kLockWaiters, [this](TimePoint now) -> std::vector<Reading> {
                         std::vector<int> pids;
                         {
                           absl::MutexLock lock(&mu_);
                           pids = own_pids_;
                         }
                         return {ProbeLockWaiters(*primary_, pids, now)};
                       }), std::nullopt});
    probes_.push_back({"active", options_.active_interval,
                       primary(Signal::kActiveBackends, [this](TimePoint now) -> std::vector<Reading> {
                         return {ProbeActiveBackends(*primary_, now)};
                       }), std::nullopt});
    if (options_.health_probe)
      probes_.push_back({"health", options_.canary_interval,
                         [this](TimePoint now) -> std::vector<Reading> { return {ProbeHealth(now)}; },
                         std::nullopt});
    if (!options_.throttle_query.empty())
      probes_.push_back({"query", options_.query_interval,
                         primary(Signal::kThrottleQuery, [this](TimePoint now) -> std::vector<Reading> {
                           return {ProbeThrottleQuery(*primary_, options_.throttle_query, now)};
                         }), std::nullopt});
    if (!options_.replica_dsn.empty())
      probes_.push_back({"replica", options_.replica_interval, [this](TimePoint now) -> std::vector<Reading> {
                           if (!replica_) return {NotConnected(Signal::kReplicaLag, "replica", replica_error_, now)};
                           return {ProbeReplica(*replica_, "replica", now)};
                         }, std::nullopt});
  }
  if (!options_.flag_file.empty())
    probes_.push_back({"flag", options_.flag_interval, [this](TimePoint now) -> std::vector<Reading> {
                         return {ProbeFlagFile(options_.flag_file, now)};
                       }, std::nullopt});
  absl::MutexLock lock(&mu_);
  latest_.resize(probes_.size());
}

Throttler::~Throttler() { Stop(); }

void Throttler::EnsureConnected() {
  if (!options_.probe_database) return;
  if (!primary_ || !primary_->Healthy()) {
    primary_.reset();
    auto conn = PgConn::Connect(ProbeConnectOptions(options_.connect, options_.statement_timeout));
    if (conn.ok()) primary_ = std::move(*conn);
    else primary_error_ = conn.status();
  }
  if (options_.health_probe && (!canary_ || !canary_->Healthy())) {
    canary_.reset();
    ConnectOptions co = options_.connect;
    co.application_name = "shadowcopy_canary";
    co.replication = false;
    co.settings.push_back({"statement_timeout", std::to_string(options_.canary_timeout.count())});
    auto conn = PgConn::Connect(co);
    if (conn.ok()) canary_ = std::move(*conn);
    else canary_error_ = conn.status();
  }
  if (!options_.replica_dsn.empty() && (!replica_ || !replica_->Healthy())) {
    replica_.reset();
    ConnectOptions co;
    co.dsn = options_.replica_dsn;
    auto conn = PgConn::Connect(ProbeConnectOptions(co, options_.statement_timeout));
    if (conn.ok()) replica_ = std::move(*conn);
    else replica_error_ = conn.status();
  }
}

absl::Status Throttler::Start() {
  EnsureConnected();
  if (options_.probe_database && !primary_)
    return Annotate(primary_error_, "throttler: cannot connect to the database");
  if (!options_.replica_dsn.empty() && !replica_)
    return Annotate(replica_error_, "throttler: cannot connect to --replica-dsn");
  TakeHealthBaseline();
  PollDue();
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Throttler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    wake_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  primary_.reset();
  replica_.reset();
  canary_.reset();
}

std::vector<int> Throttler::OwnPids() const {
  absl::MutexLock lock(&mu_);
  return own_pids_;
}

void Throttler::TakeHealthBaseline() {
  if (!options_.probe_database || !options_.health_probe || health_.has_baseline()) return;
  const auto started = std::chrono::steady_clock::now();
  const auto end = started + options_.health_baseline;
  const bool may_end_early = options_.health_baseline_quiet.count() > 0;
  bool quiet = false, checked = false;
  while (canary_ && std::chrono::steady_clock::now() < end) {
    auto next = std::chrono::steady_clock::now() + options_.canary_interval;
    auto ms = RunCanary(*canary_);
    if (!ms.ok()) break;
    health_.AddBaseline(*ms);
    auto app = ProbeStatementsInFlight(*canary_, OwnPids());
    if (app.ok()) inflight_.AddBaseline(*app);
    if (may_end_early && !checked && health_.baseline_samples() >= 3 &&
        std::chrono::steady_clock::now() - started >= options_.health_baseline_quiet) {
      checked = true;
      auto q = ProbeDatabaseQuiet(*canary_, OwnPids());
      quiet = q.ok() && *q;
      if (quiet) break;
    }
    std::this_thread::sleep_until(next);
  }
  health_.EndBaseline();
  inflight_.EndBaseline();
  std::string ended;
  if (quiet)
    ended = fmt::format(" (ended after {:.1f} s: no other session of the database ran a statement in the last {} s)",
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
                        kQuietLookbackSeconds);
  Log(LogLevel::kInfo, "throttle: application health baseline: {}; {}{}",
      health_.has_baseline() ? health_.DescribeBaseline() : "none (the canary could not run)",
      inflight_.DescribeBaseline(), ended);
}

Reading Throttler::ProbeHealth(TimePoint now) {
  Reading r;
  r.signal = Signal::kAppHealth;
  r.read_at = now;
  if (!canary_) {
    r.error = canary_error_.ok() ? "not connected" : std::string(canary_error_.message());
    return r;
  }
  auto ms = RunCanary(*canary_);
  if (!ms.ok()) {
    r.error = std::string(ms.status().message());
    return r;
  }
  health_.Add(*ms, now);
  auto app = ProbeStatementsInFlight(*canary_, OwnPids());
  if (app.ok()) inflight_.Add(*app, now);
  Limits limits = options_.limits();
  HealthSettings hs;
  hs.factor = limits.health_latency_factor;
  hs.floor = limits.health_latency_floor;
  hs.window = options_.health_window;
  HealthMonitor::Verdict v = health_.Evaluate(hs, now);
  HealthMonitor::Verdict a = inflight_.Evaluate(hs, now);
  // Either suffers: the application suffers; the detail names which.
  if (a.suffering && !v.suffering) v = a;
  else if (!v.suffering) v.detail += "; " + a.detail;
  v.suffering = v.suffering || a.suffering;
  // While it throttles, the detail is part of the reason: refreshed every
  // few seconds only, so the reason (logged when it changes) stays put.
  if (!v.suffering || !health_suffering_ || now - health_detail_at_ >= kHealthDetailRefresh) {
    health_detail_ = v.detail;
    health_detail_at_ = now;
  }
  health_suffering_ = v.suffering;
  r.value = v.suffering ? 1 : 0;
  r.detail = health_detail_;
  return r;
}

void Throttler::PollDue() {
  EnsureConnected();
  for (size_t i = 0; i < probes_.size(); ++i) {
    Probe& p = probes_[i];
    TimePoint now = Now();
    if (p.next_due && now < *p.next_due) continue;
    std::vector<Reading> got = p.run(now);
    p.next_due = now + p.interval;
    absl::MutexLock lock(&mu_);
    latest_[i] = std::move(got);
  }
  RecordDecision();
}

void Throttler::RecordDecision() {
  Decision d = current();
  if (d.reason == last_logged_reason_) return;
  if (d.reason.empty()) Log(LogLevel::kInfo, "throttle: released");
  else Log(d.abort ? LogLevel::kError : LogLevel::kInfo, "throttle: {}", d.reason);
  last_logged_reason_ = d.reason;
}

void Throttler::Loop() {
  try {
    while (!stop_) {
      PollDue();
      TimePoint now = Now();
      TimePoint due = now + kMaxSleep;
      for (const Probe& p : probes_)
        if (p.next_due) due = std::min(due, *p.next_due);
      auto wait = std::max(std::chrono::steady_clock::duration::zero(), due - now);
      absl::MutexLock lock(&mu_);
      if (!stop_) wake_.WaitWithTimeout(&mu_, absl::FromChrono(wait));
    }
  } catch (const std::exception& e) {
    // A stray exception must not end the process; the readings go stale and
    // the policy then throttles (fail safe).
    Log(LogLevel::kError, "throttler stopped: {}", e.what());
  }
}

Decision Throttler::current() const {
  Limits limits = options_.limits();
  bool paused = options_.operator_paused();
  std::vector<Reading> all = readings();
  return Decide(all, limits, paused, Now());
}

std::vector<Reading> Throttler::readings() const {
  absl::MutexLock lock(&mu_);
  std::vector<Reading> all;
  for (const auto& per_probe : latest_) all.insert(all.end(), per_probe.begin(), per_probe.end());
  all.insert(all.end(), reported_.begin(), reported_.end());
  return all;
}

void Throttler::Report(Reading reading) {
  absl::MutexLock lock(&mu_);
  std::erase_if(reported_, [&](const Reading& r) { return r.signal == reading.signal; });
  reported_.push_back(std::move(reading));
}

void Throttler::ClearReport(Signal signal) {
  absl::MutexLock lock(&mu_);
  std::erase_if(reported_, [&](const Reading& r) { return r.signal == signal; });
}

void Throttler::SetOwnPids(std::vector<int> pids) {
  absl::MutexLock lock(&mu_);
  own_pids_ = std::move(pids);
}

void Throttler::SetSlot(std::string slot) {
  absl::MutexLock lock(&mu_);
  slot_ = std::move(slot);
}

}  // namespace shadowcopy::throttler
