// The application's health signal at its default limits, with the
// application already writing when the run starts (its baseline is taken
// under that load): when the application's statements slow down after the
// baseline (sessions whose statements take 300 ms, beside hot-key writers
// mirrored into `truth`), the run is throttled for its health; a light
// writer (one session, a single-row update every 20 ms) never gets it
// throttled. Either way the table ends equal to its truth.
#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/throttle_fixture.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

constexpr int kDefaultsRows = 10000;

// Each session runs `statement(session, rng)` (one mirrored transaction)
// until stopped, resting `rest` between two.
class MirroredWriters {
 public:
  using Statement = std::function<std::pair<std::string, PgParams>(size_t, std::mt19937&)>;
  MirroredWriters(std::vector<std::unique_ptr<PgConn>> conns, Statement statement, milliseconds rest)
      : conns_(std::move(conns)) {
    for (size_t i = 0; i < conns_.size(); ++i)
      threads_.emplace_back([this, i, statement, rest] {
        std::mt19937 rng(300 + i);
        while (!stop_) {
          auto [sql, params] = statement(i, rng);
          auto r = conns_[i]->Query(sql, params);
          if (r.ok()) ++committed_;
          else ++errors_;
          if (rest.count() > 0) std::this_thread::sleep_for(rest);
        }
      });
  }
  ~MirroredWriters() { Stop(); }
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

// `amount + 1` on the orders with ids in [lo, hi], and on their truth rows.
std::pair<std::string, PgParams> MirroredIncrement(int lo, int hi) {
  return {"WITH o AS (UPDATE orders SET amount = amount + 1 WHERE id BETWEEN $1 AND $2 RETURNING id) "
          "UPDATE truth SET amount = amount + 1 WHERE id IN (SELECT id FROM o)",
          {std::to_string(lo), std::to_string(hi)}};
}

bool ThrottledForHealth(const std::string& status) {
  return status.find("\"app_health_throttled\":true") != std::string::npos;
}

class HealthDefaultsTest : public ThrottleControlTest {
 protected:
  // The light writer's run must never be throttled, so nothing else may load
  // the server beside it: see exclusive_server_.
  HealthDefaultsTest() { exclusive_server_ = CurrentTestIsOneOf({"LightWriterDoesNotGetTheRunThrottled"}); }

  std::vector<std::unique_ptr<PgConn>> WriterSessions(int n) {
    std::vector<std::unique_ptr<PgConn>> out;
    for (int i = 0; i < n; ++i) out.push_back(Connect());
    return out;
  }

  // Releases the postponed cutover, checks the run's end and returns its
  // stderr.
  std::string FinishExact() {
    EXPECT_EQ(Ctl({"cutover"}).exit_code, 0);
    ProcessResult result = tool_->Wait(seconds(90));
    ExpectSucceeded(result);
    ExpectMirrorEqual(db(), "orders", "truth");
    return result.err;
  }
};

TEST_F(HealthDefaultsTest, ApplicationSlowingDuringTheRunGetsItThrottled) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kDefaultsRows, 1000000).ok());
  // Two sessions on twenty hot keys, writing before the run starts (they are
  // in its baseline) and all through it.
  MirroredWriters hot(WriterSessions(2), [](size_t, std::mt19937& rng) {
    int id = 1 + static_cast<int>(rng() % 20);
    return MirroredIncrement(id, id);
  }, milliseconds(5));
  std::this_thread::sleep_for(seconds(1));
  // A slow copy, so that the run is still copying when the application
  // slows down.
  ASSERT_NO_FATAL_FAILURE(StartTool({"--chunk-size", "20", "--nice-ratio", "20", "--replay-during-copy",
                                     "--postpone-cutover"}));
  WaitForStatus([](const std::string& st) { return JsonNumber(st, "rows_copied") > 0; }, seconds(30),
                "the copy to start");
  // After the baseline the application's statements take 300 ms each.
  MirroredWriters slow(WriterSessions(4), [](size_t, std::mt19937&) {
    return std::pair<std::string, PgParams>{"SELECT pg_sleep(0.3)", {}};
  }, milliseconds(0));
  std::string s = WaitForStatus(ThrottledForHealth, seconds(30), "the health signal to throttle the run");
  EXPECT_NE(JsonString(s, "throttle_reason").find("throttled: application latency: "), std::string::npos) << s;
  slow.Stop();
  hot.Stop();
  EXPECT_EQ(hot.errors() + slow.errors(), 0);
  EXPECT_GT(hot.committed(), 0);
  ASSERT_EQ(Ctl({"set", "nice-ratio=0"}).exit_code, 0);
  ASSERT_EQ(Ctl({"set", "chunk-size=5000"}).exit_code, 0);
  WaitForStatus([](const std::string& st) { return JsonString(st, "phase") == "postponed"; }, seconds(90),
                "the run to wait for its cutover");
  FinishExact();
}

TEST_F(HealthDefaultsTest, LightWriterDoesNotGetTheRunThrottled) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kDefaultsRows, 1000000).ok());
  MirroredWriters light(WriterSessions(1), [](size_t, std::mt19937& rng) {
    int id = 1 + static_cast<int>(rng() % kDefaultsRows);
    return MirroredIncrement(id, id);
  }, milliseconds(20));
  std::this_thread::sleep_for(seconds(1));
  ASSERT_NO_FATAL_FAILURE(StartTool({"--chunk-size", "2000", "--replay-during-copy", "--postpone-cutover"}));
  auto deadline = Clock::now() + seconds(90);
  std::string s;
  while (Clock::now() < deadline) {
    s = Status();
    EXPECT_FALSE(ThrottledForHealth(s)) << s;
    if (JsonString(s, "phase") == "postponed") break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(JsonString(s, "phase"), "postponed") << s;
  light.Stop();
  EXPECT_EQ(light.errors(), 0);
  EXPECT_GT(light.committed(), 10);
  std::string err = FinishExact();
  // An application was writing: the whole baseline, not the quiet one.
  EXPECT_NE(err.find("application health baseline: canary"), std::string::npos) << err;
  EXPECT_EQ(err.find("(ended after"), std::string::npos) << err;
  // And the indexes were built with one process, leaving it the other cores.
  EXPECT_NE(err.find("(one process: the application is at work): CREATE INDEX"), std::string::npos) << err;
}

}  // namespace
}  // namespace shadowcopy::it
