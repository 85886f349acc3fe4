// Throttle signals read from the server, end to end through the binary:
// replica lag measured on a real local standby (its replay paused with
// pg_wal_replay_pause()) holds the copy with that reason and naming the
// standby, and the copy finishes once replay resumes; an application session
// waiting behind a lock our copy holds throttles the copy with the
// lock-waiter reason; an application session holding a lock the copy needs
// makes the copy back off (never queue, so nobody waits behind it) with a
// reason naming the lock. Contents are checked against the mirror table.
#include <atomic>
#include <random>
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/standby.h"
#include "tests/integration/throttle_fixture.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

// An application writer that updates rows with ids in [1, max_id] of both
// `orders` and `truth` in one statement (so the mirror stays exact) and never
// inserts or deletes: the shadow's row count can then only change when the
// copy runs.
class MirroredUpdater {
 public:
  MirroredUpdater(std::unique_ptr<PgConn> conn, int64_t max_id)
      : conn_(std::move(conn)), max_id_(max_id) {
    thread_ = std::thread([this] { Run(); });
  }
  ~MirroredUpdater() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int updates() const { return updates_.load(); }
  std::string error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  void Run() {
    std::mt19937 rng(7);
    while (!stop_) {
      std::string id = std::to_string(1 + rng() % max_id_);
      auto r = conn_->Query(
          "WITH o AS (UPDATE orders SET amount = amount + 1 WHERE id = $1 RETURNING id) "
          "UPDATE truth SET amount = amount + 1 WHERE id IN (SELECT id FROM o)",
          {id});
      if (r.ok()) {
        ++updates_;
      } else {
        std::lock_guard<std::mutex> lock(mu_);
        if (error_.empty()) error_ = std::string(r.status().message());
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  }

  std::unique_ptr<PgConn> conn_;
  const int64_t max_id_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> updates_{0};
  mutable std::mutex mu_;
  std::string error_;
};

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class ReplicaLagTest : public ThrottleControlTest {
 protected:
  // A paused standby throttles every run on the server: run alone.
  ReplicaLagTest() { exclusive_server_ = true; }
};

TEST_F(ReplicaLagTest, PausedStandbyReplayThrottlesUntilItResumes) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 30000, 1000000).ok());
  const std::string name = fmt::format("sc_it_standby_{}", ::getpid());
  auto standby = LocalStandby::Start(name);
  ASSERT_TRUE(standby.ok()) << standby.status();
  auto on_standby = (*standby)->Connect(dbname());
  ASSERT_TRUE(on_standby.ok()) << on_standby.status();

  // Held by the flag until the batches are small enough for the copy to
  // outlast the pause; --replica-dsn measures on the standby itself too.
  CreateFlag();
  ASSERT_NO_FATAL_FAILURE(StartTool({"--throttle-flag-file", flag_, "--max-replica-lag", "1s",
                                     "--replica-dsn", (*standby)->Dsn(dbname())}));
  ASSERT_EQ(Ctl({"set", "chunk-size=3"}).exit_code, 0);
  RemoveFlag();
  WaitForStatus([](const std::string& s) { return JsonNumber(s, "rows_copied") > 0; }, seconds(10),
                "the copy to start");
  int64_t max_copied = std::stoll("0" + QueryValue(db(), "SELECT max(id) FROM _orders_shadow"));
  ASSERT_GT(max_copied, 0);
  MirroredUpdater writer(Connect(), max_copied);

  MustExec(**on_standby, "SELECT pg_wal_replay_pause()");
  std::string s = WaitForStatus(
      [&](const std::string& s) {
        std::string why = JsonString(s, "throttle_reason");
        return Contains(why, "replica lag") && Contains(why, "on " + name) && Contains(why, "on replica");
      },
      seconds(15), "replica lag on the standby and on --replica-dsn");
  EXPECT_TRUE(Contains(JsonString(s, "throttle_reason"), "> 1 s on " + name)) << s;
  ASSERT_LT(JsonNumber(s, "rows_copied"), 30000) << "the copy finished before the standby lagged";
  std::this_thread::sleep_for(milliseconds(500));  // a batch in flight commits
  int64_t shadow_before = ShadowRows();
  double copied_before = JsonNumber(Status(), "rows_copied");
  int updates_before = writer.updates();
  std::this_thread::sleep_for(seconds(2));
  std::string held = Status();
  EXPECT_EQ(ShadowRows(), shadow_before) << "the copy ran while the standby lagged";
  EXPECT_EQ(JsonNumber(held, "rows_copied"), copied_before) << held;
  EXPECT_TRUE(Contains(JsonString(held, "throttle_reason"), "replica lag")) << held;
  EXPECT_GT(writer.updates(), updates_before + 50) << "the application kept writing";

  MustExec(**on_standby, "SELECT pg_wal_replay_resume()");
  WaitForStatus([&](const std::string& s) { return JsonNumber(s, "rows_copied") > copied_before; },
                seconds(15), "the copy to go on once the standby replays again");
  ASSERT_EQ(Ctl({"set", "chunk-size=5000"}).exit_code, 0);
  writer.Stop();
  EXPECT_EQ(writer.error(), "");
  ProcessResult result = tool_->Wait(seconds(60));
  ExpectSucceeded(result);
  EXPECT_TRUE(Contains(result.err, "throttle: throttled: replica lag")) << result.err;
  EXPECT_TRUE(Contains(result.err, "throttle: released")) << result.err;
  ExpectMirrorEqual(db(), "orders", "truth");
}

// Our own sessions that wait on a lock, and application sessions that wait
// for one of ours: both must stay at zero while the copy backs off.
constexpr const char* kOurLockWaitsSql =
    "SELECT (SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'shadowcopy%' "
    "AND datname = current_database() AND wait_event_type = 'Lock') + (SELECT count(*) FROM pg_stat_activity a "
    "CROSS JOIN LATERAL unnest(pg_blocking_pids(a.pid)) AS b(pid) WHERE a.application_name = 'sc_it' "
    "AND a.datname = current_database() AND b.pid IN (SELECT pid FROM pg_stat_activity "
    "WHERE application_name LIKE 'shadowcopy%' AND datname = current_database()))";

TEST_F(ThrottleControlTest, ApplicationWaitingBehindOurBatchThrottlesTheCopy) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000000).ok());
  PausePoint pause;
  ASSERT_NO_FATAL_FAILURE(StartTool({"--chunk-size", "100"}, pause.Env("before-commit:2")));
  ASSERT_TRUE(pause.WaitPaused(seconds(20))) << tool_->Wait(seconds(5)).Describe();

  // The batch holds ACCESS SHARE on orders; a DDL of the application queues
  // behind it.
  auto app = Connect();
  std::string app_pid = QueryValue(*app, "SELECT pg_backend_pid()");
  std::atomic<bool> granted{false};
  std::string app_error;
  std::thread ddl([&] {
    for (const char* sql : {"BEGIN", "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"}) {
      auto r = app->Exec(sql);
      if (!r.ok()) app_error = std::string(r.status().message());
    }
    granted = true;
    std::this_thread::sleep_for(milliseconds(300));
    if (auto r = app->Exec("COMMIT"); !r.ok()) app_error = std::string(r.status().message());
  });
  std::string s = WaitForStatus(
      [&](const std::string& s) {
        return Contains(JsonString(s, "throttle_reason"),
                        "lock waiters 1 > 0 (pid " + app_pid + " waits for our pid");
      },
      seconds(10), "the lock-waiter reason");
  EXPECT_TRUE(s.find("\"throttled\":true") != std::string::npos) << s;
  EXPECT_FALSE(granted.load());
  pause.Continue();
  ddl.join();
  EXPECT_EQ(app_error, "");
  ProcessResult result = tool_->Wait(seconds(60));
  ExpectSucceeded(result);
  EXPECT_TRUE(Contains(result.err, "throttled: lock waiters 1 > 0 (pid " + app_pid)) << result.err;
  ExpectMirrorEqual(db(), "orders", "truth");
}

TEST_F(ThrottleControlTest, ApplicationHoldingALockMakesTheCopyBackOffWithoutQueueing) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000000).ok());
  CreateFlag();
  ASSERT_NO_FATAL_FAILURE(StartTool({"--throttle-flag-file", flag_}));
  ASSERT_EQ(Ctl({"set", "chunk-size=20"}).exit_code, 0);
  RemoveFlag();
  WaitForStatus([](const std::string& s) { return JsonNumber(s, "rows_copied") > 0; }, seconds(10),
                "the copy to start");

  // One application session holds ACCESS EXCLUSIVE, a second one queues
  // behind it. The copy must neither queue (the second would then wait for
  // it too) nor go on.
  auto holder = Connect();
  std::string holder_pid = QueryValue(*holder, "SELECT pg_backend_pid()");
  MustExec(*holder, "BEGIN");
  MustExec(*holder, "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
  auto queued = Connect();
  std::string queued_error;
  std::thread second([&] {
    if (auto r = queued->Exec("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; COMMIT"); !r.ok())
      queued_error = std::string(r.status().message());
  });
  std::string s = WaitForStatus(
      [&](const std::string& s) {
        return Contains(JsonString(s, "throttle_reason"),
                        "the copy cannot lock \"public\".\"orders\" (AccessExclusiveLock held by pid " +
                            holder_pid);
      },
      seconds(10), "the copy to back off from the application's lock");
  double copied = JsonNumber(s, "rows_copied");
  auto until = Clock::now() + seconds(2);
  int polls = 0;
  while (Clock::now() < until) {
    // Not ASSERT: the application's threads must still be joined.
    if (std::string waits = QueryValue(db(), kOurLockWaitsSql); waits != "0") {
      ADD_FAILURE() << waits << " lock waits involve our sessions";
      break;
    }
    ++polls;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_GT(polls, 10);
  EXPECT_EQ(JsonNumber(Status(), "rows_copied"), copied) << "the copy went on";
  MustExec(*holder, "COMMIT");
  second.join();
  EXPECT_EQ(queued_error, "");
  ASSERT_EQ(Ctl({"set", "chunk-size=5000"}).exit_code, 0);
  ProcessResult result = tool_->Wait(seconds(60));
  ExpectSucceeded(result);
  EXPECT_TRUE(Contains(result.err, "throttle")) << result.err;
  ExpectMirrorEqual(db(), "orders", "truth");
}

}  // namespace
}  // namespace shadowcopy::it
