// Throttle policy and chunk sizing, with fake durations and a fake clock:
// sizing toward the target batch time, back-off on throttle and gradual
// recovery, fixed mode, fail-safe on unreadable or stale signals, reason
// strings, critical limits → abort, the standby lag timeline, and the
// Throttler's decision with only the flag file and the operator's pause.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>
#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "throttler/chunk_sizer.h"
#include "throttler/policy.h"
#include "throttler/throttler.h"
#include "throttler/wal_timeline.h"

namespace shadowcopy::throttler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

SizingSettings Adaptive(int64_t min = 100, int64_t max = 100000, milliseconds target = milliseconds(500)) {
  SizingSettings s;
  s.fixed = false;
  s.min_size = min;
  s.max_size = max;
  s.target = target;
  return s;
}

// Simulates batches on a table copied at `rows_per_s`.
milliseconds TimeFor(int64_t rows, double rows_per_s) {
  return milliseconds(static_cast<int64_t>(rows / rows_per_s * 1000));
}

TEST(ChunkSizerTest, ConvergesToTargetFromBelowGradually) {
  ChunkSizer sizer(Adaptive(), 1000);
  const double rate = 20000;  // rows/s: the target size is 10000 rows at 500 ms
  int64_t previous = sizer.Next();
  for (int i = 0; i < 40; ++i) {
    int64_t n = sizer.Next();
    sizer.Observe(n, TimeFor(n, rate));
    EXPECT_LE(sizer.Next(), static_cast<int64_t>(previous * ChunkSizer::kMaxGrowth) + 1) << "grew too fast";
    previous = sizer.Next();
  }
  EXPECT_NEAR(sizer.Next(), 10000, 100);
}

TEST(ChunkSizerTest, ShrinksProportionallyWhenBatchesOverrun) {
  ChunkSizer sizer(Adaptive(), 50000);
  sizer.Observe(50000, seconds(5));  // 10000 rows/s: 5000 rows take 500 ms
  EXPECT_EQ(sizer.Next(), 5000);
}

TEST(ChunkSizerTest, StaysWithinBounds) {
  ChunkSizer sizer(Adaptive(200, 3000), 1000);
  for (int i = 0; i < 50; ++i) sizer.Observe(sizer.Next(), milliseconds(1));
  EXPECT_EQ(sizer.Next(), 3000);
  sizer.Observe(3000, seconds(100));
  EXPECT_EQ(sizer.Next(), 200);
  ChunkSizer clamped(Adaptive(200, 3000), 1);
  EXPECT_EQ(clamped.Next(), 200);
}

TEST(ChunkSizerTest, ThrottleCutsSharplyAndRecoveryIsGradual) {
  ChunkSizer sizer(Adaptive(100, 100000), 8000);
  sizer.OnThrottled();
  EXPECT_EQ(sizer.Next(), 2000);
  for (int i = 0; i < 10; ++i) sizer.OnThrottled();
  EXPECT_EQ(sizer.Next(), 100) << "never below min";
  // Recovery at 16000 rows/s (target 8000): several batches, each ≤ ×1.25.
  int steps = 0;
  while (sizer.Next() < 7900 && steps < 100) {
    int64_t before = sizer.Next();
    sizer.Observe(before, TimeFor(before, 16000));
    EXPECT_LE(sizer.Next(), static_cast<int64_t>(before * 1.25) + 1);
    ++steps;
  }
  EXPECT_GE(steps, 15) << "recovered too fast";
  EXPECT_LT(steps, 100) << "did not recover";
}

TEST(ChunkSizerTest, ZeroRowsAndZeroTimeAreHandled) {
  ChunkSizer sizer(Adaptive(), 1000);
  sizer.Observe(0, seconds(1));
  EXPECT_EQ(sizer.Next(), 1000) << "an empty batch tells nothing";
  sizer.Observe(1000, std::chrono::nanoseconds(0));
  EXPECT_EQ(sizer.Next(), 1250) << "too fast to measure: grow by the step";
}

TEST(ChunkSizerTest, FixedModeIgnoresObservationsAndThrottle) {
  SizingSettings s = Adaptive();
  s.fixed = true;
  s.fixed_size = 777;
  ChunkSizer sizer(s, 5000);
  sizer.Observe(777, seconds(10));
  sizer.OnThrottled();
  EXPECT_EQ(sizer.Next(), 777);
  EXPECT_TRUE(sizer.fixed());
}

TEST(ChunkSizerTest, ConfigureSwitchesBetweenFixedAndAdaptive) {
  ChunkSizer sizer(Adaptive(), 4000);
  SizingSettings fixed = Adaptive();
  fixed.fixed = true;
  fixed.fixed_size = 250;
  sizer.Configure(fixed);
  EXPECT_EQ(sizer.Next(), 250);
  // Back to adaptive: continues from the fixed size, then adapts.
  SizingSettings adaptive = Adaptive(100, 100000, milliseconds(1000));
  sizer.Configure(adaptive);
  EXPECT_FALSE(sizer.fixed());
  EXPECT_EQ(sizer.Next(), 250);
  sizer.Observe(250, milliseconds(2000));  // 125 rows/s, target 1 s → 125
  EXPECT_EQ(sizer.Next(), 125);
  sizer.Configure(adaptive);  // unchanged: no effect
  EXPECT_EQ(sizer.Next(), 125);
  sizer.Configure(Adaptive(300, 100000, milliseconds(1000)));  // new min clamps
  EXPECT_EQ(sizer.Next(), 300);
}

class PolicyTest : public ::testing::Test {
 protected:
  TimePoint now_ = TimePoint() + seconds(1000);

  Reading Make(Signal s, std::optional<double> v, std::string source = "") {
    Reading r;
    r.signal = s;
    r.value = v;
    r.source = std::move(source);
    r.read_at = now_;
    if (!v) r.error = "connection refused";
    return r;
  }
};

TEST_F(PolicyTest, NothingOverItsLimitRuns) {
  Limits l;
  l.max_replica_lag_s = 2;
  l.max_active = 50;
  auto d = Decide({Make(Signal::kReplicaLag, 1.9, "standby1"), Make(Signal::kActiveBackends, 50),
                   Make(Signal::kLockWaiters, 0), Make(Signal::kFlagFile, 0, "/tmp/f"),
                   Make(Signal::kThrottleQuery, 0), Make(Signal::kReplayLagBytes, 1000, "slot")},
                  l, false, now_);
  EXPECT_FALSE(d.throttled);
  EXPECT_FALSE(d.abort);
  EXPECT_EQ(d.reason, "");
}

TEST_F(PolicyTest, ReplicaLagReason) {
  Limits l;
  l.max_replica_lag_s = 2;
  auto d = Decide({Make(Signal::kReplicaLag, 3.2, "standby1")}, l, false, now_);
  EXPECT_TRUE(d.throttled);
  EXPECT_FALSE(d.abort);
  EXPECT_EQ(d.reason, "throttled: replica lag 3.2 s > 2 s on standby1");
}

TEST_F(PolicyTest, EverySignalHasAReason) {
  Limits l;
  l.max_active = 10;
  l.max_lock_waiters = 0;
  l.max_replay_lag_bytes = 1024 * 1024;
  Reading locks = Make(Signal::kLockWaiters, 2);
  locks.detail = "pid 7 waits for our pid 9";
  auto d = Decide({Make(Signal::kActiveBackends, 12), locks, Make(Signal::kFlagFile, 1, "/tmp/stop"),
                   Make(Signal::kThrottleQuery, 3), Make(Signal::kReplayLagBytes, 3.5 * 1024 * 1024, "s1")},
                  l, true, now_);
  EXPECT_TRUE(d.throttled);
  EXPECT_THAT(d.reason, HasSubstr("paused by operator"));
  EXPECT_THAT(d.reason, HasSubstr("active backends 12 > 10"));
  EXPECT_THAT(d.reason, HasSubstr("lock waiters 2 > 0 (pid 7 waits for our pid 9)"));
  EXPECT_THAT(d.reason, HasSubstr("flag file /tmp/stop exists"));
  EXPECT_THAT(d.reason, HasSubstr("throttle query returned 3"));
  EXPECT_THAT(d.reason, HasSubstr("replay lag 3.5 MB > 1.0 MB (slot s1)"));
  EXPECT_EQ(d.reason.rfind("throttled: paused by operator; ", 0), 0u) << d.reason;
}

TEST_F(PolicyTest, OperatorPauseAloneThrottles) {
  auto d = Decide({}, Limits{}, true, now_);
  EXPECT_TRUE(d.throttled);
  EXPECT_EQ(d.reason, "throttled: paused by operator");
}

TEST_F(PolicyTest, UnreadableSignalFailsSafe) {
  auto d = Decide({Make(Signal::kReplicaLag, std::nullopt, "standby1")}, Limits{}, false, now_);
  EXPECT_TRUE(d.throttled);
  EXPECT_FALSE(d.abort) << "an unreadable signal must not abort";
  EXPECT_EQ(d.reason, "throttled: replica lag unreadable on standby1: connection refused");
}

TEST_F(PolicyTest, StaleReadingFailsSafe) {
  Limits l;
  l.stale_after = seconds(10);
  Reading r = Make(Signal::kActiveBackends, 1);
  l.max_active = 100;
  r.read_at = now_ - seconds(30);
  auto d = Decide({r}, l, false, now_);
  EXPECT_TRUE(d.throttled);
  EXPECT_EQ(d.reason, "throttled: active backends not read for 30 s");
  r.read_at = now_ - seconds(9);
  EXPECT_FALSE(Decide({r}, l, false, now_).throttled);
}

TEST_F(PolicyTest, DisabledSignalsNeverThrottle) {
  Limits l;
  l.max_replica_lag_s = 0;
  l.max_active = 0;
  l.max_lock_waiters = -1;
  l.max_replay_lag_bytes = 0;
  auto d = Decide({Make(Signal::kReplicaLag, 100, "s"), Make(Signal::kActiveBackends, 1000),
                   Make(Signal::kLockWaiters, 5), Make(Signal::kReplayLagBytes, 1e12),
                   Make(Signal::kActiveBackends, std::nullopt)},
                  l, false, now_);
  EXPECT_FALSE(d.throttled) << d.reason;
}

TEST_F(PolicyTest, CriticalLimitAborts) {
  Limits l;
  l.max_replica_lag_s = 2;
  l.critical_replica_lag_s = 10;
  auto d = Decide({Make(Signal::kReplicaLag, 12, "standby1"), Make(Signal::kFlagFile, 1, "/f")}, l, false, now_);
  EXPECT_TRUE(d.abort);
  EXPECT_TRUE(d.throttled);
  EXPECT_EQ(d.reason, "critical: replica lag 12.0 s > critical 10 s on standby1");
  // Between the limits: throttled only.
  d = Decide({Make(Signal::kReplicaLag, 5, "standby1")}, l, false, now_);
  EXPECT_FALSE(d.abort);
  EXPECT_TRUE(d.throttled);
}

TEST_F(PolicyTest, CriticalWithoutThrottleLimitStillAborts) {
  Limits l;
  l.max_active = 0;
  l.critical_active = 100;
  EXPECT_FALSE(Decide({Make(Signal::kActiveBackends, 99)}, l, false, now_).throttled);
  auto d = Decide({Make(Signal::kActiveBackends, 101)}, l, false, now_);
  EXPECT_TRUE(d.abort);
  EXPECT_EQ(d.reason, "critical: active backends 101 > critical 100");
}

TEST(FormatBytesTest, HumanUnits) {
  EXPECT_EQ(FormatBytes(17), "17 B");
  EXPECT_EQ(FormatBytes(2048), "2.0 kB");
  EXPECT_EQ(FormatBytes(1.5 * 1024 * 1024 * 1024), "1.5 GB");
}

TEST(WalTimelineTest, LagIsTimeSinceFirstUnreplayedPosition) {
  WalTimeline t;
  TimePoint t0 = TimePoint() + seconds(100);
  t.Record(t0, 1000);
  t.Record(t0 + seconds(1), 2000);
  t.Record(t0 + seconds(2), 2000);  // no new WAL: not kept
  t.Record(t0 + seconds(3), 3000);
  EXPECT_DOUBLE_EQ(t.LagSeconds(3000, t0 + seconds(4)), 0) << "caught up";
  EXPECT_DOUBLE_EQ(t.LagSeconds(5000, t0 + seconds(4)), 0) << "ahead of the samples";
  EXPECT_DOUBLE_EQ(t.LagSeconds(2500, t0 + seconds(4)), 1) << "behind the t0+3 s sample";
  EXPECT_DOUBLE_EQ(t.LagSeconds(1500, t0 + seconds(4)), 3);
  EXPECT_DOUBLE_EQ(t.LagSeconds(10, t0 + seconds(4)), 4);
}

TEST(WalTimelineTest, KeepsBoundedHistory) {
  WalTimeline t(3);
  TimePoint t0;
  for (int i = 1; i <= 10; ++i) t.Record(t0 + seconds(i), i * 100);
  EXPECT_DOUBLE_EQ(t.LagSeconds(0, t0 + seconds(10)), 2) << "saturates at the oldest kept sample";
}

// The Throttler itself, without a database: the flag file and the pause,
// on a fake clock.
TEST(ThrottlerTest, FlagFileAndPauseWithFakeClock) {
  std::string flag = ::testing::TempDir() + "sc_throttle_flag_" + std::to_string(::getpid());
  std::remove(flag.c_str());
  TimePoint fake = TimePoint() + seconds(50);
  std::atomic<bool> paused{false};
  ThrottlerOptions o;
  o.probe_database = false;
  o.flag_file = flag;
  o.flag_interval = seconds(1);
  o.clock = [&fake] { return fake; };
  o.operator_paused = [&paused] { return paused.load(); };
  Throttler t(o);
  t.PollDue();
  EXPECT_FALSE(t.current().throttled) << t.current().reason;

  std::ofstream(flag) << "x";
  t.PollDue();  // not due yet on the fake clock: still the old reading
  EXPECT_FALSE(t.current().throttled);
  fake += seconds(1);
  t.PollDue();
  EXPECT_TRUE(t.current().throttled);
  EXPECT_EQ(t.current().reason, "throttled: flag file " + flag + " exists");

  std::remove(flag.c_str());
  fake += seconds(1);
  t.PollDue();
  EXPECT_FALSE(t.current().throttled);

  paused = true;  // takes effect at once, without a poll
  EXPECT_EQ(t.current().reason, "throttled: paused by operator");
  paused = false;

  fake += seconds(60);  // no poll for a minute: the reading is stale
  EXPECT_TRUE(t.current().throttled);
  EXPECT_THAT(t.current().reason, HasSubstr("not read for"));
}

TEST(ThrottlerTest, ReportedTableLockThrottlesUntilCleared) {
  TimePoint fake = TimePoint() + seconds(50);
  ThrottlerOptions o;
  o.probe_database = false;
  o.clock = [&fake] { return fake; };
  Throttler t(o);
  t.PollDue();
  EXPECT_FALSE(t.current().throttled);
  Reading r;
  r.signal = Signal::kTableLock;
  r.source = "public.orders";
  r.value = 1;
  r.detail = "AccessExclusiveLock held by pid 42";
  r.read_at = fake;
  t.Report(r);
  EXPECT_TRUE(t.current().throttled);
  EXPECT_EQ(t.current().reason,
            "throttled: the copy cannot lock public.orders (AccessExclusiveLock held by pid 42)");
  r.detail = "AccessExclusiveLock held by pid 43";
  t.Report(r);  // replaces the earlier report
  EXPECT_EQ(t.readings().size(), 1u);
  EXPECT_THAT(t.current().reason, HasSubstr("pid 43"));
  t.ClearReport(Signal::kTableLock);
  EXPECT_FALSE(t.current().throttled) << t.current().reason;
  EXPECT_TRUE(t.readings().empty());
}

TEST(ThrottlerTest, StartAndStopWithoutDatabase) {
  ThrottlerOptions o;
  o.probe_database = false;
  o.flag_file = "/nonexistent/dir/flag";
  o.flag_interval = milliseconds(10);
  Throttler t(o);
  ASSERT_TRUE(t.Start().ok());
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(t.current().throttled) << t.current().reason;
  t.Stop();
  t.Stop();
}

}  // namespace
}  // namespace shadowcopy::throttler
