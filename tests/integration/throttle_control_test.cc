// Throttling and the control socket, end to end through the binary:
// `pause` holds the copy (the shadow's row count stays still while the
// application writes and the replay keeps up) and `resume` finishes it;
// `set chunk-size` changes the batches' size; the throttle flag file and a
// --throttle-query hold the copy with that reason and release it;
// --nice-ratio rests the copy between batches while the replay goes on;
// --postpone-cutover waits for `ctl cutover`; `abort` stops and cleans up;
// a malformed command gets an error reply, a non-zero exit and changes
// nothing; the socket is mode 0600 and is removed at exit.
//
// Written against the planned command line (--socket, --throttle-flag-file,
// ..., `shadowcopy ctl`): skipped while the binary's --help does not mention
// --socket.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/throttle_fixture.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

TEST_F(ThrottleControlTest, PauseHoldsTheCopyAndResumeFinishesIt) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 40000, 1000000).ok());
  CreateFlag();
  ASSERT_NO_FATAL_FAILURE(StartTool({"--throttle-flag-file", flag_, "--chunk-size", "20"}));
  ASSERT_EQ(Ctl({"set", "chunk-size=20"}).exit_code, 0);
  RemoveFlag();
  WaitForStatus([](const std::string& s) { return JsonNumber(s, "rows_copied") > 0; }, seconds(10),
                "the copy to start");
  ProcessResult paused = Ctl({"pause"});
  ASSERT_EQ(paused.exit_code, 0) << paused.Describe();
  EXPECT_EQ(paused.out.rfind("ok:", 0), 0u) << paused.out;
  std::this_thread::sleep_for(milliseconds(500));  // the batch in flight commits
  std::string before = Status();
  EXPECT_EQ(JsonString(before, "throttle_reason"), "throttled: paused by operator") << before;
  int64_t shadow_before = ShadowRows();
  ASSERT_LT(JsonNumber(before, "rows_copied"), 40000) << "the copy finished before the pause";

  // The application keeps writing: updates of rows already copied (so the
  // shadow's row count may only change if the copy runs).
  int64_t max_copied = std::stoll("0" + QueryValue(db(), "SELECT max(id) FROM _orders_shadow"));
  ASSERT_GT(max_copied, 0);
  std::atomic<bool> stop{false};
  std::atomic<int> updates{0};
  auto writer_conn = Connect();
  std::thread writer([&] {
    std::mt19937 rng(42);
    while (!stop) {
      std::string id = std::to_string(1 + rng() % max_copied);
      if (writer_conn->Query("UPDATE orders SET amount = amount + 1 WHERE id = $1", {id}).ok())
        ++updates;
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  std::this_thread::sleep_for(seconds(3));
  std::string after = Status();
  int64_t shadow_after = ShadowRows();
  stop = true;
  writer.join();
  EXPECT_GT(updates.load(), 100);
  EXPECT_EQ(shadow_after, shadow_before) << "the copy ran while paused";
  EXPECT_EQ(JsonNumber(after, "rows_copied"), JsonNumber(before, "rows_copied"));
  EXPECT_GT(JsonNumber(after, "changes_replayed"), JsonNumber(before, "changes_replayed"))
      << "the replay must keep up during a pause\nbefore: " << before << "\nafter: " << after;

  ASSERT_EQ(Ctl({"set", "chunk-size=5000"}).exit_code, 0);
  ASSERT_EQ(Ctl({"resume"}).exit_code, 0);
  ProcessResult result = tool_->Wait(seconds(60));
  ExpectSucceeded(result);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders"), "40000");
  EXPECT_EQ(
      QueryValue(db(),
                 "SELECT (SELECT sum(amount) FROM orders) = (SELECT sum(amount) FROM truth) + " +
                     std::to_string(updates.load())),
      "t")
      << "every update made during the pause reached the new table";
}

TEST_F(ThrottleControlTest, NiceRatioRestsBetweenBatchesWhileTheReplayGoesOn) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000000).ok());
  // Batches of 20 rows followed by rests of 100 times their duration.
  ASSERT_NO_FATAL_FAILURE(StartTool({"--chunk-size", "20", "--nice-ratio", "100", "--replay-during-copy"}));
  std::string s = WaitForStatus([](const std::string& s) { return JsonNumber(s, "rows_copied") >= 40; },
                                seconds(15), "two batches");
  EXPECT_EQ(JsonNumber(s, "nice_ratio"), 100);
  EXPECT_NE(Ctl({"status"}).out.find("nice ratio 100"), std::string::npos);
  int64_t max_copied = std::stoll("0" + QueryValue(db(), "SELECT max(id) FROM _orders_shadow"));
  ASSERT_GT(max_copied, 0);
  std::atomic<bool> stop{false};
  std::atomic<int> updates{0};
  auto writer_conn = Connect();
  std::thread writer([&] {
    std::mt19937 rng(11);
    while (!stop) {
      std::string id = std::to_string(1 + rng() % max_copied);
      if (writer_conn->Query("WITH o AS (UPDATE orders SET amount = amount + 1 WHERE id = $1 RETURNING id) "
                             "UPDATE truth SET amount = amount + 1 WHERE id IN (SELECT id FROM o)",
                             {id}).ok())
        ++updates;
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  // The replay applies the application's changes while the copy rests.
  std::string before = Status();
  s = WaitForStatus(
      [&](const std::string& s) {
        return JsonNumber(s, "changes_replayed") >= JsonNumber(before, "changes_replayed") + 50;
      },
      seconds(15), "the replay to go on during the rests");
  // Unrested, 20-row batches run hundreds a second here; with rests of 100
  // times a batch, at most a few dozen fit in a second.
  std::string s1 = Status();
  std::this_thread::sleep_for(seconds(1));
  std::string s2 = Status();
  EXPECT_LT(JsonNumber(s2, "batches") - JsonNumber(s1, "batches"), 100) << s1 << "\n" << s2;
  EXPECT_LT(JsonNumber(s2, "rows_copied"), 20000) << "the copy did not rest";
  stop = true;
  writer.join();
  ASSERT_EQ(Ctl({"set", "nice-ratio=0"}).exit_code, 0);
  ASSERT_EQ(Ctl({"set", "chunk-size=5000"}).exit_code, 0);
  ExpectSucceeded(tool_->Wait(seconds(60)));
  EXPECT_GT(updates.load(), 50);
  ExpectMirrorEqual(db(), "orders", "truth");
}

TEST_F(ThrottleControlTest, SetChunkSizeChangesTheBatchSize) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 30000, 1000000).ok());
  CreateFlag();
  ASSERT_NO_FATAL_FAILURE(StartTool({"--throttle-flag-file", flag_}));
  ProcessResult set = Ctl({"set", "chunk-size=37"});
  ASSERT_EQ(set.exit_code, 0) << set.Describe();
  EXPECT_EQ(LastLine(set.out), "ok: chunk-size=37 (fixed size)");
  EXPECT_EQ(LastLine(Ctl({"get", "chunk-size"}).out), "chunk-size=37");
  RemoveFlag();
  std::string s = WaitForStatus(
      [](const std::string& s) {
        return JsonNumber(s, "chunk_size") == 37 && JsonNumber(s, "rows_copied") > 37;
      },
      seconds(10), "batches of 37 rows");
  EXPECT_EQ(JsonString(s, "chunk_mode"), "fixed");
  // Every batch since holds 37 rows (the last one may hold fewer).
  int64_t rows = static_cast<int64_t>(JsonNumber(s, "rows_copied"));
  int64_t batches = static_cast<int64_t>(JsonNumber(s, "batches"));
  EXPECT_LE(rows, batches * 200) << s;
  ASSERT_EQ(Ctl({"set", "target-chunk-time=100ms"}).exit_code, 0);
  s = WaitForStatus([](const std::string& s) { return JsonString(s, "chunk_mode") == "adaptive"; },
                    seconds(5), "adaptive mode");
  ProcessResult nice = Ctl({"set", "nice-ratio=0.5"});
  ASSERT_EQ(nice.exit_code, 0) << nice.Describe();
  EXPECT_EQ(LastLine(Ctl({"get", "nice-ratio"}).out), "nice-ratio=0.5");
  EXPECT_EQ(JsonNumber(Status(), "nice_ratio"), 0.5);
  ASSERT_EQ(Ctl({"set", "max-chunk-size=20000"}).exit_code, 0);
  ProcessResult result = tool_->Wait(seconds(60));
  ExpectSucceeded(result);
  EXPECT_NE(result.err.find("nice-ratio set to 0.5 (was 0)"), std::string::npos) << result.err;
}

TEST_F(ThrottleControlTest, FlagFileThrottlesWithItsReasonUntilRemoved) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000000).ok());
  CreateFlag();
  ASSERT_NO_FATAL_FAILURE(StartTool({"--throttle-flag-file", flag_}));
  std::string s = WaitForStatus(
      [](const std::string& s) {
        return JsonString(s, "phase") == "copy" &&
               s.find("\"throttled\":true") != std::string::npos;
      },
      seconds(10), "the copy phase, throttled");
  EXPECT_EQ(JsonString(s, "throttle_reason"), "throttled: flag file " + flag_ + " exists") << s;
  std::this_thread::sleep_for(seconds(2));
  EXPECT_EQ(JsonNumber(Status(), "rows_copied"), 0) << "the copy ran while throttled";
  ProcessResult text = Ctl({"status"});
  EXPECT_NE(text.out.find("flag file " + flag_ + " exists"), std::string::npos) << text.out;
  RemoveFlag();
  ExpectSucceeded(tool_->Wait(seconds(60)));
}

TEST_F(ThrottleControlTest, ThrottleQueryThrottlesUntilItReturnsZero) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000000).ok());
  MustExec(db(),
           "CREATE TABLE throttle_switch (on_off int); INSERT INTO throttle_switch VALUES (1)");
  ASSERT_NO_FATAL_FAILURE(
      StartTool({"--throttle-query", "SELECT coalesce(sum(on_off), 0) FROM throttle_switch"}));
  std::string s = WaitForStatus(
      [](const std::string& s) {
        return JsonString(s, "phase") == "copy" &&
               JsonString(s, "throttle_reason").find("throttle query returned 1") !=
                   std::string::npos;
      },
      seconds(10), "the throttle query's reason");
  std::this_thread::sleep_for(seconds(1));
  EXPECT_EQ(JsonNumber(Status(), "rows_copied"), 0);
  MustExec(db(), "DELETE FROM throttle_switch");
  ExpectSucceeded(tool_->Wait(seconds(60)));
}

TEST_F(ThrottleControlTest, PostponedCutoverWaitsForCtlCutover) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000000).ok());
  std::string oid = TableOid("orders");
  ASSERT_NO_FATAL_FAILURE(StartTool({"--postpone-cutover"}));
  WaitForStatus(
      [](const std::string& s) {
        return JsonString(s, "cutover") == "postponed" && JsonNumber(s, "rows_copied") >= 3000;
      },
      seconds(15), "the copy to finish with the cutover postponed");
  std::this_thread::sleep_for(seconds(2));
  EXPECT_EQ(TableOid("orders"), oid) << "the cutover did not wait";
  MustExec(db(), "INSERT INTO orders (customer_id, status, amount) VALUES (7, 'late', 1.00)");
  ProcessResult released = Ctl({"cutover"});
  EXPECT_EQ(released.exit_code, 0) << released.Describe();
  EXPECT_EQ(LastLine(released.out), "ok: cutover released");
  ExpectSucceeded(tool_->Wait(seconds(60)));
  EXPECT_NE(TableOid("orders"), oid);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE status = 'late'"), "1")
      << "a change made while the cutover waited was replayed";
}

TEST_F(ThrottleControlTest, MalformedCommandsGetAnErrorAndChangeNothing) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000000).ok());
  CreateFlag();
  ASSERT_NO_FATAL_FAILURE(StartTool({"--throttle-flag-file", flag_}));
  std::string help_before = Ctl({"help"}).out;
  // The throttler starts with the copy: compare states from then on.
  std::string status_before = Status();
  for (int i = 0; i < 100 && JsonString(status_before, "throttle_reason").empty(); ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    status_before = Status();
  }
  for (std::vector<std::string> bad : {std::vector<std::string>{"frobnicate"},
                                       {"set", "chunk-size=abc"},
                                       {"set", "chunk-size"},
                                       {"set", "no-such=1"},
                                       {"set", "nice-ratio=-1"},
                                       {"get", "nothing"},
                                       {"pause", "now"},
                                       {"status", "--yaml"}}) {
    ProcessResult r = Ctl(bad);
    EXPECT_NE(r.exit_code, 0) << bad[0] << "\n" << r.Describe();
    EXPECT_NE(r.err.find("error:"), std::string::npos) << r.Describe();
  }
  EXPECT_EQ(Ctl({"help"}).out, help_before) << "a tunable changed";
  std::string status_after = Status();
  for (const char* key : {"chunk_mode", "throttle_reason", "cutover"})
    EXPECT_EQ(JsonString(status_after, key), JsonString(status_before, key)) << key;
  EXPECT_EQ(status_after.find("\"paused\":true"), std::string::npos);
  EXPECT_EQ(status_after.find("\"abort_requested\":true"), std::string::npos);
  RemoveFlag();
  ExpectSucceeded(tool_->Wait(seconds(60)));
}

TEST_F(ThrottleControlTest, SocketIsPrivateAndRemovedAtExit) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 1000000).ok());
  CreateFlag();
  ASSERT_NO_FATAL_FAILURE(StartTool({"--throttle-flag-file", flag_}));
  struct stat st;
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u) << std::oct << (st.st_mode & 0777);
  // A second run on the same socket is refused while the first serves it.
  ProcessResult second = RunShadowcopy(ToolArgs("orders", {"--execute", "--socket", socket_}), {},
                                       nullptr, seconds(30));
  EXPECT_NE(second.exit_code, 0) << second.Describe();
  EXPECT_TRUE(Exists(socket_)) << "the refused run removed the live socket";
  RemoveFlag();
  ExpectSucceeded(tool_->Wait(seconds(60)));
  EXPECT_FALSE(Exists(socket_)) << "socket file left behind";
  ProcessResult gone = Ctl({"status"});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.err.find(socket_), std::string::npos)
      << "the message names the socket: " << gone.err;
}

TEST_F(ThrottleControlTest, AbortStopsAndCleansUp) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000000).ok());
  std::string oid = TableOid("orders");
  CreateFlag();
  ASSERT_NO_FATAL_FAILURE(StartTool({"--throttle-flag-file", flag_}));
  ProcessResult r = Ctl({"abort"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  ProcessResult result = tool_->Wait(seconds(30));
  EXPECT_FALSE(result.timed_out) << result.Describe();
  EXPECT_NE(result.exit_code, 0) << result.Describe();
  EXPECT_FALSE(Exists(socket_));
  EXPECT_EQ(TableOid("orders"), oid);
  ExpectNothingLeftBehind("orders");
}

}  // namespace
}  // namespace shadowcopy::it
