// Tests of the verification's key ranges cut at the copy's batches
// (engine/verify/verify_sql.h, BoundariesFromBatches).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "engine/verify/verify_sql.h"

namespace shadowcopy::engine::vsql {
namespace {

using K = std::vector<std::string>;

TEST(VerifyRangesFromBatches, MergesSmallBatchesUpToTheRangeSize) {
  std::vector<std::pair<K, int64_t>> batches = {
      {{"10"}, 10}, {{"20"}, 10}, {{"30"}, 10}, {{"40"}, 25}, {{"50"}, 5}};
  EXPECT_EQ(BoundariesFromBatches(batches, 30), (std::vector<K>{{"30"}, {"50"}}));
}

TEST(VerifyRangesFromBatches, ALargeBatchIsARangeOfItsOwn) {
  EXPECT_EQ(BoundariesFromBatches({{{"1"}, 100}, {{"2"}, 100}}, 30), (std::vector<K>{{"1"}, {"2"}}));
  EXPECT_EQ(BoundariesFromBatches({{{"a", "1"}, 5}, {{"b", "2"}, 100}, {{"c", "3"}, 5}}, 30),
            (std::vector<K>{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
}

TEST(VerifyRangesFromBatches, NoBatchNoBoundary) { EXPECT_TRUE(BoundariesFromBatches({}, 30).empty()); }

}  // namespace
}  // namespace shadowcopy::engine::vsql
