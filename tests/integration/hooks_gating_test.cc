// A slow notification hook never delays the gating before-cutover hook: a
// status hook still sleeping when the cutover comes, the before-cutover hook
// runs (and sees it still asleep), the cutover goes on, the result exact and
// the status hook's order among the notifications kept.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr char kGatingAlter[] = "ALTER COLUMN id TYPE bigint";

class HooksGatingTest : public DatabaseTest {
 protected:
  void SetUp() override {
    DatabaseTest::SetUp();
    char tmpl[] = "/tmp/sc-hooks-gating-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    hooks_ = dir_ + "/hooks";
    std::filesystem::create_directory(hooks_);
  }
  void TearDown() override {
    // The sleeper, if a failed test left it.
    if (pid_t sleeper = SleeperPid(); sleeper > 0) ::kill(sleeper, SIGKILL);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    DatabaseTest::TearDown();
  }

  void AddGatingHook(const std::string& event, const std::string& body) {
    std::string path = hooks_ + "/shadowcopy-on-" + event;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
  }
  pid_t SleeperPid() const {
    std::ifstream in(dir_ + "/sleeper");
    pid_t pid = 0;
    return (in >> pid) ? pid : 0;
  }

  std::string dir_, hooks_;
};

TEST_F(HooksGatingTest, SlowStatusHookDoesNotDelayTheCutover) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 1000).ok());
  // The first status hook sleeps five minutes (its pid in `sleeper`); later
  // ones return at once.
  AddGatingHook("status", fmt::format("if [ ! -e '{0}/slept' ]; then touch '{0}/slept'; sleep 300 & "
                                      "echo $! > '{0}/sleeper.tmp'; mv '{0}/sleeper.tmp' '{0}/sleeper'; wait; fi",
                                      dir_));
  // The gate first waits (up to a minute) for the status hook to be asleep:
  // on a loaded machine the run may reach its cutover before the first
  // status hook has started.
  AddGatingHook("before-cutover",
                fmt::format("i=0; while [ ! -e '{0}/sleeper' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; "
                            "if [ -e '{0}/sleeper' ] && kill -0 \"$(cat '{0}/sleeper')\" 2>/dev/null; then "
                            "echo 'gate ran while the status hook sleeps'; else echo 'gate ran alone'; fi",
                            dir_));
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ASSERT_TRUE(workload.Start().ok());
  auto started = std::chrono::steady_clock::now();
  auto tool = ShadowcopyProcess::Start(ToolArgs(
      "orders", {"--alter", kGatingAlter, "--execute", "--chunk-size", "500", "--hooks-path", hooks_,
                 "--hooks-status-interval", "100ms", "--hooks-timeout", "600s", "--health-signal", "off"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  // Were the gate queued behind the sleeping status hook: no cutover for
  // five minutes.
  ASSERT_TRUE((*tool)->WaitForStderr("hook before-cutover: gate ran", seconds(120))) << (*tool)->StderrSoFar();
  auto gated = std::chrono::steady_clock::now() - started;
  EXPECT_THAT((*tool)->StderrSoFar(), HasSubstr("hook before-cutover: gate ran while the status hook sleeps"));
  pid_t sleeper = SleeperPid();
  ASSERT_GT(sleeper, 0);
  // The cutover is done while the status hook still sleeps.
  ASSERT_TRUE((*tool)->WaitForStderr("cutover done", seconds(60)))
      << (*tool)->StderrSoFar();
  EXPECT_EQ(::kill(sleeper, 0), 0) << "the status hook ended before the cutover";
  EXPECT_EQ(QueryValue(db(), "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = 'orders'::regclass AND attname = 'id'"),
            "bigint");
  ::kill(sleeper, SIGKILL);  // the status hook ends; the run's end waits for it no longer
  ProcessResult result = (*tool)->Wait(seconds(60));
  workload.Stop();
  ExpectSucceeded(result);
  ExpectNoWorkloadErrors(workload);
  ASSERT_TRUE(TransformTruth(db(), "truth", kGatingAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
  EXPECT_LT(gated, seconds(120));
  RecordProperty("gate_after_ms",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(gated).count()));
}

}  // namespace
}  // namespace shadowcopy::it
