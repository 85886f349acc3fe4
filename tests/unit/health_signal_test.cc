// The application's health signal, pure: the baseline, the sliding window,
// the threshold (a ratio to the baseline with a floor), hysteresis, and how
// the policy turns its reading into a decision with a reason.
#include <chrono>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "throttler/health.h"
#include "throttler/policy.h"

namespace shadowcopy::throttler {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);

HealthMonitor WithBaseline(const std::vector<double>& samples) {
  HealthMonitor m;
  for (double ms : samples) m.AddBaseline(ms);
  m.EndBaseline();
  return m;
}

// Feeds `ms` every 100 ms from `*t` for `count` samples; returns the last verdict.
HealthMonitor::Verdict Feed(HealthMonitor& m, const HealthSettings& s, TimePoint* t, double ms, int count) {
  HealthMonitor::Verdict v;
  for (int i = 0; i < count; ++i) {
    *t += milliseconds(100);
    m.Add(ms, *t);
    v = m.Evaluate(s, *t);
  }
  return v;
}

TEST(HealthPercentileTest, NearestRank) {
  EXPECT_EQ(Percentile({}, 95), 0);
  EXPECT_EQ(Percentile({7}, 95), 7);
  std::vector<double> v;
  for (int i = 1; i <= 20; ++i) v.push_back(i);
  EXPECT_EQ(Percentile(v, 50), 10);
  EXPECT_EQ(Percentile(v, 95), 19);
  EXPECT_EQ(Percentile(v, 100), 20);
}

TEST(HealthMonitorTest, NoBaselineNeverFires) {
  HealthMonitor m;
  m.EndBaseline();
  EXPECT_FALSE(m.has_baseline());
  TimePoint t = kT0;
  auto v = Feed(m, HealthSettings{}, &t, 5000, 50);
  EXPECT_FALSE(v.suffering);
  EXPECT_EQ(v.detail, "no baseline");
}

TEST(HealthMonitorTest, ThresholdIsFactorOrFloorWhicheverIsHigher) {
  HealthSettings s;  // factor 3, floor 20 ms
  {
    HealthMonitor m = WithBaseline({0.5, 0.6, 0.4, 0.5, 0.7});
    TimePoint t = kT0;
    auto v = Feed(m, s, &t, 0.5, 10);
    EXPECT_DOUBLE_EQ(v.threshold_ms, 0.7 + 20);  // the floor: 3 × 0.7 is only 2.1 ms
  }
  {
    HealthMonitor m = WithBaseline({30, 30, 40, 30, 30});
    TimePoint t = kT0;
    auto v = Feed(m, s, &t, 30, 10);
    EXPECT_DOUBLE_EQ(v.threshold_ms, 120);  // 3 × 40 ms
  }
}

TEST(HealthMonitorTest, LightNoiseOnAFastServerDoesNotFire) {
  HealthMonitor m = WithBaseline({0.4, 0.5, 0.4, 0.6, 0.5, 0.4, 0.5, 0.5, 0.4, 0.5});
  TimePoint t = kT0;
  // 10x the baseline, but within the floor: scheduler noise, not starvation.
  auto v = Feed(m, HealthSettings{}, &t, 4, 40);
  EXPECT_FALSE(v.suffering) << v.detail;
  // A busy machine's hiccups (a checkpoint's fsync, a scheduler delay): two
  // slow samples in a window of 30 are above p90's rank.
  m.Add(400, t += milliseconds(100));
  m.Add(60, t += milliseconds(100));
  v = Feed(m, HealthSettings{}, &t, 0.5, 1);
  EXPECT_FALSE(v.suffering) << v.detail;
}

// What a run at full speed on an idle but crowded machine looked like: the
// median barely moved, the tail's top two samples tripled.
TEST(HealthMonitorTest, TailHiccupsWithAStillMedianDoNotFire) {
  HealthMonitor m = WithBaseline({0.5, 0.4, 0.5, 0.6, 0.5, 12, 0.5, 0.4, 0.6, 0.5});
  TimePoint t = kT0;
  HealthMonitor::Verdict v;
  for (int i = 0; i < 60; ++i) {
    double ms = i % 15 == 0 ? 36 : i % 15 == 7 ? 20 : 0.7;
    m.Add(ms, t += milliseconds(100));
    v = m.Evaluate(HealthSettings{}, t);
    EXPECT_FALSE(v.suffering) << v.detail;
  }
}

// An application busy already at the baseline (hot keys: a wide tail) whose
// typical statement slows down: its p95 hides it, its median does not.
TEST(HealthMonitorTest, MedianRiseFiresUnderAWideBaselineTail) {
  HealthMonitor m = WithBaseline({8, 6, 9, 7, 1015, 8, 10, 7, 9, 8});
  TimePoint t = kT0;
  HealthSettings s;
  // Busy as at the baseline, with its stalls: healthy.
  HealthMonitor::Verdict v;
  for (int i = 0; i < 30; ++i) v = Feed(m, s, &t, i % 10 == 0 ? 900 : 9, 1);
  EXPECT_FALSE(v.suffering) << v.detail;
  // Every statement three and a half times slower, far below the tail's limit.
  v = Feed(m, s, &t, 30, 30);
  EXPECT_TRUE(v.suffering) << v.detail;
  EXPECT_LT(v.p90_ms, v.threshold_ms);
  EXPECT_DOUBLE_EQ(v.median_threshold_ms, 24);  // 3 × the baseline's p50 (8 ms)
  EXPECT_EQ(v.detail, "canary p90 30 ms vs baseline p95 1015 ms (limit 3045 ms); p50 30 ms vs 8.0 ms (limit 24 ms)");
  // Back to its usual: released.
  EXPECT_FALSE(Feed(m, s, &t, 9, 30).suffering);
}

TEST(HealthMonitorTest, FiresOnASlowWindowAndSaysWhy) {
  HealthMonitor m = WithBaseline({5, 6, 5, 6, 5});
  TimePoint t = kT0;
  auto v = Feed(m, HealthSettings{}, &t, 6, 30);
  EXPECT_FALSE(v.suffering);
  v = Feed(m, HealthSettings{}, &t, 48, 10);
  EXPECT_TRUE(v.suffering);
  EXPECT_EQ(v.p90_ms, 48);
  EXPECT_EQ(v.detail, "canary p90 48 ms vs baseline p95 6.0 ms (limit 26 ms); p50 6.0 ms vs 5.0 ms (limit 15 ms)");
}

TEST(HealthMonitorTest, HysteresisHoldsUntilHalfwayBack) {
  HealthMonitor m = WithBaseline({10, 10, 10, 10, 10});  // limit 30 ms, release below 20 ms
  HealthSettings s;
  s.window = milliseconds(1000);
  TimePoint t = kT0;
  EXPECT_TRUE(Feed(m, s, &t, 60, 10).suffering);
  // Below the limit but above the release point: still suffering.
  EXPECT_TRUE(Feed(m, s, &t, 25, 12).suffering);
  // Back near the baseline: released.
  EXPECT_FALSE(Feed(m, s, &t, 12, 12).suffering);
  // Again 25 ms: below the limit, so it does not fire anew.
  EXPECT_FALSE(Feed(m, s, &t, 25, 12).suffering);
}

TEST(HealthMonitorTest, OldSamplesLeaveTheWindow) {
  HealthMonitor m = WithBaseline({1, 1, 1, 1, 1});
  HealthSettings s;
  s.window = milliseconds(1000);
  TimePoint t = kT0;
  EXPECT_TRUE(Feed(m, s, &t, 100, 10).suffering);
  t += std::chrono::seconds(5);
  m.Add(1, t);
  auto v = m.Evaluate(s, t);
  EXPECT_EQ(v.samples, 1u);
  // Too few samples for a verdict: the last one holds until the window refills.
  EXPECT_TRUE(v.suffering);
  EXPECT_FALSE(Feed(m, s, &t, 1, 10).suffering);
}

TEST(HealthMonitorTest, FactorAndFloorApplyLive) {
  HealthMonitor m = WithBaseline({10, 10, 10, 10, 10});
  TimePoint t = kT0;
  HealthSettings s;
  EXPECT_TRUE(Feed(m, s, &t, 35, 30).suffering);  // > 30 ms
  HealthMonitor m2 = WithBaseline({10, 10, 10, 10, 10});
  s.factor = 5;
  EXPECT_FALSE(Feed(m2, s, &t, 35, 30).suffering);  // limit 50 ms
  s.factor = 1;
  s.floor = milliseconds(5);
  EXPECT_TRUE(Feed(m2, s, &t, 35, 1).suffering);  // limit 15 ms
}

Reading Health(double value, TimePoint at, std::string detail = "canary p95 48 ms vs baseline 6.0 ms") {
  Reading r;
  r.signal = Signal::kAppHealth;
  r.value = value;
  r.detail = std::move(detail);
  r.read_at = at;
  return r;
}

TEST(HealthPolicyTest, SufferingThrottlesWithTheReason) {
  Decision d = Decide({Health(1, kT0)}, Limits{}, false, kT0);
  EXPECT_TRUE(d.throttled);
  EXPECT_FALSE(d.abort);
  EXPECT_TRUE(d.app_health);
  EXPECT_EQ(d.reason, "throttled: application latency: canary p95 48 ms vs baseline 6.0 ms");
  EXPECT_EQ(d.health, "canary p95 48 ms vs baseline 6.0 ms");
}

TEST(HealthPolicyTest, HealthyRunsAndStillReportsTheCanary) {
  Decision d = Decide({Health(0, kT0, "canary p95 1.0 ms vs baseline 0.9 ms")}, Limits{}, false, kT0);
  EXPECT_FALSE(d.throttled);
  EXPECT_FALSE(d.app_health);
  EXPECT_EQ(d.health, "canary p95 1.0 ms vs baseline 0.9 ms");
}

TEST(HealthPolicyTest, OffIgnoresTheSignal) {
  Limits l;
  l.health_signal = false;
  Decision d = Decide({Health(1, kT0)}, l, false, kT0);
  EXPECT_FALSE(d.throttled);
  EXPECT_FALSE(d.app_health);
  EXPECT_EQ(d.health, "");
}

TEST(HealthPolicyTest, UnreadableCanaryThrottlesFailSafe) {
  Reading r;
  r.signal = Signal::kAppHealth;
  r.error = "connection lost";
  r.read_at = kT0;
  Decision d = Decide({r}, Limits{}, false, kT0);
  EXPECT_TRUE(d.throttled);
  EXPECT_THAT(d.reason, HasSubstr("application latency unreadable: connection lost"));
  EXPECT_FALSE(d.app_health);
}

}  // namespace
}  // namespace shadowcopy::throttler
