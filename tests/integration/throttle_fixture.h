// The fixture of the throttling and control-socket tests: the tool started
// on `orders` with its control socket, `shadowcopy ctl` commands, and status
// polling (`status --json`).
//
// Thread-safety: one test thread.
#ifndef SHADOWCOPY_TESTS_INTEGRATION_THROTTLE_FIXTURE_H_
#define SHADOWCOPY_TESTS_INTEGRATION_THROTTLE_FIXTURE_H_

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace shadowcopy::it {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

inline bool BinaryHasControlSocket() {
  static const bool has = [] {
    ProcessResult r = RunShadowcopy({"--help"}, {}, nullptr, seconds(20));
    return r.out.find("--socket") != std::string::npos;
  }();
  return has;
}

inline bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// The value of `"key":"..."` in a JSON line ("" when absent).
inline std::string JsonString(const std::string& json, const std::string& key) {
  std::string quoted = "\"" + key + "\":\"";
  auto at = json.find(quoted);
  if (at == std::string::npos) return "";
  std::string out;
  for (size_t i = at + quoted.size(); i < json.size() && json[i] != '"'; ++i) {
    if (json[i] == '\\' && i + 1 < json.size()) ++i;
    out += json[i];
  }
  return out;
}

inline double JsonNumber(const std::string& json, const std::string& key) {
  return SummaryNumber(json, key).value_or(-1);
}

class ThrottleControlTest : public DatabaseTest {
 protected:
  // Our batch paused inside its transaction, or an application's ACCESS
  // EXCLUSIVE lock, held for seconds (xids): see exclusive_server_.
  ThrottleControlTest() {
    exclusive_server_ = CurrentTestIsOneOf({"ApplicationWaitingBehindOurBatchThrottlesTheCopy",
                                            "ApplicationHoldingALockMakesTheCopyBackOffWithoutQueueing"});
  }

  void SetUp() override {
    DatabaseTest::SetUp();
    if (!BinaryHasControlSocket())
      GTEST_SKIP() << "engine integration pending (--help has no --socket)";
    socket_ = fmt::format("/tmp/sc-it-{}-{}.sock", ::getpid(), counter_++);
    flag_ = fmt::format("/tmp/sc-it-{}-{}.flag", ::getpid(), counter_++);
    ::unlink(socket_.c_str());
  }
  void TearDown() override {
    tool_.reset();  // kills a tool still running
    ::unlink(flag_.c_str());
    ::unlink(socket_.c_str());
    DatabaseTest::TearDown();
  }

  void CreateFlag() { std::ofstream(flag_) << "hold\n"; }
  void RemoveFlag() { ::unlink(flag_.c_str()); }

  // Starts the tool on `orders` with the socket and small adaptive batches;
  // `env` adds environment variables (test pause points).
  void StartTool(std::vector<std::string> extra, const EnvVars& env = {}) {
    std::vector<std::string> args = {
        "--execute", "--socket",         socket_, "--min-chunk-size",
        "10",        "--max-chunk-size", "200",   "--target-chunk-time",
        "20ms"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto tool = ShadowcopyProcess::Start(ToolArgs("orders", args), env);
    ASSERT_TRUE(tool.ok()) << tool.status();
    tool_ = std::move(*tool);
    auto deadline = Clock::now() + seconds(15);
    while (!Exists(socket_) && Clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(20));
    ASSERT_TRUE(Exists(socket_)) << "no control socket at " << socket_ << "\n"
                                 << tool_->Wait(seconds(5)).Describe();
  }

  ProcessResult Ctl(std::vector<std::string> words) {
    std::vector<std::string> args = {"ctl", "--socket", socket_};
    args.insert(args.end(), words.begin(), words.end());
    return RunShadowcopy(args, {}, nullptr, seconds(10));
  }

  std::string Status() {
    ProcessResult r = Ctl({"status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    return LastLine(r.out);
  }

  // Polls `status --json` until `pred` holds; returns the last status.
  std::string WaitForStatus(const std::function<bool(const std::string&)>& pred,
                            milliseconds timeout, const std::string& what) {
    auto deadline = Clock::now() + timeout;
    std::string s;
    while (Clock::now() < deadline) {
      s = Status();
      if (pred(s)) return s;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ADD_FAILURE() << "timed out waiting for " << what << "; last status: " << s;
    return s;
  }

  int64_t ShadowRows() {
    return std::stoll("0" + QueryValue(db(), "SELECT count(*) FROM _orders_shadow"));
  }

  std::string socket_, flag_;
  std::unique_ptr<ShadowcopyProcess> tool_;
  static inline int counter_ = 0;
};

}  // namespace shadowcopy::it

#endif  // SHADOWCOPY_TESTS_INTEGRATION_THROTTLE_FIXTURE_H_
