// Interrupted runs: SIGINT during the copy (under a workload) and SIGTERM
// while paused must end the run with a non-zero exit and remove the slot, the
// publication and the shadow table, leaving the original untouched. A run
// killed with SIGKILL leaves them behind; `shadowcopy cleanup` lists them
// (dry run) and removes them (--execute).
#include <signal.h>

#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class SignalTest : public DatabaseTest {
 protected:
  // The original is untouched: same table, same type, equal to the truth,
  // and no old table of orders.
  void ExpectOriginalUntouched(const std::string& oid) {
    EXPECT_EQ(TableOid("orders"), oid) << "orders was replaced";
    EXPECT_EQ(QueryValue(db(),
                         "SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = "
                         "'orders'::regclass AND attname = 'id'"),
              "integer");
    EXPECT_FALSE(AnyOldTableOf("orders"));
    ExpectMirrorEqual(db(), "orders", "truth");
  }
};

TEST_F(SignalTest, SigintDuringCopyCleansUp) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 30000, 300).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(ToolArgs(
      "orders", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute", "--chunk-size", "200"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("phase=copy", seconds(60)))
      << (*tool)->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(200));
  (*tool)->Signal(SIGINT);
  ProcessResult result = (*tool)->Wait(seconds(60));
  workload.Stop();
  EXPECT_FALSE(result.timed_out) << result.Describe();
  EXPECT_NE(result.exit_code, 0) << "the run finished before the signal\n" << result.Describe();
  ExpectNoWorkloadErrors(workload);
  ExpectNothingLeftBehind("orders");
  ExpectOriginalUntouched(oid);
}

TEST_F(SignalTest, SigtermWhilePausedCleansUp) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000).ok());
  std::string oid = TableOid("orders");
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(ToolArgs("orders", {"--alter", "ALTER COLUMN id TYPE bigint",
                                                           "--execute", "--chunk-size", "500"}),
                                       pause.Env("before-batch:3"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  (*tool)->Signal(SIGTERM);
  ProcessResult result = (*tool)->Wait(seconds(60));
  EXPECT_FALSE(result.timed_out) << result.Describe();
  EXPECT_NE(result.exit_code, 0) << result.Describe();
  ExpectNothingLeftBehind("orders");
  ExpectOriginalUntouched(oid);
}

TEST_F(SignalTest, KilledRunIsRemovedByCleanup) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000).ok());
  std::string oid = TableOid("orders");
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(ToolArgs("orders", {"--alter", "ALTER COLUMN id TYPE bigint",
                                                           "--execute", "--chunk-size", "500"}),
                                       pause.Env("before-batch:3"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  (*tool)->Signal(SIGKILL);
  (*tool)->Wait(seconds(30));
  std::string slot = "shadowcopy_" + oid;
  EXPECT_EQ(QueryValue(
                db(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "'"),
            "1");
  EXPECT_TRUE(TableExists("_orders_shadow"));

  ProcessResult dry = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn()});
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_NE(dry.out.find(slot), std::string::npos) << "the dry run does not list the slot\n"
                                                   << dry.Describe();
  EXPECT_NE(dry.out.find("_orders_shadow"), std::string::npos) << dry.Describe();
  EXPECT_TRUE(TableExists("_orders_shadow")) << "the cleanup dry run dropped the shadow";

  // A new run detects the leftovers before creating anything, and refuses.
  ProcessResult again =
      RunShadowcopy(ToolArgs("orders", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute"}));
  ExpectFailedWithOneErrorLine(again);
  EXPECT_TRUE(TableExists("_orders_shadow")) << "the refused run removed the leftovers";

  ProcessResult done = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn(), "--execute"});
  EXPECT_EQ(done.exit_code, 0) << done.Describe();
  ExpectNothingLeftBehind("orders");
  ExpectOriginalUntouched(oid);
  // After the cleanup a run succeeds.
  ExpectSucceeded(
      RunShadowcopy(ToolArgs("orders", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute"})));
  ExpectNothingLeftBehind("orders");
}

}  // namespace
}  // namespace shadowcopy::it
