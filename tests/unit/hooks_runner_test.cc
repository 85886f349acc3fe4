// Hooks' runners with real hook processes (sh scripts in a scratch
// directory): a gate never waits behind a slow notification, and the
// notifications keep their order around it.
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "engine/control/control.h"
#include "engine/control/hooks.h"
#include "gtest/gtest.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;
using HooksRunnerClock = std::chrono::steady_clock;

class HooksRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sc-hooks-runner-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // Hook `event`: sleeps `sleep` (sh syntax) then appends its event to the log.
  void AddRunnerHook(const std::string& event, const std::string& sleep) {
    std::string path = dir_ + "/shadowcopy-on-" + event;
    std::ofstream(path) << "#!/bin/sh\nsleep " << sleep << "\necho \"$SHADOWCOPY_EVENT\" >> '" << dir_ << "/log'\n";
    ::chmod(path.c_str(), 0755);
  }
  std::string RunnerLog() const {
    std::ifstream in(dir_ + "/log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::unique_ptr<Hooks> OpenRunnerHooks() {
    auto hooks = Hooks::Open(HookSettings{.path = dir_, .timeout = milliseconds(10000)}, nullptr);
    EXPECT_TRUE(hooks.ok()) << hooks.status();
    return hooks.ok() ? std::move(*hooks) : nullptr;
  }

  std::string dir_;
};

TEST_F(HooksRunnerTest, GateDoesNotWaitBehindASlowNotification) {
  AddRunnerHook("status", "2");
  AddRunnerHook("before-cutover", "0");
  auto hooks = OpenRunnerHooks();
  ASSERT_NE(hooks, nullptr);
  hooks->Fire("status");
  auto started = HooksRunnerClock::now();
  absl::Status gate = hooks->Gate("before-cutover", {}, [] { return absl::OkStatus(); });
  auto took = HooksRunnerClock::now() - started;
  EXPECT_TRUE(gate.ok()) << gate;
  EXPECT_LT(took, milliseconds(1500)) << "the gate waited for the status hook";
  hooks->Finish();  // the status hook still ran, after the gate
  EXPECT_EQ(RunnerLog(), "before-cutover\nstatus\n");
}

// Notifications keep their order among themselves whatever a gate between
// them does (the gate itself follows quick ones; how quick is the machine's).
TEST_F(HooksRunnerTest, NotificationsKeepTheirOrderAroundAGate) {
  AddRunnerHook("startup", "0.05");
  AddRunnerHook("validated", "0");
  AddRunnerHook("before-cutover", "0");
  AddRunnerHook("success", "0");
  auto hooks = OpenRunnerHooks();
  ASSERT_NE(hooks, nullptr);
  hooks->Fire("startup");
  hooks->Fire("validated");
  EXPECT_TRUE(hooks->Gate("before-cutover", {}, [] { return absl::OkStatus(); }).ok());
  hooks->Fire("success");
  hooks->Finish();
  std::string log = RunnerLog();
  size_t startup = log.find("startup\n"), validated = log.find("validated\n"), gate = log.find("before-cutover\n"),
         success = log.find("success\n");
  ASSERT_NE(gate, std::string::npos) << log;
  ASSERT_NE(success, std::string::npos) << log;
  EXPECT_LT(startup, validated) << log;
  EXPECT_LT(validated, success) << log;
  EXPECT_LT(gate, success) << log;  // announced after the gate ended
}

TEST_F(HooksRunnerTest, AFailingGateVetoesAndAMissingOnePasses) {
  std::string path = dir_ + "/shadowcopy-on-before-cutover";
  std::ofstream(path) << "#!/bin/sh\nexit 3\n";
  ::chmod(path.c_str(), 0755);
  auto hooks = OpenRunnerHooks();
  ASSERT_NE(hooks, nullptr);
  absl::Status gate = hooks->Gate("before-cutover", {}, [] { return absl::OkStatus(); });
  EXPECT_EQ(gate.code(), absl::StatusCode::kUnavailable) << gate;
  EXPECT_TRUE(hooks->Gate("migration-start", {}, [] { return absl::OkStatus(); }).ok());
  hooks->Finish();
}

// The status event comes every interval, not only until its first hook has
// run: a notification that ends sets the next tick's time.
TEST_F(HooksRunnerTest, StatusComesEveryIntervalWhileNothingElseHappens) {
  AddRunnerHook("status", "0");
  Control control{ControlSettings{}};
  auto hooks = Hooks::Open(
      HookSettings{.path = dir_, .timeout = milliseconds(10000), .status_interval = milliseconds(100)}, &control);
  ASSERT_TRUE(hooks.ok()) << hooks.status();
  std::this_thread::sleep_for(milliseconds(1500));
  (*hooks)->Finish();
  std::string log = RunnerLog();
  size_t n = 0;
  for (size_t at = log.find("status\n"); at != std::string::npos; at = log.find("status\n", at + 1)) ++n;
  EXPECT_GE(n, 3u) << log;
}

}  // namespace
}  // namespace shadowcopy::engine
