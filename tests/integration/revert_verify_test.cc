// The verification before the swap back, under the mirror workload: a
// difference that every repair brings back refuses the revert (one line,
// exit non-zero, both tables intact, the window ended cleanly); and a key
// whose type the ALTER changed (integer to bigint, mapped back) is still cut
// into key ranges.
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/revert_fixture.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class RevertVerifyTest : public RevertFixture {
 protected:
  // A two-minute window; the forward run's verification off (the revert's is
  // the one under test).
  std::vector<std::string> WindowArgs(std::vector<std::string> extra) const {
    std::vector<std::string> args{"--revert-window", "120s", "--revert-accept", "out-of-range", "--verify", "off"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Args(args);
  }
};

// A trigger on the old table changes one row's amount whenever it is
// written, by the reverse stream or by a repair: the difference persists.
// The revert is refused with one line and the run exits non-zero; the new
// table keeps its definition and every write, the old table is kept, the
// window is closed and its slot and publication are gone.
TEST_F(RevertVerifyTest, PersistingDifferenceRefusesTheRevert) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 300).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(WindowArgs({}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  const std::string old = OldTable();
  ASSERT_FALSE(old.empty());
  MustExec(db(), "CREATE FUNCTION sc_keeps_changing() RETURNS trigger LANGUAGE plpgsql AS "
                 "$$ BEGIN IF NEW.id = -5 THEN NEW.amount := NEW.amount + 1; END IF; RETURN NEW; END $$");
  MustExec(db(), fmt::format("CREATE TRIGGER sc_keeps_changing BEFORE INSERT OR UPDATE ON \"{}\" FOR EACH ROW "
                             "EXECUTE FUNCTION sc_keeps_changing()", old));
  // A row nobody else writes, in both mirror tables: replayed into the old
  // table, where the trigger changes it.
  MustExec(db(), "BEGIN; INSERT INTO orders (id, customer_id, status, amount, created_at) VALUES (-5, 1, 'kept', 10, '2020-01-01'); "
                 "INSERT INTO truth (id, customer_id, status, amount, created_at) VALUES (-5, 1, 'kept', 10, '2020-01-01'); COMMIT");
  std::this_thread::sleep_for(milliseconds(500));
  // With the table named, `revert` reads how the window ended once the run
  // has gone: refused, so it fails too.
  ProcessResult asked = RunShadowcopy({"revert", "--socket", socket_, "--table", "orders", "--dsn", dsn(), "--execute"},
                                      {}, nullptr, seconds(120));
  EXPECT_EQ(asked.exit_code, 1) << asked.Describe();
  EXPECT_EQ(asked.err.rfind("shadowcopy: error: not reverted: ", 0), 0u) << asked.Describe();
  EXPECT_NE(asked.err.find("revert refused"), std::string::npos) << asked.Describe();
  ProcessResult done = (*tool)->Wait(seconds(120));
  workload.Stop();
  ExpectFailedWithOneErrorLine(done);
  EXPECT_NE(done.err.find("revert refused"), std::string::npos) << done.Describe();
  EXPECT_EQ(done.err.find("revert done"), std::string::npos) << done.Describe();
  ExpectNoWorkloadErrors(workload);
  // The new table keeps its definition and every write.
  EXPECT_EQ(IdType(), "bigint");
  ASSERT_TRUE(TransformTruth(db(), "truth", kRevertAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  // The old table is kept, the window closed, its slot and publication gone.
  EXPECT_EQ(OldTable(), old);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) > 1000 FROM \"" + old + "\""), "t");
  EXPECT_EQ(QueryValue(db(), "SELECT state || ': ' || left(outcome, 22) FROM shadowcopy.revert_windows"),
            "closed: failed: revert refused");
  ExpectNothingLeftBehind("orders");
}

// The ALTER widened the key (integer to bigint): on the way back the key
// narrows, and the revert's verification still cuts the table into key
// ranges of --verify-range-rows, as the forward verification does, instead
// of comparing the whole table as one range.
TEST_F(RevertVerifyTest, WidenedKeyIsVerifiedInKeyRangesOnTheWayBack) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 300).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(WindowArgs({"--verify-range-rows", "500"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(500));
  ProcessResult asked = RunShadowcopy({"revert", "--socket", socket_, "--table", "orders", "--dsn", dsn(), "--execute"},
                                      {}, nullptr, seconds(120));
  EXPECT_EQ(asked.exit_code, 0) << asked.Describe();
  EXPECT_NE(asked.out.find("reverted: "), std::string::npos) << asked.Describe();
  ProcessResult done = (*tool)->Wait(seconds(120));
  workload.Stop();
  ExpectSucceeded(done);
  ExpectNoWorkloadErrors(workload);
  EXPECT_EQ(IdType(), "integer");
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(done.err.find("one range"), std::string::npos) << done.Describe();
  auto summary = LastLine(done.out);
  EXPECT_NE(summary.find("\"revert_verified\":true"), std::string::npos) << summary;
  EXPECT_GE(SummaryNumber(summary, "revert_verify_ranges").value_or(0), 5) << summary;
  EXPECT_EQ(SummaryNumber(summary, "revert_verify_mismatches").value_or(-1), 0) << summary;
}

}  // namespace
}  // namespace shadowcopy::it
