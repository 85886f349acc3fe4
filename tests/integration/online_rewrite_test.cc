// Online rewrites end to end: shadowcopy --execute against a table that a
// mirror workload keeps writing from before the start until after the exit.
// Covers an ALTER that rewrites (id to bigint), a plain rebuild (with and
// without --drop-old-table), and tables keyed by a composite, a text and a
// uuid key. Each run must exit 0, the writers must see no error, the result
// must equal the truth table with the same ALTER applied offline, and no
// slot, publication or shadow table may be left.
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "common/quote.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kRows = 30000;
constexpr char kChunkSize[] = "500";

class OnlineRewriteTest : public DatabaseTest {
 protected:
  // Loads orders/truth, runs the tool with `tool_args` while the workload
  // writes (from 0.5 s before until 1 s after), then stops the workload.
  // `on_line` also sees each stderr line of the tool.
  ProcessResult RunUnderLoad(const std::vector<std::string>& tool_args, MirrorWorkload* workload,
                             EnvVars env = {}, StderrLineCallback on_line = nullptr) {
    auto st = workload->Start();
    EXPECT_TRUE(st.ok()) << st;
    std::this_thread::sleep_for(milliseconds(500));
    auto track = TrackCopyPhase(workload);
    ProcessResult result = RunShadowcopy(
        ToolArgs("orders", tool_args), env,
        [&](const std::string& line) {
          track(line);
          if (on_line) on_line(line);
        },
        seconds(240));
    workload->SetCopyPhaseActive(false);
    std::this_thread::sleep_for(seconds(1));
    workload->Stop();
    std::cout << "workload events:\n" << workload->CountsReport();
    return result;
  }

  // No writer waited long: the cutover queues writers for at most its lock
  // timeout (1 s by default); 2 s leaves room for a slow machine.
  void ExpectWritersNotStalled(const MirrorWorkload& workload) {
    EXPECT_LT(workload.MaxTransactionTime(), seconds(2)) << workload.CountsReport();
  }

  // Every event type committed while the copy ran.
  void ExpectEveryEventDuringCopy(const MirrorWorkload& workload) {
    for (int i = 0; i < static_cast<int>(EventType::kCount); ++i) {
      auto type = static_cast<EventType>(i);
      EXPECT_GT(workload.CommittedDuringCopy(type), 0)
          << "no " << EventTypeName(type) << " committed during the copy phase\n"
          << workload.CountsReport();
    }
  }

  // The summary JSON reports copied rows.
  void ExpectSummaryCopiedRows(const ProcessResult& result) {
    auto rows = SummaryNumber(LastLine(result.out), "rows_copied");
    ASSERT_TRUE(rows.has_value()) << "no rows_copied in: " << LastLine(result.out);
    EXPECT_GT(*rows, 0);
    auto replayed = SummaryNumber(LastLine(result.out), "changes_replayed");
    ASSERT_TRUE(replayed.has_value()) << "no changes_replayed in: " << LastLine(result.out);
    EXPECT_GT(*replayed, 0) << "the workload wrote during the run, yet nothing was replayed";
    // Verification repairs what it finds; copy and replay must leave it
    // nothing to find.
    auto mismatches = SummaryNumber(LastLine(result.out), "verify_mismatches");
    if (mismatches.has_value()) {
      EXPECT_EQ(*mismatches, 0) << "verification had to repair the copy/replay";
    }
  }

  // The migrated table keeps working: the serial default is owned by it and
  // an insert with the default does not collide with existing keys.
  void ExpectSequenceWorksAfterwards() {
    EXPECT_NE(QueryValue(db(), "SELECT pg_get_serial_sequence('orders', 'id')"), "")
        << "the id sequence is not owned by the new orders table";
    for (int i = 0; i < 3; ++i) {
      auto res =
          db().Exec("INSERT INTO orders (customer_id, status, amount) VALUES (1, 'after', 1.00)");
      EXPECT_TRUE(res.ok()) << "insert after the migration: " << res.status();
    }
  }

  // Loads orders, runs the id -> bigint ALTER with verification off (the
  // mirror alone judges the copy and the replay) plus `extra` under the
  // workload, and checks what every such run must hold; returns the result
  // for the test's own checks.
  ProcessResult AlterToBigintJudgedByTheMirror(const std::vector<std::string>& extra, EnvVars env = {},
                                               bool every_event_during_copy = true,
                                               StderrLineCallback on_line = nullptr) {
    const std::string alter = "ALTER COLUMN id TYPE bigint";
    if (!CreateAndLoadOrders(db(), kRows).ok()) {
      ADD_FAILURE() << "loading orders failed";
      return {};
    }
    MirrorWorkload workload(dbname(), WorkloadOptions{});
    std::vector<std::string> args = {"--alter", alter, "--execute", "--chunk-size", kChunkSize, "--verify=off"};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult result = RunUnderLoad(args, &workload, std::move(env), std::move(on_line));
    ExpectSucceeded(result);
    ExpectNoWorkloadErrors(workload);
    if (every_event_during_copy) ExpectEveryEventDuringCopy(workload);
    EXPECT_TRUE(TransformTruth(db(), "truth", alter).ok());
    ExpectMirrorEqual(db(), "orders", "truth");
    ExpectNothingLeftBehind("orders");
    ExpectSummaryCopiedRows(result);
    return result;
  }

  // Where replay started, from the summary: "after the copy" (deferred, the
  // default), "from the start" or "from batch N".
  static std::string ReplayStart(const ProcessResult& result) {
    std::string line = LastLine(result.out);
    if (line.find("\"replay_deferred\":true") != std::string::npos) return "after the copy";
    auto batch = SummaryNumber(line, "replay_from_batch");
    if (!batch.has_value()) return "unknown: " + line;
    return *batch == 0 ? "from the start" : fmt::format("from batch {}", *batch);
  }

  void ExpectColumnType(const std::string& table, const std::string& column,
                        const std::string& type) {
    EXPECT_EQ(QueryValue(db(), fmt::format("SELECT atttypid::regtype FROM pg_attribute WHERE "
                                           "attrelid = {}::regclass AND attname = {}",
                                           QuoteLiteral(table), QuoteLiteral(column))),
              type);
  }
};

TEST_F(OnlineRewriteTest, AlterIdToBigintUnderLoad) {
  const std::string alter = "ALTER COLUMN id TYPE bigint";
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ProcessResult result =
      RunUnderLoad({"--alter", alter, "--execute", "--chunk-size", kChunkSize}, &workload);
  ExpectSucceeded(result);
  ExpectNoWorkloadErrors(workload);
  ExpectWritersNotStalled(workload);
  ExpectEveryEventDuringCopy(workload);
  ASSERT_TRUE(TransformTruth(db(), "truth", alter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectColumnType("orders", "id", "bigint");
  EXPECT_TRUE(TableExists(OldTableOf("orders")));
  ExpectNothingLeftBehind("orders");
  ExpectSummaryCopiedRows(result);
  ExpectSequenceWorksAfterwards();
  // The default: the key index is built after the copy, replay waits for it
  // -- unless a throttle signal (the application's health on a loaded
  // machine) made the copy wait, which starts replay at once by design.
  if (result.err.find("replay starts during the copy (throttled: ") != std::string::npos)
    std::cout << "the copy was throttled: replay started " << ReplayStart(result) << "\n";
  else
    EXPECT_EQ(ReplayStart(result), "after the copy");
}

// Replay between copy batches from the first one (the shadow has its key
// index from the start); verification off, so the mirror alone judges.
TEST_F(OnlineRewriteTest, ReplayDuringTheCopyUnderLoad) {
  ProcessResult result = AlterToBigintJudgedByTheMirror({"--replay-during-copy"});
  EXPECT_EQ(ReplayStart(result), "from the start");
}

// Deferred replay switching to replay between batches part-way through the
// copy (what a growing backlog or a throttled copy does): the key index is
// built on the rows copied so far, the held transactions are replayed, the
// rest of the copy goes on with the ordering and visibility rules.
TEST_F(OnlineRewriteTest, DeferredReplayStartsDuringTheCopyUnderLoad) {
  ProcessResult result = AlterToBigintJudgedByTheMirror(
      // No health signal: a throttled copy (a loaded machine) would start
      // replay before batch 20 by design.
      {"--health-signal", "off"}, {{"SHADOWCOPY_TEST_EARLY_KEY", "20"}});
  EXPECT_EQ(ReplayStart(result), "from batch 20");
  EXPECT_NE(result.err.find("replay starts during the copy (test hook)"), std::string::npos) << result.err;
}

TEST_F(OnlineRewriteTest, RebuildWithoutAlterUnderLoad) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  std::string old_oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ProcessResult result = RunUnderLoad({"--execute", "--chunk-size", kChunkSize}, &workload);
  ExpectSucceeded(result);
  ExpectNoWorkloadErrors(workload);
  ExpectWritersNotStalled(workload);
  ExpectEveryEventDuringCopy(workload);
  ExpectMirrorEqual(db(), "orders", "truth");
  EXPECT_NE(TableOid("orders"), old_oid) << "orders was not replaced";
  ExpectColumnType("orders", "id", "integer");
  EXPECT_TRUE(TableExists(OldTableOf("orders")));
  ExpectNothingLeftBehind("orders");
  ExpectSummaryCopiedRows(result);
  ExpectSequenceWorksAfterwards();
}

TEST_F(OnlineRewriteTest, RebuildWithDropOldTable) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows / 2).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ProcessResult result =
      RunUnderLoad({"--execute", "--drop-old-table", "--chunk-size", kChunkSize}, &workload);
  ExpectSucceeded(result);
  ExpectNoWorkloadErrors(workload);
  ExpectWritersNotStalled(workload);
  ExpectMirrorEqual(db(), "orders", "truth");
  EXPECT_FALSE(AnyOldTableOf("orders")) << "--drop-old-table kept the old table";
  ExpectNothingLeftBehind("orders");
  ExpectSummaryCopiedRows(result);
  // Dropping the old table must not have dropped the sequence.
  ExpectSequenceWorksAfterwards();
}

// Every replay group split by key over three apply connections (a test hook
// lowers the size from which groups are split), under the mirror workload:
// the backlog held during the copy and the steady replay after it.
TEST_F(OnlineRewriteTest, ParallelApplyUnderLoad) {
  // The cutover waits for a flag file, removed once replay has run for 4 s
  // with the run postponed, so that it meets groups without re-reads (those
  // stay on one connection): the backlog held during the copy is replayed in
  // large groups, nearly all with one. (Not a time from the start: on a
  // loaded machine the copy and the backlog alone can take longer.)
  std::string flag = fmt::format("/tmp/shadowcopy-it-postpone-{}", getpid());
  { std::FILE* f = std::fopen(flag.c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  std::mutex mu;
  std::condition_variable cv;
  bool postponed = false, finished = false;
  std::thread release([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, seconds(240), [&] { return postponed || finished; });
    if (postponed) cv.wait_for(lock, seconds(4), [&] { return finished; });
    std::remove(flag.c_str());
  });
  ProcessResult result = AlterToBigintJudgedByTheMirror(
      {"--apply-workers", "3", "--postpone-cutover-flag-file", flag}, {{"SHADOWCOPY_TEST_PARALLEL_APPLY_ROWS", "1"}},
      /*every_event_during_copy=*/false, [&](const std::string& line) {
        if (line.find("cutover postponed") == std::string::npos) return;
        std::lock_guard<std::mutex> lock(mu);
        postponed = true;
        cv.notify_all();
      });
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
    cv.notify_all();
  }
  release.join();
  EXPECT_TRUE(postponed) << "the run never waited for the flag file";
  auto groups = SummaryNumber(LastLine(result.out), "parallel_apply_groups");
  ASSERT_TRUE(groups.has_value()) << LastLine(result.out);
  EXPECT_GT(*groups, 0) << LastLine(result.out);
}

// Batches side by side on three connections, committed in key order; with
// verification off the mirror judges the copy and the replay alone.
TEST_F(OnlineRewriteTest, ParallelCopyBatchesUnderLoad) {
  const std::string alter = "ALTER COLUMN id TYPE bigint";
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ProcessResult result = RunUnderLoad(
      {"--alter", alter, "--execute", "--chunk-size", kChunkSize, "--copy-workers", "3", "--verify=off"},
      &workload);
  ExpectSucceeded(result);
  ExpectNoWorkloadErrors(workload);
  ExpectWritersNotStalled(workload);
  ExpectEveryEventDuringCopy(workload);
  ASSERT_TRUE(TransformTruth(db(), "truth", alter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
  ExpectSummaryCopiedRows(result);
}

}  // namespace
}  // namespace shadowcopy::it
