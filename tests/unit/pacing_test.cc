// The copy's pacing: the nice ratio's rest after each batch and the back-off
// after a lock the copy could not take.
#include "throttler/pacing.h"

#include <cmath>

#include "gtest/gtest.h"

namespace shadowcopy::throttler {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(NicePauseTest, RestsRatioTimesTheBatch) {
  EXPECT_EQ(NicePause(milliseconds(200), 1), milliseconds(200));
  EXPECT_EQ(NicePause(milliseconds(200), 0.5), milliseconds(100));
  EXPECT_EQ(NicePause(milliseconds(40), 2.5), milliseconds(100));
  EXPECT_EQ(NicePause(nanoseconds(3), 1.0 / 3), nanoseconds(1));
}

TEST(NicePauseTest, ZeroOffAndOutOfRangeInputs) {
  EXPECT_EQ(NicePause(milliseconds(200), 0), nanoseconds(0));
  EXPECT_EQ(NicePause(milliseconds(200), -1), nanoseconds(0));
  EXPECT_EQ(NicePause(milliseconds(200), std::nan("")), nanoseconds(0));
  EXPECT_EQ(NicePause(milliseconds(-5), 1), nanoseconds(0));
  EXPECT_EQ(NicePause(milliseconds(0), 1), nanoseconds(0));
  EXPECT_EQ(NicePause(milliseconds(10), 1e9), milliseconds(10) * static_cast<int>(kMaxNiceRatio));
}

TEST(LockBackoffTest, DoublesUpToTheCap) {
  const milliseconds first(100), cap(2000);
  EXPECT_EQ(LockBackoff(0, first, cap), milliseconds(0));
  EXPECT_EQ(LockBackoff(-3, first, cap), milliseconds(0));
  EXPECT_EQ(LockBackoff(1, first, cap), milliseconds(100));
  EXPECT_EQ(LockBackoff(2, first, cap), milliseconds(200));
  EXPECT_EQ(LockBackoff(3, first, cap), milliseconds(400));
  EXPECT_EQ(LockBackoff(5, first, cap), milliseconds(1600));
  EXPECT_EQ(LockBackoff(6, first, cap), milliseconds(2000));
  EXPECT_EQ(LockBackoff(1000000, first, cap), milliseconds(2000));
  EXPECT_EQ(LockBackoff(1, milliseconds(5000), cap), milliseconds(2000)) << "first above the cap";
}

}  // namespace
}  // namespace shadowcopy::throttler
