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

}  // namespace
}  // namespace shadowcopy::it
