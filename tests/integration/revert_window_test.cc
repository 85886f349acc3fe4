// The revert window: after the cutover a reverse stream keeps the old table
// current, and `ctl revert` swaps it back without losing a write — under the
// mirror workload, with exact contents checked against the truth table.
// Also: the window that simply ends (reverse slot and publication dropped,
// the old table equal to the untransformed truth), a value that cannot go
// back (bigint beyond integer) stopping the window with one clear message and
// nothing lost, the dry run naming the risk, a refused --revert-window, and a
// kill -9 during the window followed by --resume.
#include <signal.h>
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

class RevertWindowTest : public RevertFixture {
 protected:
  std::string RegionColumns() {
    return QueryValue(db(), "SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                            "AND attname = 'region' AND NOT attisdropped");
  }
  ProcessResult Ctl(const std::string& verb) {
    return RunShadowcopy({"ctl", "--socket", socket_, verb}, {}, nullptr, seconds(10));
  }
};

// Rewrite with a window, writes after the cutover, revert: the table has its
// old schema and every write (equal to the untransformed truth), no writer
// saw an error, nothing of the run is left.
TEST_F(RevertWindowTest, RevertUnderLoadKeepsEveryWrite) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 300).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(Args({"--revert-window", "120s", "--revert-accept", "out-of-range"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  EXPECT_EQ(IdType(), "bigint");
  std::this_thread::sleep_for(milliseconds(1500));  // writes into the new table
  ProcessResult dry = RunShadowcopy({"revert", "--socket", socket_}, {}, nullptr, seconds(10));
  EXPECT_NE(dry.out.find("dry run"), std::string::npos) << dry.Describe();
  AskRevert(seconds(60));
  ProcessResult done = (*tool)->Wait(seconds(60));
  std::this_thread::sleep_for(milliseconds(500));  // writes into the old table, back in place
  workload.Stop();
  ExpectSucceeded(done);
  ExpectNoWorkloadErrors(workload);
  EXPECT_EQ(IdType(), "integer");
  EXPECT_EQ(RegionColumns(), "0");
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
  EXPECT_NE(done.err.find("revert done"), std::string::npos) << done.Describe();
  auto summary = LastLine(done.out);
  EXPECT_NE(summary.find("\"reverted\":true"), std::string::npos) << summary;
  EXPECT_NE(summary.find("\"revert_verified\":true"), std::string::npos) << summary;
  EXPECT_EQ(SummaryNumber(summary, "revert_verify_mismatches").value_or(-1), 0) << summary;
  std::cerr << "blocked: cutover " << SummaryNumber(summary, "blocked_ms").value_or(-1) << " ms, revert "
            << SummaryNumber(summary, "revert_blocked_ms").value_or(-1) << " ms\n";
}

// A row of the old table that the reverse stream never wrote (a stray
// insert made directly into it during the window) is found by the
// verification before the swap back and repaired: after the revert the table
// equals the truth exactly.
TEST_F(RevertWindowTest, RevertVerifiesAndRepairsTheOldTable) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 300).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(Args({"--revert-window", "120s", "--revert-accept", "out-of-range"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(500));
  MustExec(db(), fmt::format("INSERT INTO \"{}\" (id, customer_id, status, amount) VALUES (-7, 1, 'stray', 1)",
                             OldTable()));
  AskRevert(seconds(60));
  ProcessResult done = (*tool)->Wait(seconds(60));
  workload.Stop();
  ExpectSucceeded(done);
  ExpectNoWorkloadErrors(workload);
  EXPECT_EQ(IdType(), "integer");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE id = -7"), "0");
  ExpectMirrorEqual(db(), "orders", "truth");
  EXPECT_NE(done.err.find("revert: verified"), std::string::npos) << done.Describe();
  EXPECT_NE(done.err.find("repaired range"), std::string::npos) << done.Describe();
  auto summary = LastLine(done.out);
  EXPECT_NE(summary.find("\"revert_verified\":true"), std::string::npos) << summary;
  EXPECT_GE(SummaryNumber(summary, "revert_verify_mismatches").value_or(0), 1) << summary;
}

// A health check that starts failing after the cutover reverts the run by
// itself: exit non-zero with one line saying why, the old schema back, every
// write kept.
TEST_F(RevertWindowTest, FailingHealthCheckReverts) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 300).ok());
  MustExec(db(), "CREATE TABLE app_alarm (raised boolean)");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(Args({"--revert-window", "120s", "--revert-accept", "out-of-range",
                                             "--health-check", "SELECT NOT EXISTS (SELECT 1 FROM app_alarm)",
                                             "--health-interval", "200ms", "--health-max-failures", "2"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(1000));  // healthy: the window stays open
  EXPECT_EQ(IdType(), "bigint");
  MustExec(db(), "INSERT INTO app_alarm VALUES (true)");
  ProcessResult done = (*tool)->Wait(seconds(60));
  std::this_thread::sleep_for(milliseconds(300));
  workload.Stop();
  ExpectFailedWithOneErrorLine(done);
  EXPECT_NE(done.err.find("health check failed"), std::string::npos) << done.Describe();
  EXPECT_NE(done.err.find("reverted"), std::string::npos) << done.Describe();
  ExpectNoWorkloadErrors(workload);
  EXPECT_EQ(IdType(), "integer");
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

// The window ends by itself: the reverse slot and publication are dropped,
// the new table stays, and the old one equals the untransformed truth.
TEST_F(RevertWindowTest, WindowEndsAndOldTableFollowed) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 300).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(Args({"--revert-window", "4s", "--revert-accept", "out-of-range"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(1500));  // writes into the new table, replayed back
  workload.Stop();  // before the window closes: the old table must then hold every write
  ProcessResult done = (*tool)->Wait(seconds(60));
  ExpectSucceeded(done);
  ExpectNoWorkloadErrors(workload);
  ExpectNothingLeftBehind("orders");
  EXPECT_NE(done.err.find("revert window closed"), std::string::npos) << done.Describe();
  std::string old = OldTable();
  ASSERT_FALSE(old.empty());
  EXPECT_EQ(IdType(), "bigint");
  ExpectMirrorEqual(db(), old, "truth");
  ASSERT_TRUE(TransformTruth(db(), "truth", kRevertAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
}

// int -> bigint and a value beyond integer written after the cutover: the
// reverse stream stops with one clear message, both tables are intact and
// nothing written is lost.
TEST_F(RevertWindowTest, ValueBeyondIntegerStopsTheWindow) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 1000, 300).ok());
  auto tool = ShadowcopyProcess::Start(Args({"--revert-window", "60s", "--revert-accept", "out-of-range"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(db(), "INSERT INTO orders (id, customer_id, status, amount) VALUES (3000000000, 1, 'big', 1.00)");
  ProcessResult done = (*tool)->Wait(seconds(60));
  ExpectFailedWithOneErrorLine(done);
  EXPECT_NE(done.err.find("the revert window stopped"), std::string::npos) << done.Describe();
  EXPECT_NE(done.err.find("out of range"), std::string::npos) << done.Describe();
  EXPECT_EQ(QueryValue(db(), "SELECT status FROM orders WHERE id = 3000000000"), "big");
  EXPECT_FALSE(OldTable().empty());
  ExpectNothingLeftBehind("orders");
}

// The dry run names the risks of the way back; --revert-window refuses an
// ALTER with one that is not accepted, and creates nothing.
TEST_F(RevertWindowTest, DryRunNamesRisksAndWindowIsRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 100, 300).ok());
  ProcessResult dry = RunShadowcopy(ToolArgs("orders", {"--alter", "ALTER COLUMN status TYPE varchar(40), "
                                                        "ALTER COLUMN customer_id TYPE bigint, DROP COLUMN note"}));
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_NE(dry.out.find("revertible:  no"), std::string::npos) << dry.Describe();
  EXPECT_NE(dry.out.find("[out-of-range] \"customer_id\""), std::string::npos) << dry.Describe();
  EXPECT_NE(dry.out.find("way back: \"note\""), std::string::npos) << dry.Describe();
  ProcessResult scale = RunShadowcopy(ToolArgs("orders", {"--alter", "ALTER COLUMN amount TYPE numeric(14,4)"}));
  EXPECT_NE(scale.out.find("[narrowing] \"amount\""), std::string::npos) << scale.Describe();
  ProcessResult clean = RunShadowcopy(ToolArgs("orders", {"--alter", "ALTER COLUMN status TYPE varchar(40)"}));
  EXPECT_NE(clean.out.find("revertible:  yes"), std::string::npos) << clean.Describe();
  ProcessResult refused = RunShadowcopy(Args({"--revert-window", "60s"}));
  ExpectFailedWithOneErrorLine(refused);
  EXPECT_NE(refused.err.find("--revert-accept out-of-range"), std::string::npos) << refused.Describe();
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(IdType(), "integer");
}

// kill -9 during the window, then --resume: the reverse stream continues from
// its recorded position and a revert brings every write back.
TEST_F(RevertWindowTest, KillDuringWindowThenResume) {
  expect_clean_at_teardown_ = false;
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 300).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto window = std::vector<std::string>{"--revert-window", "120s", "--revert-accept", "out-of-range"};
  auto tool = ShadowcopyProcess::Start(Args(window));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(800));
  (*tool)->Signal(SIGKILL);
  (*tool)->Wait(seconds(30));
  ::unlink(socket_.c_str());
  ASSERT_TRUE(PollUntilTrue(db(), "SELECT NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE active "
                                  "AND slot_name LIKE 'shadowcopy%' AND database = current_database())", seconds(10)));
  std::this_thread::sleep_for(milliseconds(500));  // writes while nobody replays
  window.push_back("--resume");
  auto resumed = ShadowcopyProcess::Start(Args(window));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE((*resumed)->WaitForStderr("revert window open", seconds(60))) << (*resumed)->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(500));
  ProcessResult asked = Ctl("revert");
  EXPECT_NE(asked.out.find("ok: revert requested"), std::string::npos) << asked.Describe();
  ProcessResult done = (*resumed)->Wait(seconds(60));
  std::this_thread::sleep_for(milliseconds(300));
  workload.Stop();
  EXPECT_EQ(done.exit_code, 0) << done.Describe();
  ExpectNoWorkloadErrors(workload);
  EXPECT_EQ(IdType(), "integer");
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

// kill -9 during the window, then cleanup: the reverse slot and publication
// (shadowcopy_<oid>_rev) are listed and removed with the rest of the run.
TEST_F(RevertWindowTest, KillDuringWindowThenCleanup) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 500, 300).ok());
  const std::string oid = TableOid("orders");
  auto tool = ShadowcopyProcess::Start(Args({"--revert-window", "120s", "--revert-accept", "out-of-range"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  (*tool)->Signal(SIGKILL);
  (*tool)->Wait(seconds(30));
  ASSERT_TRUE(PollUntilTrue(db(), "SELECT NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE active "
                                  "AND slot_name LIKE 'shadowcopy%' AND database = current_database())", seconds(10)));
  ProcessResult plan = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn()});
  EXPECT_NE((plan.out + plan.err).find("shadowcopy_" + oid + "_rev"), std::string::npos) << plan.Describe();
  ProcessResult done = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn(), "--execute"});
  EXPECT_EQ(done.exit_code, 0) << done.Describe();
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(IdType(), "bigint");
}

}  // namespace
}  // namespace shadowcopy::it
