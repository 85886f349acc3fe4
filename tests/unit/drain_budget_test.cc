// The drain under a lock gives up at once when what it received cannot be
// replayed in the time its attempt has left (lock_gate.h).
#include <chrono>

#include "engine/rewrite/lock_gate.h"
#include "gtest/gtest.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;

TEST(DrainBudgetTest, SmallBacklogAlwaysGetsItsChance) {
  // 499 changes at 200 us would take ~100 ms, with nothing left: still tried.
  EXPECT_EQ(DrainWontFitWhy(kMinChangesToJudge - 1, 200, milliseconds(0)), "");
  EXPECT_EQ(DrainWontFitWhy(0, 25, milliseconds(-5)), "");
}

TEST(DrainBudgetTest, BacklogThatFitsGoesOn) {
  // 3,000 changes at 25 us: 75 ms, 80 ms left.
  EXPECT_EQ(DrainWontFitWhy(3000, 25, milliseconds(80)), "");
  EXPECT_EQ(DrainWontFitWhy(3200, 25, milliseconds(80)), "");  // exactly the time left
}

TEST(DrainBudgetTest, LargeTransactionGivesUpAndSaysWhy) {
  // A 5,000-row transaction at 25 us: 125 ms, 70 ms left.
  EXPECT_EQ(DrainWontFitWhy(5000, 25, milliseconds(70)),
            "5000 changes received (a large transaction) would take ~125 ms to replay, 70 ms are left");
  // Past the deadline already: 0 ms left, never negative.
  EXPECT_EQ(DrainWontFitWhy(600, 25, milliseconds(-3)),
            "600 changes received (a large transaction) would take ~15 ms to replay, 0 ms are left");
}

TEST(DrainBudgetTest, ReplayCostMovesWithLargeGroupsOnly) {
  // A small group is mostly its round trip: not a sample.
  EXPECT_DOUBLE_EQ(NextReplayCost(25, kMinChangesToMeasure - 1, 1e6), 25);
  // 1,000 changes in 10 ms: 10 us each, weighted 0.3.
  EXPECT_DOUBLE_EQ(NextReplayCost(25, 1000, 10000), 0.7 * 25 + 0.3 * 10);
  // One very slow group is capped at 200 us a change.
  EXPECT_DOUBLE_EQ(NextReplayCost(25, 1000, 5e6), 0.7 * 25 + 0.3 * 200);
}

}  // namespace
}  // namespace shadowcopy::engine
