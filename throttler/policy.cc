#include "throttler/policy.h"

#include <cmath>

#include "fmt/format.h"

namespace shadowcopy::throttler {
namespace {

// A signal's throttle and critical limits; nullopt when off.
struct Bounds {
  std::optional<double> max;
  std::optional<double> critical;
};

Bounds BoundsFor(Signal signal, const Limits& l) {
  auto positive = [](double v) -> std::optional<double> {
    if (v > 0) return v;
    return std::nullopt;
  };
  switch (signal) {
    case Signal::kReplicaLag:
      return {positive(l.max_replica_lag_s), positive(l.critical_replica_lag_s)};
    case Signal::kReplayLagBytes:
      return {positive(static_cast<double>(l.max_replay_lag_bytes)),
              positive(static_cast<double>(l.critical_replay_lag_bytes))};
    case Signal::kLockWaiters:
      if (l.max_lock_waiters < 0) return {};
      return {static_cast<double>(l.max_lock_waiters), std::nullopt};
    case Signal::kActiveBackends:
      return {positive(static_cast<double>(l.max_active)),
              positive(static_cast<double>(l.critical_active))};
    case Signal::kAppHealth:
      if (!l.health_signal) return {};
      return {0.0, std::nullopt};
    case Signal::kThrottleQuery:
    case Signal::kFlagFile:
    case Signal::kTableLock:
      return {0.0, std::nullopt};  // any value > 0 throttles
  }
  return {};
}

std::string FormatValue(Signal signal, double v) {
  switch (signal) {
    case Signal::kReplicaLag:
      return fmt::format("{:.1f} s", v);
    case Signal::kReplayLagBytes:
      return FormatBytes(v);
    default:
      return fmt::format("{:g}", v);
  }
}

std::string FormatLimit(Signal signal, double v) {
  if (signal == Signal::kReplicaLag) return fmt::format("{:g} s", v);
  return FormatValue(signal, v);
}

std::string Where(const Reading& r) { return r.source.empty() ? "" : " on " + r.source; }
std::string Detail(const Reading& r) { return r.detail.empty() ? "" : " (" + r.detail + ")"; }

// Why `r` (over its limit `limit`) throttles, in words.
std::string OverLimit(const Reading& r, double limit, const char* op) {
  switch (r.signal) {
    case Signal::kFlagFile:
      return fmt::format("flag file {} exists", r.source);
    case Signal::kThrottleQuery:
      return fmt::format("throttle query returned {:g}", *r.value);
    case Signal::kTableLock:
      return fmt::format("the copy cannot lock {}{}", r.source, Detail(r));
    case Signal::kAppHealth:
      return fmt::format("application latency: {}", r.detail);
    case Signal::kReplayLagBytes:
      return fmt::format("replay lag {} {} {}{}", FormatValue(r.signal, *r.value), op,
                         FormatLimit(r.signal, limit), r.source.empty() ? "" : " (slot " + r.source + ")");
    default:
      return fmt::format("{} {} {} {}{}{}", SignalName(r.signal), FormatValue(r.signal, *r.value), op,
                         FormatLimit(r.signal, limit), Where(r), Detail(r));
  }
}

}  // namespace

const char* SignalKey(Signal signal) {
  switch (signal) {
    case Signal::kReplicaLag: return "replica_lag";
    case Signal::kReplayLagBytes: return "replay_lag";
    case Signal::kLockWaiters: return "lock_waiters";
    case Signal::kActiveBackends: return "active_backends";
    case Signal::kThrottleQuery: return "throttle_query";
    case Signal::kFlagFile: return "flag_file";
    case Signal::kTableLock: return "table_lock";
    case Signal::kAppHealth: return "app_health";
  }
  return "signal";
}

const char* SignalName(Signal signal) {
  switch (signal) {
    case Signal::kReplicaLag: return "replica lag";
    case Signal::kReplayLagBytes: return "replay lag";
    case Signal::kLockWaiters: return "lock waiters";
    case Signal::kActiveBackends: return "active backends";
    case Signal::kThrottleQuery: return "throttle query";
    case Signal::kFlagFile: return "flag file";
    case Signal::kTableLock: return "table lock";
    case Signal::kAppHealth: return "application latency";
  }
  return "signal";
}

std::string FormatBytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  int unit = 0;
  while (std::fabs(bytes) >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{:.0f} B", bytes);
  return fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

Decision Decide(const std::vector<Reading>& readings, const Limits& limits, bool operator_paused,
                TimePoint now) {
  std::vector<std::string> why;
  std::vector<std::string> critical;
  std::vector<std::string> causes;
  bool app_health = false;
  std::string health;
  if (operator_paused) why.push_back("paused by operator"), causes.push_back("operator_pause");
  for (const Reading& r : readings) {
    Bounds b = BoundsFor(r.signal, limits);
    if (!b.max && !b.critical) continue;  // signal off
    if (r.signal == Signal::kAppHealth) {
      health = r.value ? r.detail : "";
      app_health = r.value && *r.value > 0;
    }
    if (!r.value) {
      why.push_back(fmt::format("{} unreadable{}{}", SignalName(r.signal), Where(r),
                                r.error.empty() ? "" : ": " + r.error));
      causes.push_back(SignalKey(r.signal));
      continue;
    }
    double age = std::chrono::duration<double>(now - r.read_at).count();
    if (age > std::chrono::duration<double>(limits.stale_after).count()) {
      why.push_back(fmt::format("{}{} not read for {:.0f} s", SignalName(r.signal), Where(r), age));
      causes.push_back(SignalKey(r.signal));
      continue;
    }
    if (b.critical && *r.value > *b.critical) {
      critical.push_back(OverLimit(r, *b.critical, "> critical"));
      causes.push_back(SignalKey(r.signal));
    } else if (b.max && *r.value > *b.max) {
      why.push_back(OverLimit(r, *b.max, ">"));
      causes.push_back(SignalKey(r.signal));
    }
  }
  Decision d;
  d.health = health;
  d.app_health = app_health;
  if (!critical.empty()) {
    d.abort = d.throttled = true;
    d.reason = "critical: " + fmt::format("{}", fmt::join(critical, "; "));
  } else if (!why.empty()) {
    d.throttled = true;
    d.reason = "throttled: " + fmt::format("{}", fmt::join(why, "; "));
  }
  if (d.throttled) d.causes = std::move(causes);
  return d;
}

}  // namespace shadowcopy::throttler
