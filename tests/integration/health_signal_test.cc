// The application's health signal end to end, on a server without replicas
// and with no query named by the operator: heavy writers (several sessions
// of hot-key updates, mirrored into `truth`) start during a slow copy and
// the run reports being throttled for the application's health in `ctl
// status` (text and JSON), then finishes once they stop, the table equal to
// its truth; with --health-signal off the same load throttles nothing; on
// an idle server the signal never throttles the run.
#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/throttle_fixture.h"
#include "tests/integration/workload.h"
#include "throttler/probes.h"

namespace shadowcopy::it {
namespace {

class HealthSignalTest : public ThrottleControlTest {
 protected:
  std::vector<std::unique_ptr<PgConn>> Sessions(int n) {
    std::vector<std::unique_ptr<PgConn>> out;
    for (int i = 0; i < n; ++i) out.push_back(Connect());
    return out;
  }
};

// Sessions updating a few hot keys as fast as they can, each change made to
// `orders` and `truth` in one transaction.
class HotKeyWriters {
 public:
  HotKeyWriters(std::vector<std::unique_ptr<PgConn>> conns, int hot_keys) : conns_(std::move(conns)) {
    for (size_t i = 0; i < conns_.size(); ++i)
      threads_.emplace_back([this, i, hot_keys] {
        std::mt19937 rng(100 + i);
        PgConn& c = *conns_[i];
        while (!stop_) {
          std::string id = std::to_string(1 + rng() % hot_keys);
          auto r = c.Query("WITH o AS (UPDATE orders SET amount = amount + 1 WHERE id = $1 RETURNING id) "
                           "UPDATE truth SET amount = amount + 1 WHERE id IN (SELECT id FROM o)", {id});
          if (r.ok()) ++committed_;
          else errors_++;
        }
      });
  }
  ~HotKeyWriters() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  int64_t committed() const { return committed_; }
  int64_t errors() const { return errors_; }

 private:
  std::vector<std::unique_ptr<PgConn>> conns_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> committed_{0}, errors_{0};
};

bool HealthThrottled(const std::string& status) {
  return status.find("\"app_health_throttled\":true") != std::string::npos;
}

TEST_F(HealthSignalTest, HeavyWritersThrottleTheRunForTheApplicationsHealth) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000000).ok());
  // A slow copy (small batches, long rests); a sensitive limit so the test
  // does not depend on how loaded the machine is.
  ASSERT_NO_FATAL_FAILURE(StartTool({"--chunk-size", "20", "--nice-ratio", "20", "--replay-during-copy",
                                     "--health-latency-factor", "2", "--health-latency-floor", "3ms"}));
  std::string s = WaitForStatus([](const std::string& s) { return JsonNumber(s, "rows_copied") > 0; },
                                seconds(15), "the copy to start");
  EXPECT_NE(JsonString(s, "health").find("canary"), std::string::npos) << s;
  HotKeyWriters writers(Sessions(8), 20);
  s = WaitForStatus(HealthThrottled, seconds(20), "the health signal to throttle the run");
  EXPECT_NE(JsonString(s, "throttle_reason").find("throttled: application latency: "), std::string::npos) << s;
  EXPECT_NE(JsonString(s, "throttle_reason").find(" p90 "), std::string::npos) << s;
  // The text form too (the signal may let go and fire again meanwhile: the
  // copy it holds back was part of the load).
  bool text = false;
  for (auto until = Clock::now() + seconds(20); !text && Clock::now() < until;) {
    text = Ctl({"status"}).out.find("application latency: ") != std::string::npos;
    if (!text) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(text) << "ctl status never named the application's latency";
  writers.Stop();
  EXPECT_EQ(writers.errors(), 0);
  EXPECT_GT(writers.committed(), 100);
  ASSERT_EQ(Ctl({"set", "nice-ratio=0"}).exit_code, 0);
  ASSERT_EQ(Ctl({"set", "chunk-size=5000"}).exit_code, 0);
  ProcessResult result = tool_->Wait(seconds(90));
  ExpectSucceeded(result);
  EXPECT_NE(result.err.find("application latency"), std::string::npos) << result.err;
  ExpectMirrorEqual(db(), "orders", "truth");
}

TEST_F(HealthSignalTest, OffTheSameLoadThrottlesNothing) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000000).ok());
  ASSERT_NO_FATAL_FAILURE(StartTool({"--chunk-size", "20", "--nice-ratio", "20", "--replay-during-copy",
                                     "--health-latency-factor", "2", "--health-latency-floor", "3ms",
                                     "--health-signal", "off"}));
  WaitForStatus([](const std::string& s) { return JsonNumber(s, "rows_copied") > 0; }, seconds(15),
                "the copy to start");
  HotKeyWriters writers(Sessions(8), 20);
  auto until = Clock::now() + seconds(4);
  while (Clock::now() < until) {
    std::string s = Status();
    EXPECT_FALSE(HealthThrottled(s)) << s;
    EXPECT_EQ(JsonString(s, "health"), "") << s;
    EXPECT_FALSE(JsonString(s, "throttled") == "true" && !JsonString(s, "throttle_reason").empty()) << s;
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_EQ(LastLine(Ctl({"get", "health-signal"}).out), "health-signal=off");
  writers.Stop();
  EXPECT_EQ(writers.errors(), 0);
  ASSERT_EQ(Ctl({"set", "nice-ratio=0"}).exit_code, 0);
  ASSERT_EQ(Ctl({"set", "chunk-size=5000"}).exit_code, 0);
  ProcessResult result = tool_->Wait(seconds(90));
  ExpectSucceeded(result);
  EXPECT_EQ(result.err.find("application latency"), std::string::npos) << result.err;
  ExpectMirrorEqual(db(), "orders", "truth");
}

TEST_F(HealthSignalTest, AnIdleServerIsNeverThrottledByIt) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000000).ok());
  // No session of the database has run a statement for a while: the
  // baseline ends early.
  std::this_thread::sleep_for(seconds(throttler::kQuietLookbackSeconds) + milliseconds(500));
  // Default limits, the copy at full speed: its own load must not read as
  // the application suffering.
  ASSERT_NO_FATAL_FAILURE(StartTool({"--chunk-size", "500", "--postpone-cutover"}));
  auto deadline = Clock::now() + seconds(60);
  std::string s;
  bool seen_health = false;
  while (Clock::now() < deadline) {
    s = Status();
    EXPECT_FALSE(HealthThrottled(s)) << s;
    seen_health = seen_health || JsonString(s, "health").find("canary p90") != std::string::npos;
    // (The health shows once its window has samples: the copy of a small
    // table may be over before.)
    if (JsonString(s, "phase") == "postponed" && seen_health) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(JsonString(s, "phase"), "postponed") << s;
  EXPECT_TRUE(seen_health) << s;
  ASSERT_EQ(Ctl({"set", "health-latency-factor=4"}).exit_code, 0);
  EXPECT_EQ(LastLine(Ctl({"get", "health-latency-factor"}).out), "health-latency-factor=4");
  ASSERT_EQ(Ctl({"cutover"}).exit_code, 0);
  ProcessResult result = tool_->Wait(seconds(60));
  ExpectSucceeded(result);
  EXPECT_EQ(result.err.find("throttle: application latency"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("application health baseline: canary"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("(ended after 0."), std::string::npos) << result.err;
  // No application: the index builds may take every core.
  EXPECT_NE(result.err.find("built index in"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("(one process"), std::string::npos) << result.err;
  ExpectMirrorEqual(db(), "orders", "truth");
}

}  // namespace
}  // namespace shadowcopy::it
