#include "engine/rewrite/lock_conflicts.h"

#include <array>

#include "gtest/gtest.h"

namespace shadowcopy::engine {
namespace {

constexpr std::array<LockMode, 8> kAll{
    LockMode::kAccessShare, LockMode::kRowShare,          LockMode::kRowExclusive, LockMode::kShareUpdateExclusive,
    LockMode::kShare,       LockMode::kShareRowExclusive, LockMode::kExclusive,    LockMode::kAccessExclusive};

// The documentation's "Conflicting Lock Modes" table, row by row (X: conflicts).
constexpr std::array<const char*, 8> kDocumented{
    ".......X",  // ACCESS SHARE
    "......XX",  // ROW SHARE
    "....XXXX",  // ROW EXCLUSIVE
    "...XXXXX",  // SHARE UPDATE EXCLUSIVE
    "..XX.XXX",  // SHARE
    "..XXXXXX",  // SHARE ROW EXCLUSIVE
    ".XXXXXXX",  // EXCLUSIVE
    "XXXXXXXX",  // ACCESS EXCLUSIVE
};

TEST(LockConflictsTest, MatchesPostgresTable) {
  for (size_t i = 0; i < kAll.size(); ++i)
    for (size_t j = 0; j < kAll.size(); ++j)
      EXPECT_EQ(LocksConflict(kAll[i], kAll[j]), kDocumented[i][j] == 'X')
          << LockModeName(kAll[i]) << " vs " << LockModeName(kAll[j]);
}

TEST(LockConflictsTest, Symmetric) {
  for (auto a : kAll)
    for (auto b : kAll) EXPECT_EQ(LocksConflict(a, b), LocksConflict(b, a));
}

TEST(LockConflictsTest, WritersAgainstOurRequests) {
  // A FOR SHARE reader (ROW SHARE) blocks the cutover, not a consistency point.
  EXPECT_TRUE(LocksConflict(LockMode::kAccessExclusive, LockMode::kRowShare));
  EXPECT_FALSE(LocksConflict(LockMode::kShare, LockMode::kRowShare));
  EXPECT_TRUE(LocksConflict(LockMode::kShare, LockMode::kRowExclusive));
  EXPECT_FALSE(LocksConflict(LockMode::kShare, LockMode::kAccessShare));
}

TEST(LockConflictsTest, ParsesPgLocksNames) {
  EXPECT_EQ(ParseLockMode("RowShareLock"), LockMode::kRowShare);
  EXPECT_EQ(ParseLockMode("AccessExclusiveLock"), LockMode::kAccessExclusive);
  EXPECT_EQ(ParseLockMode("ShareUpdateExclusiveLock"), LockMode::kShareUpdateExclusive);
  EXPECT_EQ(ParseLockMode("SIReadLock"), std::nullopt);
  for (auto m : kAll) EXPECT_FALSE(LockModeName(m).empty());
}

LockHolder Holder(int pid, const char* mode, bool granted, double age_ms) {
  LockHolder h;
  h.pid = pid;
  h.mode = mode;
  h.granted = granted;
  h.xact_age_ms = age_ms;
  h.application_name = "app";
  h.usename = "alice";
  h.query = "SELECT * FROM orders FOR SHARE";
  return h;
}

TEST(LockConflictsTest, FirstBlocker) {
  const double young = 50;
  // Nothing, or only what does not conflict.
  EXPECT_FALSE(FirstBlocker({}, LockMode::kAccessExclusive, young));
  EXPECT_FALSE(FirstBlocker({Holder(1, "RowShareLock", true, 5000)}, LockMode::kShare, young));
  // An old conflicting holder blocks; a young one is an ordinary writer.
  EXPECT_EQ(FirstBlocker({Holder(1, "RowShareLock", true, 5000)}, LockMode::kAccessExclusive, young)->pid, 1);
  EXPECT_FALSE(FirstBlocker({Holder(2, "RowExclusiveLock", true, 3)}, LockMode::kShare, young));
  EXPECT_EQ(FirstBlocker({Holder(2, "RowExclusiveLock", true, 300)}, LockMode::kShare, young)->pid, 2);
  // Unknown age: taken as old.
  EXPECT_EQ(FirstBlocker({Holder(3, "AccessShareLock", true, -1)}, LockMode::kAccessExclusive, young)->pid, 3);
  // A conflicting waiter, however young, is ahead of us in the queue.
  EXPECT_EQ(FirstBlocker({Holder(1, "RowShareLock", true, 5000), Holder(4, "AccessExclusiveLock", false, 1)},
                         LockMode::kShare, young)->pid, 4);
  // The oldest holder is named.
  EXPECT_EQ(FirstBlocker({Holder(5, "RowShareLock", true, 100), Holder(6, "AccessShareLock", true, 9000)},
                         LockMode::kAccessExclusive, young)->pid, 6);
}

TEST(LockConflictsTest, DescribeHolder) {
  EXPECT_EQ(DescribeHolder(Holder(42, "RowShareLock", true, 2100)),
            "pid 42 (application app, user alice) holding ROW SHARE for 2.1 s: SELECT * FROM orders FOR SHARE");
  LockHolder w = Holder(7, "AccessExclusiveLock", false, -1);
  w.application_name.clear();
  w.query = "ALTER TABLE orders\nADD x int";
  EXPECT_EQ(DescribeHolder(w), "pid 7 (application -, user alice) waiting for ACCESS EXCLUSIVE: ALTER TABLE orders ADD x int");
}

TEST(LockConflictsTest, BlockedTimeSumsAttempts) {
  BlockedTime t;
  t.Add(50, false);
  t.Add(12, true);
  EXPECT_EQ(t.attempts, 2);
  EXPECT_EQ(t.failed, 1);
  EXPECT_DOUBLE_EQ(t.total_ms, 62);
  EXPECT_DOUBLE_EQ(t.max_ms, 50);
}

}  // namespace
}  // namespace shadowcopy::engine
