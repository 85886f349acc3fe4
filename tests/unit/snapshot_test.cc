// Tests of the MVCC snapshot arithmetic behind the visibility rule
// (engine/table/snapshot.h): parsing pg_current_snapshot() text, Sees, widening
// decoded 32-bit xids, and VisibilityTracker.
#include "engine/table/snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace shadowcopy::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint64_t kEpoch = uint64_t{1} << 32;

Snapshot Snap(uint64_t xmin, uint64_t xmax, std::vector<uint64_t> xip = {}) {
  Snapshot s;
  s.xmin = xmin;
  s.xmax = xmax;
  s.xip = std::move(xip);
  return s;
}

// ---- ParseSnapshot ----

TEST(ParseSnapshotTest, ParsesXminXmaxAndSortedXip) {
  auto s = ParseSnapshot("10:20:15,12");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->xmin, 10u);
  EXPECT_EQ(s->xmax, 20u);
  EXPECT_THAT(s->xip, ElementsAre(12u, 15u));
}

TEST(ParseSnapshotTest, EmptyXipList) {
  auto s = ParseSnapshot("5:5:");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->xmin, 5u);
  EXPECT_EQ(s->xmax, 5u);
  EXPECT_THAT(s->xip, IsEmpty());
}

TEST(ParseSnapshotTest, FullXidsBeyond32Bits) {
  auto s = ParseSnapshot("4294967290:4294967306:4294967300");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->xmax, kEpoch + 10);
  EXPECT_THAT(s->xip, ElementsAre(kEpoch + 4));
}

TEST(ParseSnapshotTest, RejectsMalformedText) {
  for (const char* text : {"", "10", "10:20", "x:20:", "10:y:", "10:20:a", "10:20:12,,15",
                           "10:20:,12", "-1:20:", "10:20:12;15", "10 :20:", "10:20: 12",
                           "99999999999999999999:1:"}) {
    EXPECT_EQ(ParseSnapshot(text).status().code(), absl::StatusCode::kInternal) << text;
  }
}

// An exported logical-slot snapshot can have xmin > xmax.
TEST(ParseSnapshotTest, AcceptsXminAboveXmax) {
  auto s = ParseSnapshot("20:10:");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->xmin, 20u);
  EXPECT_EQ(s->xmax, 10u);
}

// ---- Sees ----

TEST(SnapshotTest, SeesBelowXminNotAtOrAboveXmax) {
  Snapshot s = Snap(10, 20, {12, 15});
  EXPECT_TRUE(s.Sees(1));
  EXPECT_TRUE(s.Sees(9));
  EXPECT_FALSE(s.Sees(20));
  EXPECT_FALSE(s.Sees(21));
}

TEST(SnapshotTest, BetweenXminAndXmaxSeesUnlessInProgress) {
  Snapshot s = Snap(10, 20, {12, 15});
  EXPECT_FALSE(s.Sees(12));
  EXPECT_FALSE(s.Sees(15));
  EXPECT_TRUE(s.Sees(10));
  EXPECT_TRUE(s.Sees(13));
  EXPECT_TRUE(s.Sees(19));
}

// Like XidInMVCCSnapshot: below xmin is visible before xmax is looked at.
TEST(SnapshotTest, XminAboveXmaxDecidesXminFirst) {
  Snapshot s = Snap(20, 10);
  EXPECT_TRUE(s.Sees(5));
  EXPECT_TRUE(s.Sees(15));
  EXPECT_FALSE(s.Sees(20));
}

// ---- WidenXid ----

TEST(WidenXidTest, EpochZero) {
  EXPECT_EQ(WidenXid(100, Snap(90, 200)), 100u);
  EXPECT_EQ(WidenXid(200, Snap(90, 200)), 200u);
}

TEST(WidenXidTest, SameEpochAsXmax) {
  EXPECT_EQ(WidenXid(5, Snap(kEpoch + 1, kEpoch + 10)), kEpoch + 5);
  EXPECT_EQ(WidenXid(10, Snap(kEpoch + 1, kEpoch + 10)), kEpoch + 10);
}

TEST(WidenXidTest, AcrossEpochBoundaryTakesPreviousEpoch) {
  // xmax just past the wrap; the xid was assigned at the end of epoch 0.
  Snapshot s = Snap(4294967200u, kEpoch + 10, {4294967290u});
  EXPECT_EQ(WidenXid(4294967290u, s), 4294967290u);
  EXPECT_EQ(WidenXid(0xFFFFFFFFu, s), 0xFFFFFFFFu);
  EXPECT_FALSE(s.Sees(WidenXid(4294967290u, s)));
  EXPECT_TRUE(s.Sees(WidenXid(4294967295u, s)));
}

TEST(WidenXidTest, LaterEpochs) {
  Snapshot s = Snap(3 * kEpoch + 5, 3 * kEpoch + 7);
  EXPECT_EQ(WidenXid(6, s), 3 * kEpoch + 6);
  EXPECT_EQ(WidenXid(0xFFFFFFF0u, s), 2 * kEpoch + 0xFFFFFFF0u);
}

// ---- VisibilityTracker ----

TEST(VisibilityTrackerTest, NothingPendingPasses) {
  VisibilityTracker t;
  EXPECT_TRUE(t.CheckAndClear(Snap(10, 20, {12})));
}

TEST(VisibilityTrackerTest, PendingXidStillInProgressFailsAndStays) {
  VisibilityTracker t;
  t.AddApplied(15);
  uint64_t waiting = 0;
  EXPECT_FALSE(t.CheckAndClear(Snap(10, 20, {15}), &waiting));
  EXPECT_EQ(waiting, 15u);
  EXPECT_EQ(t.pending(), 1u);
  EXPECT_FALSE(t.CheckAndClear(Snap(10, 20, {15})));
  EXPECT_EQ(t.pending(), 1u);
}

TEST(VisibilityTrackerTest, PendingXidAtOrAboveXmaxFails) {
  VisibilityTracker t;
  t.AddApplied(20);
  uint64_t waiting = 0;
  EXPECT_FALSE(t.CheckAndClear(Snap(10, 20), &waiting));
  EXPECT_EQ(waiting, 20u);
}

TEST(VisibilityTrackerTest, CompletedXidPassesAndIsCleared) {
  VisibilityTracker t;
  t.AddApplied(15);
  t.AddApplied(17);
  EXPECT_FALSE(t.CheckAndClear(Snap(10, 20, {15})));
  EXPECT_TRUE(t.CheckAndClear(Snap(16, 21, {18})));
  EXPECT_EQ(t.pending(), 0u);
  // Cleared: a later snapshot that would not see 15 passes too.
  EXPECT_TRUE(t.CheckAndClear(Snap(10, 20, {15})));
}

TEST(VisibilityTrackerTest, PendingXidFromPreviousEpochIsWidened) {
  VisibilityTracker t;
  t.AddApplied(0xFFFFFFF0u);
  EXPECT_FALSE(t.CheckAndClear(Snap(0xFFFFFFF0u, kEpoch + 3, {0xFFFFFFF0u})));
  EXPECT_TRUE(t.CheckAndClear(Snap(kEpoch + 1, kEpoch + 3)));
}

// Start-gap rule: a transaction the exported (consistent-point) snapshot
// sees is never streamed, so a batch snapshot that still has it in progress
// must fail.
TEST(VisibilityTrackerTest, StartSnapshotTransactionInProgressInBatchFails) {
  VisibilityTracker t;
  t.RequireSnapshot(Snap(10, 20, {12}));  // sees 15
  uint64_t waiting = 0;
  EXPECT_FALSE(t.CheckAndClear(Snap(10, 22, {15}), &waiting));
  EXPECT_EQ(waiting, 15u);
  // State unchanged: the same snapshot fails again.
  EXPECT_FALSE(t.CheckAndClear(Snap(10, 22, {15})));
}

TEST(VisibilityTrackerTest, StartSnapshotAllowsTransactionsItDidNotSee) {
  VisibilityTracker t;
  t.RequireSnapshot(Snap(10, 20, {12}));
  // 12 was in progress in the exported snapshot (it will be streamed), 21 is
  // newer than it: both may still run.
  EXPECT_TRUE(t.CheckAndClear(Snap(10, 25, {12, 21})));
}

TEST(VisibilityTrackerTest, BatchSnapshotOlderThanStartFails) {
  VisibilityTracker t;
  t.RequireSnapshot(Snap(10, 20));
  uint64_t waiting = 0;
  EXPECT_FALSE(t.CheckAndClear(Snap(10, 18), &waiting));
  EXPECT_EQ(waiting, 18u);
}

TEST(VisibilityTrackerTest, StartRuleDroppedAfterOnePass) {
  VisibilityTracker t;
  t.RequireSnapshot(Snap(10, 20));
  EXPECT_TRUE(t.CheckAndClear(Snap(20, 21)));
  EXPECT_TRUE(t.CheckAndClear(Snap(10, 22, {15})));
}

TEST(VisibilityTrackerTest, StartRuleAndPendingBothRequired) {
  VisibilityTracker t;
  t.RequireSnapshot(Snap(10, 20));
  t.AddApplied(21);
  EXPECT_FALSE(t.CheckAndClear(Snap(10, 22, {21})));
  EXPECT_FALSE(t.CheckAndClear(Snap(10, 22, {15})));
  EXPECT_EQ(t.pending(), 1u);
  EXPECT_TRUE(t.CheckAndClear(Snap(22, 23)));
}

TEST(VisibilityTrackerTest, DisabledAlwaysPasses) {
  VisibilityTracker t;
  t.set_enabled(false);
  t.RequireSnapshot(Snap(10, 20));
  t.AddApplied(15);
  EXPECT_TRUE(t.CheckAndClear(Snap(10, 12, {11})));
  EXPECT_EQ(t.pending(), 0u);
  t.AddApplied(50);
  EXPECT_TRUE(t.CheckAndClear(Snap(1, 2)));
}

}  // namespace
}  // namespace shadowcopy::engine
