// Type changes convert values as ALTER TABLE ... TYPE does: with assignment
// coercion, which refuses a value that does not fit a length-limited type
// (varchar(n), char(n), bit(n)) where an explicit cast would truncate or pad
// it silently. Data that fits is copied exactly; a value that does not fit,
// present before the run or written by the application during the copy
// (replayed as an upsert or as a partial update that leaves a TOASTed
// column out), or produced by a USING expression, stops the run with the
// server's one-line error, nothing left behind and the original untouched,
// as the ALTER itself would have refused.
#include <iostream>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class CoercionTest : public DatabaseTest {
 protected:
  std::string ColumnType(const std::string& table, const std::string& column) {
    return QueryValue(db(), "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '" +
                                table + "'::regclass AND attname = '" + column + "'");
  }

  // The offline ALTER on the truth fails with a message containing `needle`
  // (and changes nothing: it is rolled back).
  void ExpectOfflineAlterFails(const std::string& truth_alter, const std::string& needle) {
    absl::Status st = TransformTruth(db(), "truth", truth_alter);
    ASSERT_FALSE(st.ok()) << "the offline ALTER succeeded";
    EXPECT_NE(st.ToString().find(needle), std::string::npos) << st;
  }

  // The run fails with one error line containing `needle`; nothing is left
  // behind and `table` is the same table with the same contents as `truth`.
  void ExpectRefusedLikeTheAlter(const ProcessResult& r, const std::string& table, const std::string& oid,
                                 const std::string& needle) {
    ExpectFailedWithOneErrorLine(r);
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.Describe();
    EXPECT_FALSE(r.timed_out) << r.Describe();
    EXPECT_EQ(TableOid(table), oid);
    ExpectNothingLeftBehind(table);
    ExpectMirrorEqual(db(), table, "truth");
  }

  // orders as loaded, every status shortened to fit varchar(4), then one
  // row of batch 1 (already copied) changed by the application to a status
  // that does not fit while the copy is paused before batch 2: the replay
  // meets it.
  void ExpectReplayRefuses(const std::string& change, const std::vector<std::string>& extra,
                           const EnvVars& env = {});
};

// Data that fits (the longest status is exactly 9 characters) under writers:
// the result equals the truth altered offline.
TEST_F(CoercionTest, FittingValuesAreCopiedExactlyUnderWriters) {
  const std::string alter = "ALTER COLUMN status TYPE varchar(9)";
  ASSERT_TRUE(CreateAndLoadOrders(db(), 6000, 300).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ASSERT_TRUE(workload.Start().ok());
  std::this_thread::sleep_for(milliseconds(300));
  std::string sock = "/tmp/sc_" + dbname() + ".sock";
  auto tool = ShadowcopyProcess::Start(
      ToolArgs("orders", {"--alter", alter, "--execute", "--chunk-size", "500", "--socket", sock,
                          "--postpone-cutover"}),
      {}, TrackCopyPhase(&workload));
  ASSERT_TRUE(tool.ok()) << tool.status();
  bool postponed = (*tool)->WaitForStderr("cutover postponed", seconds(180));
  workload.SetCopyPhaseActive(false);
  std::this_thread::sleep_for(milliseconds(300));
  workload.Stop();
  ASSERT_TRUE(postponed) << (*tool)->Wait(seconds(5)).Describe();
  ProcessResult released = RunShadowcopy({"ctl", "--socket", sock, "cutover"});
  EXPECT_EQ(released.exit_code, 0) << released.Describe();
  ProcessResult r = (*tool)->Wait(seconds(120));
  ExpectSucceeded(r);
  ExpectNoWorkloadErrors(workload);
  EXPECT_EQ(SummaryNumber(LastLine(r.out), "verify_mismatches").value_or(0), 0) << LastLine(r.out);
  ASSERT_TRUE(TransformTruth(db(), "truth", alter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  EXPECT_EQ(ColumnType("orders", "status"), "character varying(9)");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) > 0 FROM orders WHERE length(status) = 9"), "t");
  ExpectNothingLeftBehind("orders");
}

// 'shipped' does not fit varchar(4): the copy stops as the ALTER does.
TEST_F(CoercionTest, TooLongValueBeforeTheRunFailsTheCopy) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 300).ok());
  std::string oid = TableOid("orders");
  ExpectOfflineAlterFails("ALTER COLUMN status TYPE varchar(4)", "value too long for type character varying(4)");
  ProcessResult r = RunShadowcopy(
      ToolArgs("orders", {"--alter", "ALTER COLUMN status TYPE varchar(4)", "--execute", "--socket", "none"}),
      {}, nullptr, seconds(120));
  ExpectRefusedLikeTheAlter(r, "orders", oid, "value too long for type character varying(4)");
  EXPECT_EQ(ColumnType("orders", "status"), "text");
}

void CoercionTest::ExpectReplayRefuses(const std::string& change, const std::vector<std::string>& extra,
                                       const EnvVars& env) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 300).ok());
  MustExec(db(),
           "UPDATE orders SET status = left(status, 4); UPDATE truth SET status = left(status, 4);"
           "ANALYZE orders");
  std::string oid = TableOid("orders");
  PausePoint pause;
  std::vector<std::string> args{"--alter", "ALTER COLUMN status TYPE varchar(4)", "--execute",
                                "--chunk-size", "500", "--socket", "none"};
  args.insert(args.end(), extra.begin(), extra.end());
  EnvVars tool_env = pause.Env("before-batch:2");
  tool_env.insert(env.begin(), env.end());
  auto tool = ShadowcopyProcess::Start(ToolArgs("orders", args), tool_env);
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(db(), "UPDATE orders SET " + change + "; UPDATE truth SET " + change);
  pause.Continue();
  ProcessResult r = (*tool)->Wait(seconds(120));
  std::cout << "tool stderr:\n" << r.err;
  // The copy's snapshot predates the change and the copy finished: the
  // replay (which starts once the key index is built) met it.
  EXPECT_NE(r.err.find("phase=indexes"), std::string::npos) << r.Describe();
  ExpectRefusedLikeTheAlter(r, "orders", oid, "value too long for type character varying(4)");
  EXPECT_EQ(ColumnType("orders", "status"), "text");
  ExpectOfflineAlterFails("ALTER COLUMN status TYPE varchar(4)", "value too long for type character varying(4)");
}

// A whole-row update: replayed as an upsert.
TEST_F(CoercionTest, TooLongValueWrittenDuringTheCopyFailsTheReplay) {
  ExpectReplayRefuses("status = 'shipped', amount = amount + 1 WHERE id = 7", {});
}

// The row has a TOASTed note the update leaves alone: replayed as an UPDATE
// of the changed columns only.
TEST_F(CoercionTest, TooLongValueInAPartialUpdateFailsTheReplay) {
  ExpectReplayRefuses("status = 'shipped' WHERE id = 300", {});
}

// The same through the replay split by key over two connections (a test
// hook splits even the smallest group).
TEST_F(CoercionTest, TooLongValueFailsTheReplayWithApplyWorkers) {
  ExpectReplayRefuses("status = 'shipped', amount = amount + 1 WHERE id IN (7, 8)", {"--apply-workers", "2"},
                      {{"SHADOWCOPY_TEST_PARALLEL_APPLY_ROWS", "1"}});
}

// char(n) is refused like varchar(n); bit(n) refuses a shorter bit string
// that an explicit cast would pad with zeros.
TEST_F(CoercionTest, CharAndBitLengthsAreRefused) {
  MustExec(db(),
           "CREATE TABLE kinds (id int PRIMARY KEY, c text NOT NULL, b varbit NOT NULL);"
           "INSERT INTO kinds SELECT g, 'ab', B'1010' FROM generate_series(1, 200) g;"
           "UPDATE kinds SET c = 'abc' WHERE id = 150; UPDATE kinds SET b = B'10' WHERE id = 120;"
           "CREATE TABLE truth AS SELECT * FROM kinds");
  std::string oid = TableOid("kinds");
  struct Case {
    std::string alter, message;
  };
  for (const Case& c : {Case{"ALTER COLUMN c TYPE char(2)", "value too long for type character(2)"},
                        Case{"ALTER COLUMN b TYPE bit(4)", "bit string length 2 does not match type bit(4)"}}) {
    SCOPED_TRACE(c.alter);
    ExpectOfflineAlterFails(c.alter, c.message);
    ProcessResult r =
        RunShadowcopy(ToolArgs("kinds", {"--alter", c.alter, "--execute", "--socket", "none"}), {}, nullptr,
                      seconds(120));
    ExpectRefusedLikeTheAlter(r, "kinds", oid, c.message);
  }
  EXPECT_EQ(ColumnType("kinds", "c"), "text");
  EXPECT_EQ(ColumnType("kinds", "b"), "bit varying");
}

// A USING expression's result goes through the same assignment coercion:
// 'cancelled!' does not fit varchar(8).
TEST_F(CoercionTest, UsingResultTooLongIsRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 300).ok());
  std::string oid = TableOid("orders");
  ExpectOfflineAlterFails("ALTER COLUMN status TYPE varchar(8) USING truth.status || '!'",
                          "value too long for type character varying(8)");
  ProcessResult r = RunShadowcopy(ToolArgs("orders", {"--alter", "ALTER COLUMN status TYPE varchar(8) USING status || '!'",
                                                      "--execute", "--socket", "none"}),
                                  {}, nullptr, seconds(120));
  ExpectRefusedLikeTheAlter(r, "orders", oid, "value too long for type character varying(8)");
  EXPECT_EQ(ColumnType("orders", "status"), "text");
}

}  // namespace
}  // namespace shadowcopy::it
