// Throttler: a thread that polls every throttle signal on its own interval,
// on its own connections (statement_timeout set, read-only), and keeps the
// latest reading of each. current() applies the policy (policy.h) to those
// readings, the live limits and the operator's pause at the moment it is
// called, so a `pause` or a `set max-replica-lag` takes effect at once.
//
// The copy loop asks current() before each batch: throttled → do not copy
// (keep replaying), abort → stop the run with the reason.
//
// Thread-safety: current(), readings(), SetOwnPids(), SetSlot(), Report()
// and ClearReport() may be called from any thread. Start() and Stop() from
// the owning thread. The
// `limits` and `operator_paused` callbacks are called from any thread that
// calls current() (and from the polling thread) and must not call back into
// the Throttler.
#ifndef SHADOWCOPY_THROTTLER_THROTTLER_H_
#define SHADOWCOPY_THROTTLER_THROTTLER_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/pg.h"
#include "throttler/health.h"
#include "throttler/policy.h"
#include "throttler/wal_timeline.h"

namespace shadowcopy::throttler {

struct ThrottlerOptions {
  // The primary. false: no database probes at all (only the flag file and the
  // operator's pause; for tests).
  bool probe_database = true;
  ConnectOptions connect;       // application_name is set to shadowcopy_throttler
  std::string replica_dsn;      // --replica-dsn; "" none
  std::string throttle_query;   // --throttle-query; "" none
  std::string flag_file;        // --throttle-flag-file; "" none
  std::chrono::milliseconds statement_timeout{2000};
  std::chrono::milliseconds standby_interval{1000};
  std::chrono::milliseconds replica_interval{1000};
  std::chrono::milliseconds slot_interval{1000};
  std::chrono::milliseconds lock_interval{1000};  // raised to 1 s if lower (pg_blocking_pids)
  std::chrono::milliseconds active_interval{1000};
  std::chrono::milliseconds query_interval{1000};
  std::chrono::milliseconds flag_interval{250};
  // The application's health (health.h): a canary on its own connection,
  // with a baseline taken in Start(). Off: no canary, no baseline.
  bool health_probe = true;
  std::chrono::milliseconds canary_interval{100};
  std::chrono::milliseconds canary_timeout{1000};
  std::chrono::milliseconds health_baseline{1000};  // Start() samples this long
  // ... or this long (and at least 3 canary samples) when the database has
  // no application (ProbeDatabaseQuiet): its baseline is the idle server's,
  // however long it is taken. 0: always health_baseline.
  std::chrono::milliseconds health_baseline_quiet{300};
  std::chrono::milliseconds health_window{3000};
  // Live limits, read at every decision. Empty: Limits{}.
  std::function<Limits()> limits;
  // The operator's pause, read at every decision. Empty: never paused.
  std::function<bool()> operator_paused;
  // Injectable clock. Empty: std::chrono::steady_clock::now.
  std::function<TimePoint()> clock;
};

class Throttler {
 public:
  explicit Throttler(ThrottlerOptions options);
  ~Throttler();  // Stop()
  Throttler(const Throttler&) = delete;
  Throttler& operator=(const Throttler&) = delete;

  // Connects (an unreachable primary or replica is an error: the DSN is
  // wrong), runs one round of every probe on the calling thread (so
  // current() is meaningful at once), then starts the polling thread.
  // REQUIRES: not started.
  absl::Status Start();

  // Stops and joins the polling thread and closes its connections.
  // Idempotent; the last readings stay.
  void Stop();

  // The decision for now: readings + live limits + operator pause.
  Decision current() const;

  // The latest reading of every signal (for status and logs).
  std::vector<Reading> readings() const;

  // Backend pids of our own sessions, for the lock-wait signal. Any thread.
  void SetOwnPids(std::vector<int> pids);
  // Our replication slot, for the replay-lag signal (none until set). Any thread.
  void SetSlot(std::string slot);

  // A reading the engine observed itself (e.g. kTableLock while the copy
  // backs off from a lock); replaces an earlier report of the same signal
  // and counts in current() until cleared. Any thread.
  void Report(Reading reading);
  void ClearReport(Signal signal);

  // Runs every probe that is due (all of them on the first call) on the
  // calling thread. For tests, on a Throttler that was not started.
  void PollDue();

 private:
  struct Probe;
  void Loop();
  void EnsureConnected();
  void RecordDecision();
  void TakeHealthBaseline();
  std::vector<int> OwnPids() const;
  Reading ProbeHealth(TimePoint now);
  TimePoint Now() const { return options_.clock(); }

  // Immutable after construction.
  ThrottlerOptions options_;

  // Polling thread only (or the thread calling Start/PollDue before it runs).
  std::unique_ptr<PgConn> primary_;
  std::unique_ptr<PgConn> replica_;
  std::unique_ptr<PgConn> canary_;
  absl::Status primary_error_, replica_error_, canary_error_;
  HealthMonitor health_{"canary"};
  HealthMonitor inflight_{"statements in flight"};
  bool health_suffering_ = false;
  std::string health_detail_;
  TimePoint health_detail_at_{};
  WalTimeline timeline_;
  std::vector<Probe> probes_;
  std::string last_logged_reason_;

  std::thread thread_;
  std::atomic<bool> stop_{false};

  mutable absl::Mutex mu_;
  absl::CondVar wake_;                            // Stop() wakes the poller
  std::vector<std::vector<Reading>> latest_ ABSL_GUARDED_BY(mu_);  // per probe
  std::vector<int> own_pids_ ABSL_GUARDED_BY(mu_);
  std::string slot_ ABSL_GUARDED_BY(mu_);
  std::vector<Reading> reported_ ABSL_GUARDED_BY(mu_);
};

}  // namespace shadowcopy::throttler

#endif  // SHADOWCOPY_THROTTLER_THROTTLER_H_
