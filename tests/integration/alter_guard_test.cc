// The --alter guard and the shadow's durability: a USING conversion hidden
// behind a quote in a dollar-quoted string or a comment is refused (the copy
// and the replay convert with plain casts, so it would silently be ignored),
// SET UNLOGGED / SET LOGGED are refused, each with one error line, in the dry
// run too, and nothing is created. A resumed run refuses to continue into a
// shadow that lost the rows already copied (faked: kill -9 mid-copy, the
// shadow truncated by hand), and touches nothing.
#include <signal.h>

#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class AlterGuardTest : public DatabaseTest {
 protected:
  // Every relation outside the tool's own state schema.
  std::string UserRelations() {
    return QueryValue(db(),
                      "SELECT string_agg(c.oid::text || ':' || relname, ',' ORDER BY c.oid) "
                      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                      "WHERE n.nspname <> 'shadowcopy'");
  }

  // The run (and its dry run) fails with one error line containing `needle`,
  // before anything is created, and orders is untouched.
  void ExpectRefused(const std::string& alter, const std::string& needle) {
    std::string before = UserRelations();
    std::string oid = TableOid("orders");
    for (bool execute : {false, true}) {
      std::vector<std::string> extra{"--alter", alter, "--socket", "none"};
      if (execute) extra.push_back("--execute");
      ProcessResult r = RunShadowcopy(ToolArgs("orders", extra));
      ExpectFailedWithOneErrorLine(r);
      EXPECT_NE(r.err.find(needle), std::string::npos) << r.Describe();
      EXPECT_EQ(r.err.find("phase=prepare"), std::string::npos) << "refused only after the prepare phase\n"
                                                                 << r.Describe();
      EXPECT_EQ(UserRelations(), before) << "relations were created or dropped\n" << r.Describe();
    }
    EXPECT_EQ(TableOid("orders"), oid);
    ExpectNothingLeftBehind("orders");
    ExpectMirrorEqual(db(), "orders", "truth");
  }
};

TEST_F(AlterGuardTest, UsingAfterADollarQuotedQuoteIsRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 500).ok());
  ExpectRefused("ADD COLUMN x text DEFAULT $$it's$$, ALTER COLUMN customer_id TYPE bigint USING customer_id * 2",
                "USING is not supported");
}

TEST_F(AlterGuardTest, UsingAfterACommentWithAQuoteIsRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 500).ok());
  ExpectRefused("ADD COLUMN x text /* it's */, ALTER COLUMN customer_id TYPE bigint USING customer_id * 2",
                "USING is not supported");
  ExpectRefused("ADD COLUMN x text DEFAULT E'\\'', ALTER customer_id SET DATA TYPE bigint USING customer_id + 1",
                "USING is not supported");
}

TEST_F(AlterGuardTest, SetUnloggedAndSetLoggedAreRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 500).ok());
  ExpectRefused("ALTER COLUMN id TYPE bigint, SET UNLOGGED", "cannot SET UNLOGGED");
  ExpectRefused("ADD COLUMN x text DEFAULT $$it's$$, set /* ' */ unlogged", "cannot SET UNLOGGED");
  ExpectRefused("SET LOGGED", "cannot SET LOGGED");
}

// kill -9 during the copy, the shadow emptied by hand (what a crash does to
// an unlogged table): --resume refuses, one line, and leaves the run's
// objects for cleanup.
TEST_F(AlterGuardTest, ResumeRefusesAShadowThatLostRows) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 30000, 1000).ok());
  std::string oid = TableOid("orders");
  std::string sock = "/tmp/sc_" + dbname() + ".sock";
  auto args = [&](bool resume) {
    std::vector<std::string> extra{"--alter",      "ALTER COLUMN id TYPE bigint", "--execute", "--chunk-size", "1000",
                                   "--nice-ratio", "3",                           "--socket",  sock};
    if (resume) extra.push_back("--resume");
    return ToolArgs("orders", extra);
  };
  auto tool = ShadowcopyProcess::Start(args(false));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("phase=copy", seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  ASSERT_TRUE(PollUntilTrue(db(),
                            "SELECT EXISTS (SELECT 1 FROM shadowcopy.runs WHERE finished_at IS NULL "
                            "AND copy_high_water IS NOT NULL AND NOT copy_done)",
                            seconds(30)))
      << "no copy progress was recorded";
  (*tool)->Signal(SIGKILL);
  ProcessResult killed = (*tool)->Wait(seconds(30));
  ASSERT_EQ(killed.term_signal, SIGKILL) << "the run ended before it was killed\n" << killed.Describe();
  ASSERT_EQ(QueryValue(db(), "SELECT copy_done FROM shadowcopy.runs WHERE finished_at IS NULL"), "f")
      << "the copy finished before the kill";

  MustExec(db(), "TRUNCATE _orders_shadow");
  std::string before = UserRelations();
  ProcessResult resumed = RunShadowcopy(args(true), {}, nullptr, seconds(120));
  ExpectFailedWithOneErrorLine(resumed);
  EXPECT_NE(resumed.err.find("cannot resume: the shadow table"), std::string::npos) << resumed.Describe();
  EXPECT_NE(resumed.err.find("cleanup"), std::string::npos) << resumed.Describe();
  EXPECT_EQ(UserRelations(), before) << "the refused resume changed relations\n" << resumed.Describe();
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM _orders_shadow"), "0") << "the refused resume copied";
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'shadowcopy_" + oid + "'"),
            "1")
      << "the refused resume dropped the slot";
  EXPECT_EQ(TableOid("orders"), oid);
  ExpectMirrorEqual(db(), "orders", "truth");

  // What the message says: clean up, and start again.
  ProcessResult cleanup = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn(), "--execute"});
  EXPECT_EQ(cleanup.exit_code, 0) << cleanup.Describe();
  ExpectNothingLeftBehind("orders");
  ProcessResult again = RunShadowcopy(args(false), {}, nullptr, seconds(120));
  ExpectSucceeded(again);
  ASSERT_TRUE(TransformTruth(db(), "truth", "ALTER COLUMN id TYPE bigint").ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

}  // namespace
}  // namespace shadowcopy::it
