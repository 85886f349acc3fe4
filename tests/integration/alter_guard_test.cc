// The --alter guard and the shadow's durability: a USING conversion behind
// a quote in a dollar-quoted string or a comment (once hidden from the guard
// and silently ignored) is applied exactly by the copy, the replay and the
// verification under writers; a USING they could not evaluate alike, and
// SET UNLOGGED / SET LOGGED, are refused with one error line, in the dry run
// too, and nothing is created. A resumed run refuses to continue into a
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

  void ExpectUsingAppliedUnderWriters(const std::vector<std::string>& extra);
};

// The attack on the old quote-counting guard (a quote inside $$...$$ and in
// a comment before the USING), now applied: the copy, the replay (upserts,
// and partial updates that leave an unchanged TOASTed note out) and the
// verification all evaluate the USING expressions, so the result equals the
// truth transformed by the same ALTER offline.
void AlterGuardTest::ExpectUsingAppliedUnderWriters(const std::vector<std::string>& extra) {
  const std::string alter =
      "ADD COLUMN x text DEFAULT $$it's$$ /* it's */, ALTER COLUMN customer_id TYPE bigint USING customer_id * 2, "
      "ALTER status TYPE text USING orders.status || '!', ALTER COLUMN note SET DATA TYPE text USING upper(note)";
  const std::string truth_alter =
      "ADD COLUMN x text DEFAULT $$it's$$, ALTER COLUMN customer_id TYPE bigint USING customer_id * 2, "
      "ALTER status TYPE text USING truth.status || '!', ALTER COLUMN note SET DATA TYPE text USING upper(note)";
  ASSERT_TRUE(CreateAndLoadOrders(db(), 12000, 300).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ASSERT_TRUE(workload.Start().ok());
  std::this_thread::sleep_for(milliseconds(500));
  // The writers stop before the swap: the truth is transformed offline as a
  // whole, so a row written to the new table afterwards (not converted, as
  // after a plain ALTER) would differ from it.
  std::string sock = "/tmp/sc_" + dbname() + ".sock";
  std::vector<std::string> args{"--alter",   alter, "--execute",          "--chunk-size", "500",
                                "--socket", sock,  "--postpone-cutover"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto tool = ShadowcopyProcess::Start(ToolArgs("orders", args), {}, TrackCopyPhase(&workload));
  ASSERT_TRUE(tool.ok()) << tool.status();
  bool postponed = (*tool)->WaitForStderr("cutover postponed", seconds(180));
  workload.SetCopyPhaseActive(false);
  std::this_thread::sleep_for(milliseconds(500));  // writes while the cutover waits, replayed
  workload.Stop();
  std::cout << "workload events:\n" << workload.CountsReport();
  ASSERT_TRUE(postponed) << (*tool)->Wait(seconds(5)).Describe();
  ProcessResult released = RunShadowcopy({"ctl", "--socket", sock, "cutover"});
  EXPECT_EQ(released.exit_code, 0) << released.Describe();
  ProcessResult r = (*tool)->Wait(seconds(120));
  ExpectSucceeded(r);
  ExpectNoWorkloadErrors(workload);
  for (auto type : {EventType::kInsert, EventType::kUpdateToastUnchanged, EventType::kUpdateToastChanged,
                    EventType::kKeyUpdate, EventType::kDelete})
    EXPECT_GT(workload.CommittedDuringCopy(type), 0) << EventTypeName(type) << " during the copy\n"
                                                     << workload.CountsReport();
  auto mismatches = SummaryNumber(LastLine(r.out), "verify_mismatches");
  if (mismatches.has_value()) {
    EXPECT_EQ(*mismatches, 0) << "verification had to repair the copy/replay";
  }
  auto replayed = SummaryNumber(LastLine(r.out), "changes_replayed");
  EXPECT_GT(replayed.value_or(0), 0) << LastLine(r.out);
  ASSERT_TRUE(TransformTruth(db(), "truth", truth_alter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  // Not vacuous: the conversion changed every row.
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE status NOT LIKE '%!'"), "0");
  EXPECT_EQ(QueryValue(db(), "SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                             "AND attname = 'customer_id'"),
            "bigint");
  ExpectNothingLeftBehind("orders");
}

TEST_F(AlterGuardTest, UsingIsAppliedExactlyUnderWriters) { ExpectUsingAppliedUnderWriters({}); }

TEST_F(AlterGuardTest, UsingIsAppliedExactlyByReplayDuringTheCopy) {
  ExpectUsingAppliedUnderWriters({"--replay-during-copy", "--verify=off"});
}

// What the copy, the replay and the verification could not evaluate alike
// is refused up front: a key column, another column, a volatile expression,
// the whole row.
TEST_F(AlterGuardTest, UsingThatCannotBeAppliedOnlineIsRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 500).ok());
  ExpectRefused("ADD COLUMN x text DEFAULT $$it's$$, ALTER COLUMN id TYPE bigint USING id * 2",
                "on a key column is not supported");
  ExpectRefused("ALTER COLUMN customer_id TYPE bigint USING customer_id + amount",
                "must be immutable and use only that column");
  ExpectRefused("ALTER COLUMN customer_id TYPE float8 USING customer_id + random()",
                "must be immutable and use only that column");
  ExpectRefused("ALTER COLUMN note TYPE text USING orders::text", "not the whole row");
}

TEST_F(AlterGuardTest, SetUnloggedAndSetLoggedAreRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 500).ok());
  ExpectRefused("ALTER COLUMN id TYPE bigint, SET UNLOGGED", "cannot SET UNLOGGED");
  ExpectRefused("ADD COLUMN x text DEFAULT $$it's$$, set /* ' */ unlogged", "cannot SET UNLOGGED");
  ExpectRefused("SET LOGGED", "cannot SET LOGGED");
}

// A resumed run applies the USING expressions too (the mapping is rebuilt
// from the same --alter).
TEST_F(AlterGuardTest, UsingSurvivesKillAndResume) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000).ok());
  const std::string alter = "ALTER COLUMN customer_id TYPE bigint USING orders.customer_id * 2";
  std::string sock = "/tmp/sc_" + dbname() + ".sock";
  auto args = ToolArgs("orders", {"--alter", alter, "--execute", "--chunk-size", "1000", "--nice-ratio", "3",
                                  "--socket", sock});
  auto tool = ShadowcopyProcess::Start(args);
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("phase=copy", seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  ASSERT_TRUE(PollUntilTrue(db(),
                            "SELECT EXISTS (SELECT 1 FROM shadowcopy.runs WHERE finished_at IS NULL "
                            "AND copy_high_water IS NOT NULL)",
                            seconds(60)))
      << "no copy progress was recorded";
  (*tool)->Signal(SIGKILL);
  ProcessResult killed = (*tool)->Wait(seconds(30));
  ASSERT_EQ(killed.term_signal, SIGKILL) << killed.Describe();
  ASSERT_EQ(QueryValue(db(), "SELECT copy_done FROM shadowcopy.runs WHERE finished_at IS NULL"), "f");
  args.push_back("--resume");
  ProcessResult resumed = RunShadowcopy(args, {}, nullptr, seconds(120));
  ExpectSucceeded(resumed);
  ASSERT_TRUE(TransformTruth(db(), "truth", "ALTER COLUMN customer_id TYPE bigint USING truth.customer_id * 2").ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  EXPECT_NE(QueryValue(db(), "SELECT count(*) FROM orders WHERE customer_id >= 1000"), "0");
  ExpectNothingLeftBehind("orders");
}

// DROP EXPRESSION would leave the former generated column empty (its values
// are neither copied nor sent by pgoutput): refused.
TEST_F(AlterGuardTest, DropExpressionIsRefused) {
  MustExec(db(), "CREATE TABLE gen (id int PRIMARY KEY, a int, g int GENERATED ALWAYS AS (a * 10) STORED); "
                 "INSERT INTO gen (id, a) SELECT g, g FROM generate_series(1, 100) g");
  std::string before = UserRelations();
  for (bool execute : {false, true}) {
    std::vector<std::string> extra{"--alter", "ALTER COLUMN g DROP EXPRESSION", "--socket", "none"};
    if (execute) extra.push_back("--execute");
    ProcessResult r = RunShadowcopy(ToolArgs("gen", extra));
    ExpectFailedWithOneErrorLine(r);
    EXPECT_NE(r.err.find("cannot DROP EXPRESSION"), std::string::npos) << r.Describe();
  }
  EXPECT_EQ(UserRelations(), before);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM gen WHERE g = a * 10"), "100");
  ExpectNothingLeftBehind("gen");
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
