// The verification's key ranges cut where the copy's batches ended (no scan
// of the key index to find boundaries): consecutive batches merged up to
// --verify-range-rows, and a range found different still repaired exactly.
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class VerifyRangesTest : public DatabaseTest {
 protected:
  double Summary(const ProcessResult& result, const char* key) {
    auto v = SummaryNumber(LastLine(result.out), key);
    EXPECT_TRUE(v.has_value()) << "no " << key << " in: " << LastLine(result.out);
    return v.value_or(-1);
  }
};

// 20,000 rows in batches of 1,000 (20 with an upper key) merged two by two
// into ranges of up to 2,500 rows: 10 boundaries, 11 ranges (cut every 2,500
// keys instead, there would be 9).
TEST_F(VerifyRangesTest, RangesFollowTheCopysBatches) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000).ok());
  ProcessResult r = RunShadowcopy(
      ToolArgs("orders", {"--execute", "--chunk-size", "1000", "--verify-range-rows", "2500"}), {}, nullptr,
      seconds(120));
  ExpectSucceeded(r);
  EXPECT_EQ(Summary(r, "batches"), 21) << r.Describe();
  EXPECT_EQ(Summary(r, "verify_ranges"), 11) << r.Describe();
  EXPECT_EQ(Summary(r, "verify_mismatches"), 0);
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

TEST_F(VerifyRangesTest, CorruptedRangeIsRepairedUnderLoad) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ASSERT_TRUE(workload.Start().ok());
  std::this_thread::sleep_for(milliseconds(300));
  ProcessResult r = RunShadowcopy(
      ToolArgs("orders", {"--execute", "--chunk-size", "1000", "--verify-range-rows", "2500"}),
      {{"SHADOWCOPY_TEST_CORRUPT", "once"}}, TrackCopyPhase(&workload), seconds(120));
  workload.SetCopyPhaseActive(false);
  std::this_thread::sleep_for(milliseconds(300));
  workload.Stop();
  ExpectSucceeded(r);
  ExpectNoWorkloadErrors(workload);
  EXPECT_NE(r.err.find("test hook: corrupted 1 row(s)"), std::string::npos) << r.Describe();
  EXPECT_EQ(Summary(r, "verify_repaired"), 1) << r.Describe();
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

}  // namespace
}  // namespace shadowcopy::it
