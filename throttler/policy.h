// The throttle policy: from the latest reading of every signal, the limits
// and the operator's pause, decides whether the copy runs, waits (throttled)
// or aborts (a critical limit crossed), and says why in one line
// ("throttled: replica lag 3.2 s > 2 s on standby1").
//
// Fail safe: a signal that could not be read, or whose latest reading is
// older than `Limits::stale_after`, counts as over its limit (the copy waits,
// never aborts, for it). A limit of 0 (or < 0 where noted) disables a signal.
//
// Pure logic: no clock (the caller passes `now`), no I/O.
// Thread-safety: stateless functions over values.
#ifndef SHADOWCOPY_THROTTLER_POLICY_H_
#define SHADOWCOPY_THROTTLER_POLICY_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shadowcopy::throttler {

using TimePoint = std::chrono::steady_clock::time_point;

enum class Signal {
  kReplicaLag,      // seconds; a physical standby, or the --replica-dsn server
  kReplayLagBytes,  // bytes of WAL our own slot has not confirmed
  kLockWaiters,     // lock waits between the application and our sessions
  kActiveBackends,  // active client backends
  kThrottleQuery,   // the --throttle-query's number; > 0 throttles
  kFlagFile,        // 1 when the --throttle-flag-file exists
  kTableLock,       // 1 while the copy backs off from a lock it could not take
  kAppHealth,       // 1 while the canary's latency says the application suffers (health.h)
};

// Human name used in reasons ("replica lag").
const char* SignalName(Signal signal);
// Stable machine name ("replica_lag"), e.g. a metrics label value.
const char* SignalKey(Signal signal);

// The latest reading of one signal from one source.
struct Reading {
  Signal signal = Signal::kReplicaLag;
  std::string source;           // "standby1", a file name, ""; shown in reasons
  std::optional<double> value;  // nullopt: could not be read
  std::string error;            // why it could not be read
  std::string detail;           // shown after the reason, e.g. "pid 7 waits for our pid 9"
  TimePoint read_at{};
};

struct Limits {
  double max_replica_lag_s = 10;         // 0: off
  int64_t max_lock_waiters = 0;          // throttles when waits > this; < 0: off
  int64_t max_active = 0;                // 0: off
  int64_t max_replay_lag_bytes = int64_t{1} << 30;  // 0: off
  double critical_replica_lag_s = 0;     // abort above; 0: off
  int64_t critical_active = 0;           // abort above; 0: off
  int64_t critical_replay_lag_bytes = 0; // abort above; 0: off
  std::chrono::milliseconds stale_after{15000};  // older readings count as unreadable
  // The application's health (health.h): on by default.
  bool health_signal = true;
  double health_latency_factor = 3;               // canary p95 > factor × baseline p95 ...
  std::chrono::milliseconds health_latency_floor{20};  // ... and > baseline p95 + floor
};

struct Decision {
  bool throttled = false;  // the copy must wait (replay goes on)
  bool abort = false;      // a critical limit was crossed: stop the run
  // "" when running; "throttled: <why>[; <why>...]"; "critical: <why>" on abort.
  std::string reason;
  // What holds the work, as stable keys (SignalKey, or "operator_pause"), in
  // the order of `reason`; empty when running.
  std::vector<std::string> causes;
  // The application's health signal is among the reasons (the replay is
  // paced too, within the slot's bounds).
  bool app_health = false;
  // The health signal's latest detail ("canary p95 2.1 ms vs baseline 1.0 ms
  // ..."), throttling or not; "" when off or not measured.
  std::string health;
};

// Decides from `readings` (any order; several per signal allowed).
Decision Decide(const std::vector<Reading>& readings, const Limits& limits, bool operator_paused,
                TimePoint now);

// "1.5 GB", "300 MB", "12 kB", "17 B" (powers of 1024, as PostgreSQL's
// pg_size_pretty).
std::string FormatBytes(double bytes);

}  // namespace shadowcopy::throttler

#endif  // SHADOWCOPY_THROTTLER_POLICY_H_
