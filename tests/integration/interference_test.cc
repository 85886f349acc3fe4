// Other sessions interfering with a run (DESIGN.md §3, §4):
//  - a transaction holding a lock on the table blocks the cutover: the tool
//    retries with a short lock_timeout, writers never queue behind it for
//    long, and it either succeeds once the blocker leaves or gives up cleanly;
//  - an ALTER of the original during the run stops it with a clear error;
//  - a TRUNCATE of the original during the run is replayed correctly or
//    stops the run; either way nothing is lost or left behind.
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kAlter[] = "ALTER COLUMN id TYPE bigint";

class InterferenceTest : public DatabaseTest {
 protected:
  // Holds nextval (an xid) across the cutover: see exclusive_server_.
  InterferenceTest() {
    exclusive_server_ = CurrentTestIsOneOf({"OpenTransactionHoldingTheSequenceAcrossCutover"});
  }

  std::vector<std::string> MigrateArgs(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--alter", kAlter, "--execute", "--chunk-size", "500"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ToolArgs("orders", args);
  }

  // A session holding ACCESS SHARE on orders (an open transaction that read it).
  std::unique_ptr<PgConn> StartBlocker() {
    auto blocker = Connect();
    if (blocker != nullptr) MustExec(*blocker, "BEGIN; SELECT count(*) FROM orders");
    return blocker;
  }

  // Writers queue behind a waiting ACCESS EXCLUSIVE request for at most
  // the cutover lock timeout (200 ms here), plus generous slack.
  void ExpectWritersNeverStalled(const MirrorWorkload& workload) {
    ExpectNoWorkloadErrors(workload);
    EXPECT_LT(workload.MaxTransactionTime(), milliseconds(1500)) << workload.CountsReport();
  }
};

TEST_F(InterferenceTest, BlockedCutoverGivesUpCleanly) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto blocker = StartBlocker();
  ASSERT_NE(blocker, nullptr);
  ProcessResult r =
      RunShadowcopy(MigrateArgs({"--cutover-lock-timeout", "200ms", "--cutover-retries", "3"}), {},
                    nullptr, seconds(120));
  MustExec(*blocker, "ROLLBACK");
  std::this_thread::sleep_for(milliseconds(300));
  workload.Stop();
  ExpectFailedWithOneErrorLine(r);
  ExpectWritersNeverStalled(workload);
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(TableOid("orders"), oid) << "orders was replaced";
  EXPECT_FALSE(AnyOldTableOf("orders"));
  ExpectMirrorEqual(db(), "orders", "truth");
}

TEST_F(InterferenceTest, CutoverRetriesUntilBlockerLeaves) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto blocker = StartBlocker();
  ASSERT_NE(blocker, nullptr);
  auto tool = ShadowcopyProcess::Start(
      MigrateArgs({"--cutover-lock-timeout", "200ms", "--cutover-retries", "50"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  bool reached = (*tool)->WaitForStderr("phase=cutover", seconds(60));
  std::this_thread::sleep_for(milliseconds(1500));  // a few attempts time out
  MustExec(*blocker, "ROLLBACK");
  ProcessResult r = (*tool)->Wait(seconds(120));
  std::this_thread::sleep_for(milliseconds(300));
  workload.Stop();
  EXPECT_TRUE(reached) << r.Describe();
  ExpectSucceeded(r);
  auto attempts = SummaryNumber(LastLine(r.out), "cutover_attempts");
  if (attempts.has_value()) {
    EXPECT_GT(*attempts, 1) << r.Describe();
  }
  ExpectWritersNeverStalled(workload);
  ExpectNothingLeftBehind("orders");
  ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
}

TEST_F(InterferenceTest, ConcurrentAlterOfOriginalStopsTheRun) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000).ok());
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(MigrateArgs(), pause.Env("before-batch:2"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(db(),
           "ALTER TABLE orders ADD COLUMN z int; ALTER TABLE truth ADD COLUMN z int;"
           "BEGIN;"
           "UPDATE orders SET z = 1, status = 'after ddl' WHERE id = 4321;"
           "UPDATE truth SET z = 1, status = 'after ddl' WHERE id = 4321;"
           "COMMIT");
  pause.Continue();
  ProcessResult r = (*tool)->Wait(seconds(120));
  ExpectFailedWithOneErrorLine(r);
  ExpectNothingLeftBehind("orders");
  EXPECT_FALSE(AnyOldTableOf("orders"));
  ExpectMirrorEqual(db(), "orders", "truth");
}

TEST_F(InterferenceTest, TruncateDuringCopyIsReplayedOrStopsTheRun) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000).ok());
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(MigrateArgs(), pause.Env("before-batch:3"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(db(),
           "BEGIN; TRUNCATE orders; TRUNCATE truth;"
           "INSERT INTO orders (id, customer_id, status, amount, note, created_at) "
           "SELECT g, g, 'after truncate', g, NULL, now() FROM generate_series(4001, 4100) g;"
           "INSERT INTO truth SELECT * FROM orders; COMMIT");
  pause.Continue();
  ProcessResult r = (*tool)->Wait(seconds(120));
  std::cout << "the run " << (r.exit_code == 0 ? "replayed the TRUNCATE" : "stopped") << "\n";
  if (r.exit_code == 0) {
    ExpectSucceeded(r);
    ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
  } else {
    ExpectFailedWithOneErrorLine(r);
    EXPECT_FALSE(AnyOldTableOf("orders"));
  }
  ExpectNothingLeftBehind("orders");
  ExpectMirrorEqual(db(), "orders", "truth");
}

// An application transaction that took an id from the table's sequence and
// has not yet written the row (ORMs do this) holds a lock on the sequence
// across the cutover. The cutover must neither deadlock with it nor give up:
// it retries until the transaction ends, and the application sees no error.
TEST_F(InterferenceTest, OpenTransactionHoldingTheSequenceAcrossCutover) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000).ok());
  auto app = Connect();
  ASSERT_NE(app, nullptr);
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(
      MigrateArgs({"--cutover-lock-timeout", "200ms", "--cutover-retries", "50"}),
      pause.Env("before-batch:2"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  // The id is taken once the tool's slot exists: a nextval that WAL-logs the
  // sequence (the first after a checkpoint) gives the transaction an xid,
  // and creating the slot would wait for it to end.
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(*app, "BEGIN");
  std::string id = QueryValue(*app, "SELECT nextval('orders_id_seq')");
  pause.Continue();
  bool reached = (*tool)->WaitForStderr("phase=cutover", seconds(60));
  std::this_thread::sleep_for(milliseconds(1000));
  auto written = app->Exec(
      "INSERT INTO orders (id, customer_id, status, amount, created_at) VALUES (" + id +
      ", 1, 'app', 1, now()); INSERT INTO truth (id, customer_id, status, amount, created_at) "
      "VALUES (" +
      id + ", 1, 'app', 1, now()); COMMIT");
  EXPECT_TRUE(written.ok()) << "the application's transaction failed: " << written.status();
  ProcessResult r = (*tool)->Wait(seconds(120));
  EXPECT_TRUE(reached) << r.Describe();
  ExpectSucceeded(r);
  ExpectNothingLeftBehind("orders");
  if (r.exit_code == 0) {
    ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
  }
  ExpectMirrorEqual(db(), "orders", "truth");
}

// One run per table at a time: a second run on the same table is refused
// without disturbing the first, which then completes.
TEST_F(InterferenceTest, SecondRunOnTheSameTableIsRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000).ok());
  PausePoint pause;
  auto first = ShadowcopyProcess::Start(MigrateArgs(), pause.Env("before-batch:2"));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*first)->Wait(seconds(5)).Describe();
  ProcessResult second = RunShadowcopy(MigrateArgs(), {}, nullptr, seconds(60));
  ExpectFailedWithOneErrorLine(second);
  EXPECT_TRUE(TableExists("_orders_shadow")) << "the second run removed the first one's shadow";
  pause.Continue();
  ExpectSucceeded((*first)->Wait(seconds(120)));
  ExpectNothingLeftBehind("orders");
  ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
}

}  // namespace
}  // namespace shadowcopy::it
