// The application's health signal at its default limits, with the
// application already writing when the run starts (its baseline is taken
// under that load): a heavy writer (sessions of hot-key updates and a
// session of multi-thousand-row transactions, all mirrored into `truth`)
// gets the run throttled for its health; a light writer (one session, a
// single-row update every 20 ms) never does. Either way the table ends
// equal to its truth.
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

constexpr int kDefaultsRows = 30000;

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
  std::vector<std::unique_ptr<PgConn>> WriterSessions(int n) {
    std::vector<std::unique_ptr<PgConn>> out;
    for (int i = 0; i < n; ++i) out.push_back(Connect());
    return out;
  }

  // Releases the postponed cutover and checks the run's end.
  void FinishExact() {
    ASSERT_EQ(Ctl({"cutover"}).exit_code, 0);
    ProcessResult result = tool_->Wait(seconds(90));
    ExpectSucceeded(result);
    ExpectMirrorEqual(db(), "orders", "truth");
  }
};

TEST_F(HealthDefaultsTest, HeavyWriterGetsTheRunThrottled) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kDefaultsRows, 1000000).ok());
  // Eight sessions on twenty hot keys, one on 3000-row transactions.
  MirroredWriters hot(WriterSessions(8), [](size_t, std::mt19937& rng) {
    int id = 1 + static_cast<int>(rng() % 20);
    return MirroredIncrement(id, id);
  }, milliseconds(0));
  MirroredWriters big(WriterSessions(1), [](size_t, std::mt19937& rng) {
    int lo = 1 + static_cast<int>(rng() % (kDefaultsRows - 3000));
    return MirroredIncrement(lo, lo + 2999);
  }, milliseconds(0));
  std::this_thread::sleep_for(seconds(1));
  ASSERT_NO_FATAL_FAILURE(StartTool({"--chunk-size", "2000", "--replay-during-copy", "--postpone-cutover"}));
  std::string s = WaitForStatus(ThrottledForHealth, seconds(60), "the health signal to throttle the run");
  EXPECT_NE(JsonString(s, "throttle_reason").find("throttled: application latency: "), std::string::npos) << s;
  hot.Stop();
  big.Stop();
  EXPECT_EQ(hot.errors() + big.errors(), 0);
  EXPECT_GT(big.committed(), 0);
  ASSERT_EQ(Ctl({"set", "health-signal=off"}).exit_code, 0);
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
  FinishExact();
}

}  // namespace
}  // namespace shadowcopy::it
