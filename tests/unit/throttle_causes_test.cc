// throttler::Decide names what holds the work as stable keys (the metrics'
// `reason` label): operator pause, each signal over its limit, unreadable
// or stale; nothing when running.
#include <chrono>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "throttler/policy.h"

namespace shadowcopy::throttler {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Reading At(Signal s, std::optional<double> v, TimePoint now) {
  Reading r;
  r.signal = s;
  r.value = v;
  r.read_at = now;
  return r;
}

TEST(ThrottleCausesTest, KeysInReasonOrder) {
  const TimePoint now = std::chrono::steady_clock::now();
  Limits limits;
  Decision d = Decide({At(Signal::kFlagFile, 1, now), At(Signal::kReplicaLag, 30, now),
                       At(Signal::kActiveBackends, 5, now)},
                      limits, /*operator_paused=*/true, now);
  EXPECT_TRUE(d.throttled);
  EXPECT_THAT(d.causes, ElementsAre("operator_pause", "flag_file", "replica_lag"));
}

TEST(ThrottleCausesTest, UnreadableStaleAndCritical) {
  const TimePoint now = std::chrono::steady_clock::now();
  Limits limits;
  limits.critical_replica_lag_s = 20;
  Decision d = Decide({At(Signal::kLockWaiters, std::nullopt, now),
                       At(Signal::kThrottleQuery, 1, now - std::chrono::minutes(5))},
                      limits, false, now);
  EXPECT_THAT(d.causes, ElementsAre("lock_waiters", "throttle_query"));
  d = Decide({At(Signal::kReplicaLag, 30, now)}, limits, false, now);
  EXPECT_TRUE(d.abort);
  EXPECT_THAT(d.causes, ElementsAre("replica_lag"));
}

TEST(ThrottleCausesTest, NoneWhenRunning) {
  const TimePoint now = std::chrono::steady_clock::now();
  Decision d = Decide({At(Signal::kFlagFile, 0, now), At(Signal::kReplicaLag, 1, now)}, Limits{}, false, now);
  EXPECT_FALSE(d.throttled);
  EXPECT_THAT(d.causes, IsEmpty());
  EXPECT_STREQ(SignalKey(Signal::kTableLock), "table_lock");
}

}  // namespace
}  // namespace shadowcopy::throttler
