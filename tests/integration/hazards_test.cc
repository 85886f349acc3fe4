// The hazards of the copy/replay interleaving (DESIGN.md §3), forced with the
// tool's test-only pause points:
//  - ordering: a delete committed inside an open copy batch's key range must
//    not be undone by the batch's commit;
//  - visibility: a delete that logical decoding has delivered but that is not
//    yet visible to new snapshots (a synchronous standby that never answers)
//    must not be undone by a later batch that copies the row.
// Each runs with the mechanism on (result equals the truth) and with it
// disabled through SHADOWCOPY_TEST_UNSAFE and --verify=off (the deleted row
// comes back), which proves the test detects the hazard; with verification
// on, the unsafe run's resurrected row is found and repaired before the
// cutover.
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kHazardRows = 5000;
constexpr char kAlter[] = "ALTER COLUMN id TYPE bigint";

// The tool's slot in the current database.
constexpr char kToolSlot[] =
    "FROM pg_replication_slots WHERE slot_name LIKE 'shadowcopy%' "
    "AND database = current_database()";

// Holds a walsender stopped (SIGSTOP) until Release() or destruction, so
// that the changes committed meanwhile reach the tool late.
class HeldWalsender {
 public:
  explicit HeldWalsender(const std::string& pid_text) {
    pid_ = static_cast<pid_t>(std::atoi(pid_text.c_str()));
    if (pid_ <= 0) {
      error_ = "no active walsender on the tool's slot";
    } else if (::kill(pid_, SIGSTOP) != 0) {
      error_ = std::strerror(errno);
      pid_ = 0;
    }
  }
  ~HeldWalsender() { Release(); }
  HeldWalsender(const HeldWalsender&) = delete;
  HeldWalsender& operator=(const HeldWalsender&) = delete;

  bool stopped() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  void Release() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
    pid_ = 0;
  }

 private:
  pid_t pid_ = 0;
  std::string error_;
};

class HazardTest : public DatabaseTest {
 protected:
  // The visibility scenarios set synchronous_standby_names (server-wide);
  // the ordering scenarios hold the tool's batch open (an xid) for seconds.
  // See exclusive_server_.
  HazardTest() {
    exclusive_server_ = CurrentTestIsOneOf(
        {"OrderingDeleteInsideOpenBatchStaysDeleted", "OrderingUnsafeModeResurrectsDeletedRow",
         "OrderingUnsafeModeIsCaughtByVerification", "VisibilityInvisibleDeleteIsNotUndone",
         "VisibilityUnsafeModeResurrectsDeletedRow"});
  }

  void TearDown() override {
    if (HasDb()) ResetSynchronousStandbys();
    if (hanging_commit_.joinable()) hanging_commit_.join();
    DatabaseTest::TearDown();
  }

  void ResetSynchronousStandbys() {
    MustExec(db(), "ALTER SYSTEM RESET synchronous_standby_names");
    MustExec(db(), "SELECT pg_reload_conf()");
  }

  std::unique_ptr<ShadowcopyProcess> StartTool(EnvVars env) {
    // The hazards are those of replay running between copy batches.
    std::vector<std::string> args = {"--alter", kAlter, "--execute", "--chunk-size", "500", "--replay-during-copy"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    auto p = ShadowcopyProcess::Start(ToolArgs("orders", args), env);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  // Waits until the walsender of the tool's slot has sent WAL up to `lsn`.
  bool WaitSentUpTo(const std::string& lsn) {
    return PollUntilTrue(
        db(),
        fmt::format(
            "SELECT coalesce(bool_or(r.sent_lsn >= '{}'), false) FROM pg_stat_replication r "
            "JOIN pg_replication_slots s ON s.active_pid = r.pid "
            "WHERE s.slot_name LIKE 'shadowcopy%' AND s.database = current_database()",
            lsn),
        seconds(15));
  }

  // Finishes the run and compares orders with the transformed truth. A
  // pause point reached again (a retried batch) is let go at once.
  MirrorDiff FinishAndCompare(ShadowcopyProcess* tool, const PausePoint* pause = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + seconds(120);
    while (pause != nullptr && !tool->OutputClosed() &&
           std::chrono::steady_clock::now() < deadline) {
      if (pause->WaitPaused(milliseconds(100))) {
        std::cout << "the tool paused again (a retried batch): continuing\n";
        pause->Continue();
        std::this_thread::sleep_for(milliseconds(100));
      }
    }
    ProcessResult result = tool->Wait(seconds(120));
    ExpectSucceeded(result);
    last_summary_ = LastLine(result.out);
    EXPECT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
    auto diff = CompareWithTruth(db(), "orders", "truth");
    EXPECT_TRUE(diff.ok()) << diff.status();
    ExpectNothingLeftBehind("orders");
    if (diff.ok() && !diff->Equal()) std::cout << "differences:\n" << diff->sample;
    return diff.ok() ? *diff : MirrorDiff{};
  }

  // Batch 3 (ids 1001-1500) has inserted its rows and waits before its
  // commit while another session deletes id 1200 and updates id 1300 (300
  // when unsafe).
  void RunOrderingScenario(bool unsafe, MirrorDiff* diff);
  // Batch 2 waits for its snapshot while a delete of id 4000 commits
  // invisibly (its commit waits for a synchronous standby that never answers).
  void RunVisibilityScenario(bool unsafe, MirrorDiff* diff);

  std::thread hanging_commit_;
  std::string last_summary_;  // the last run's summary line
  std::vector<std::string> extra_args_;  // added to the tool's arguments
};

void HazardTest::RunOrderingScenario(bool unsafe, MirrorDiff* diff) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kHazardRows, 1000).ok());
  PausePoint pause;
  EnvVars env = pause.Env("before-commit:3");
  if (unsafe) env["SHADOWCOPY_TEST_UNSAFE"] = "ordering";
  auto tool = StartTool(env);
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << tool->Wait(seconds(5)).Describe();
  // With the mechanism disabled the update goes to an already copied row:
  // an upsert of a row that the open batch inserted would wait for the batch
  // (a row lock), and the point is to let the replay run while it is open.
  const int updated_id = unsafe ? 300 : 1300;
  MustExec(db(),
           fmt::format("BEGIN;"
                       "DELETE FROM orders WHERE id = 1200; DELETE FROM truth WHERE id = 1200;"
                       "UPDATE orders SET status = 'touched', amount = 1 WHERE id = {0};"
                       "UPDATE truth SET status = 'touched', amount = 1 WHERE id = {0};"
                       "COMMIT",
                       updated_id));
  std::string lsn = QueryValue(db(), "SELECT pg_current_wal_lsn()");
  if (!WaitSentUpTo(lsn)) std::cout << "warning: the walsender did not report sending " << lsn;
  std::this_thread::sleep_for(seconds(1));  // grace for the tool to receive (and apply) it
  pause.Continue();
  *diff = FinishAndCompare(tool.get(), &pause);
}

TEST_F(HazardTest, OrderingDeleteInsideOpenBatchStaysDeleted) {
  MirrorDiff diff;
  RunOrderingScenario(/*unsafe=*/false, &diff);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(diff.Equal()) << diff.sample;
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE id = 1200"), "0");
}

TEST_F(HazardTest, OrderingUnsafeModeResurrectsDeletedRow) {
  // --verify-after reports what the unverified swap let through.
  extra_args_ = {"--verify=off", "--verify-after"};
  MirrorDiff diff;
  RunOrderingScenario(/*unsafe=*/true, &diff);
  if (HasFatalFailure()) return;
  EXPECT_FALSE(diff.Equal()) << "the hazard was not reproduced: the test cannot detect it";
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE id = 1200"), "1");
  EXPECT_GE(SummaryNumber(last_summary_, "verify_after_mismatches").value_or(0), 1) << last_summary_;
}

// Verification catches what the disabled mechanism let through: the
// resurrected row is reported and its range re-copied before the cutover.
TEST_F(HazardTest, OrderingUnsafeModeIsCaughtByVerification) {
  MirrorDiff diff;
  RunOrderingScenario(/*unsafe=*/true, &diff);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(diff.Equal()) << diff.sample;
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE id = 1200"), "0");
  EXPECT_GE(SummaryNumber(last_summary_, "verify_mismatches").value_or(0), 1) << last_summary_;
  EXPECT_GE(SummaryNumber(last_summary_, "verify_repaired").value_or(0), 1) << last_summary_;
}

void HazardTest::RunVisibilityScenario(bool unsafe, MirrorDiff* diff) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kHazardRows, 1000).ok());
  PausePoint pause;
  EnvVars env = pause.Env("before-batch:2");
  env["PGOPTIONS"] = "-c synchronous_commit=local";  // the tool's own commits must not hang
  if (unsafe) env["SHADOWCOPY_TEST_UNSAFE"] = "visibility";
  auto tool = StartTool(env);
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << tool->Wait(seconds(5)).Describe();
  MustExec(db(), "ALTER SYSTEM SET synchronous_standby_names = 'nobody_answers'");
  MustExec(db(), "SELECT pg_reload_conf()");
  std::this_thread::sleep_for(milliseconds(200));  // let the backends reload
  auto writer = Connect({{"synchronous_commit", "on"}});
  ASSERT_NE(writer, nullptr);
  hanging_commit_ = std::thread([w = std::move(writer)] {
    auto r = w->Exec(
        "BEGIN; DELETE FROM orders WHERE id = 4000; "
        "DELETE FROM truth WHERE id = 4000; COMMIT");
    if (!r.ok()) std::cout << "hanging commit failed: " << r.status() << "\n";
  });
  std::this_thread::sleep_for(milliseconds(300));
  // The delete is in WAL but invisible: the setup does force the hazard.
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE id = 4000"), "1");
  std::string lsn = QueryValue(db(), "SELECT pg_current_wal_flush_lsn()");
  if (!PollUntilTrue(db(),
                     fmt::format("SELECT coalesce(bool_or(confirmed_flush_lsn >= '{}'), "
                                 "false) {}",
                                 lsn, kToolSlot),
                     seconds(15)))
    std::cout << "warning: the tool's slot did not confirm " << lsn << " within 15 s\n";
  pause.Continue();
  std::this_thread::sleep_for(seconds(3));
  ResetSynchronousStandbys();
  hanging_commit_.join();
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM truth WHERE id = 4000"), "0");
  *diff = FinishAndCompare(tool.get(), &pause);
}

TEST_F(HazardTest, VisibilityInvisibleDeleteIsNotUndone) {
  MirrorDiff diff;
  RunVisibilityScenario(/*unsafe=*/false, &diff);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(diff.Equal()) << diff.sample;
  // The batch holding id 4000 had to wait for the invisible commit.
  auto waits = SummaryNumber(last_summary_, "visibility_waits");
  if (waits.has_value()) {
    EXPECT_GT(*waits, 0) << last_summary_;
  }
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE id = 4000"), "0");
}

TEST_F(HazardTest, VisibilityUnsafeModeResurrectsDeletedRow) {
  extra_args_ = {"--verify=off"};
  MirrorDiff diff;
  RunVisibilityScenario(/*unsafe=*/true, &diff);
  if (HasFatalFailure()) return;
  EXPECT_FALSE(diff.Equal()) << "the hazard was not reproduced: the test cannot detect it";
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE id = 4000"), "1");
}

// A key update of a row whose TOASTed note is unchanged (pgoutput sends the
// note as 'unchanged', so the replay has no full image) moves the row from
// the copied range into the range not copied yet, and the next batch copies
// the row at its new key before the replay has received the move: the tool's
// walsender is stopped (SIGSTOP) from before the move until that batch has
// committed. The replay must then drop the old key instead of failing on the
// new one.
TEST_F(HazardTest, KeyUpdateOfToastedRowAheadOfTheCopy) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kHazardRows, 1000).ok());
  MustExec(db(), "UPDATE orders SET note = " + BigNoteSql("'moved'") +
                     " WHERE id = 5;"
                     "UPDATE truth SET note = " +
                     BigNoteSql("'moved'") +
                     " WHERE id = 5;"
                     "DELETE FROM orders WHERE id = 4999; DELETE FROM truth WHERE id = 4999;");
  PausePoint pause;
  auto tool = StartTool(pause.Env("before-batch:10"));
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << tool->Wait(seconds(5)).Describe();
  HeldWalsender held(QueryValue(db(), std::string("SELECT active_pid ") + kToolSlot));
  ASSERT_TRUE(held.stopped()) << "cannot stop the tool's walsender: " << held.error();
  MustExec(db(),
           "BEGIN; UPDATE orders SET id = 4999, status = 'moved' WHERE id = 5;"
           "UPDATE truth SET id = 4999, status = 'moved' WHERE id = 5; COMMIT");
  pause.Continue();
  // Batch 10 (ids 4501-5000) copies the moved row at its new key.
  EXPECT_TRUE(PollUntilTrue(db(), "SELECT EXISTS (SELECT 1 FROM _orders_shadow WHERE id = 4999)",
                            seconds(60)))
      << "the copy did not reach the moved row while the stream was held";
  held.Release();
  MirrorDiff diff = FinishAndCompare(tool.get());
  EXPECT_TRUE(diff.Equal()) << diff.sample;
}

// A key update with an unchanged TOASTed value moves a copied row to a key
// the copy has not reached; a later change to the new key is then skipped by
// the replay (the copy reads it). The move must not leave the old row at the
// new key, or the copy keeps that stale row (found with verification off
// under the mirror workload). Verification is off: it would repair it.
TEST_F(HazardTest, KeyUpdateBeyondTheCopyThenChanged) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kHazardRows, 1000).ok());
  MustExec(db(), "UPDATE orders SET note = " + BigNoteSql("'moved'") + " WHERE id = 5;" +
                     "UPDATE truth SET note = " + BigNoteSql("'moved'") + " WHERE id = 5;");
  PausePoint pause;
  auto started = ShadowcopyProcess::Start(
      ToolArgs("orders", {"--alter", kAlter, "--execute", "--chunk-size", "500", "--verify=off"}),
      pause.Env("before-batch:3"));
  ASSERT_TRUE(started.ok()) << started.status();
  auto tool = std::move(*started);
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << tool->Wait(seconds(5)).Describe();
  MustExec(db(),
           "BEGIN; UPDATE orders SET id = 9000, status = 'moved' WHERE id = 5;"
           "UPDATE truth SET id = 9000, status = 'moved' WHERE id = 5; COMMIT");
  // Let the replay (it runs while the copy is held) apply the move alone.
  ASSERT_TRUE(WaitSentUpTo(QueryValue(db(), "SELECT pg_current_wal_lsn()::text")));
  std::this_thread::sleep_for(milliseconds(500));
  MustExec(db(),
           "BEGIN; UPDATE orders SET note = NULL WHERE id = 9000;"
           "UPDATE truth SET note = NULL WHERE id = 9000; COMMIT");
  pause.Continue();
  MirrorDiff diff = FinishAndCompare(tool.get(), &pause);
  EXPECT_TRUE(diff.Equal()) << diff.sample;
}

}  // namespace
}  // namespace shadowcopy::it
