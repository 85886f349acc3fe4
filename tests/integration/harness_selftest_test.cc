// Checks the integration harness itself, without the shadowcopy binary: the
// per-test database, the mirror workload (no errors, every event type, both
// protocols), the comparison (equal after a workload, and it does detect a
// difference), and the process runner.
#include <signal.h>

#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

class HarnessSelfTest : public DatabaseTest {};

// Changes synchronous_standby_names, which is server-wide: runs alone.
class SyncStandbySelfTest : public DatabaseTest {
 protected:
  SyncStandbySelfTest() { exclusive_server_ = true; }
  void TearDown() override {
    if (HasDb()) {
      MustExec(db(), "ALTER SYSTEM RESET synchronous_standby_names");
      MustExec(db(), "SELECT pg_reload_conf()");
    }
    DatabaseTest::TearDown();
  }
};

TEST_F(HarnessSelfTest, FreshDatabasePerTest) {
  EXPECT_EQ(QueryValue(db(), "SELECT current_database()"), dbname());
  EXPECT_EQ(QueryValue(db(),
                       "SELECT count(*) FROM pg_class WHERE relnamespace = "
                       "'public'::regnamespace"),
            "0");
}

TEST_F(HarnessSelfTest, WorkloadWithoutMigrationKeepsMirrorEqual) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 100).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ASSERT_TRUE(workload.Start().ok());
  workload.SetCopyPhaseActive(true);
  std::this_thread::sleep_for(std::chrono::seconds(4));
  workload.Stop();
  EXPECT_TRUE(workload.Errors().empty()) << workload.Errors().front();
  for (int i = 0; i < static_cast<int>(EventType::kCount); ++i)
    EXPECT_GT(workload.CommittedDuringCopy(static_cast<EventType>(i)), 0)
        << EventTypeName(static_cast<EventType>(i)) << "\n"
        << workload.CountsReport();
  auto diff = CompareWithTruth(db(), "orders", "truth");
  ASSERT_TRUE(diff.ok()) << diff.status();
  EXPECT_TRUE(diff->Equal()) << diff->sample;
  std::cout << workload.CountsReport();
  // The large notes are stored out of line.
  EXPECT_NE(QueryValue(db(),
                       "SELECT pg_relation_size(reltoastrelid) > 1000000 FROM pg_class "
                       "WHERE relname = 'orders'"),
            "f");
}

TEST_F(HarnessSelfTest, ComparisonDetectsDifferences) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 1000, 100).ok());
  MustExec(db(), "DELETE FROM truth WHERE id = 10; UPDATE orders SET note = 'x' WHERE id = 100");
  auto diff = CompareWithTruth(db(), "orders", "truth");
  ASSERT_TRUE(diff.ok()) << diff.status();
  EXPECT_EQ(diff->only_in_table, 2);
  EXPECT_EQ(diff->only_in_truth, 1);
  EXPECT_NE(diff->sample.find("md5(note)="), std::string::npos) << diff->sample;
  ASSERT_TRUE(TransformTruth(db(), "truth", "ALTER COLUMN id TYPE bigint").ok());
  EXPECT_EQ(QueryValue(db(),
                       "SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = "
                       "'truth'::regclass AND attname = 'id'"),
            "bigint");
}

// The visibility hazard test relies on this: with a synchronous standby that
// never answers, a commit is in WAL but stays invisible until the setting is
// reset.
TEST_F(SyncStandbySelfTest, UnansweredSynchronousStandbyHidesCommit) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 100, 1000).ok());
  MustExec(db(), "ALTER SYSTEM SET synchronous_standby_names = 'nobody_answers'");
  MustExec(db(), "SELECT pg_reload_conf()");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto writer = Connect({{"synchronous_commit", "on"}});
  ASSERT_NE(writer, nullptr);
  std::thread hanging([&writer] {
    EXPECT_TRUE(writer->Exec("BEGIN; DELETE FROM orders WHERE id = 50; COMMIT").ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE id = 50"), "1");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"),
            "1");
  MustExec(db(), "ALTER SYSTEM RESET synchronous_standby_names");
  MustExec(db(), "SELECT pg_reload_conf()");
  hanging.join();
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE id = 50"), "0");
}

TEST(ProcessRunnerSelfTest, CapturesOutputAndSignals) {
  setenv("SHADOWCOPY_BIN", "/bin/sh", 1);
  std::vector<std::string> lines;
  std::mutex mu;
  auto r = RunShadowcopy({"-c", "echo out1; echo err1 >&2; echo phase=copy >&2; echo out2; exit 3"},
                         {}, [&](const std::string& l) {
                           std::lock_guard<std::mutex> lock(mu);
                           lines.push_back(l);
                         });
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out1\nout2\n");
  EXPECT_EQ(LastLine(r.out), "out2");
  EXPECT_EQ(lines, (std::vector<std::string>{"err1", "phase=copy"}));

  auto p = ShadowcopyProcess::Start({"-c", "echo started >&2; exec sleep 30"});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE((*p)->WaitForStderr("started", std::chrono::seconds(5)));
  (*p)->Signal(SIGINT);
  auto killed = (*p)->Wait(std::chrono::seconds(10));
  EXPECT_EQ(killed.term_signal, SIGINT);

  auto slow = RunShadowcopy({"-c", "exec sleep 30"}, {}, nullptr, std::chrono::milliseconds(300));
  EXPECT_TRUE(slow.timed_out);
  unsetenv("SHADOWCOPY_BIN");
  EXPECT_NE(SummaryNumber(R"({"summary":{"rows_copied":42,"x":1}})", "rows_copied"), std::nullopt);
  EXPECT_EQ(*SummaryNumber(R"({"summary":{"rows_copied": 42,"x":1}})", "rows_copied"), 42);
}

}  // namespace
}  // namespace shadowcopy::it
