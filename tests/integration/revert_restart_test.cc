// The revert window across a PostgreSQL fast restart: the reverse stream
// reconnects and continues from its checkpoint (shadowcopy.revert_windows),
// the window stays open, and a revert afterwards brings the old schema back
// with every write — under the mirror workload, whose writers reconnect
// after the restart as in FaultTest.PostgresFastRestartDuringCopySurvives.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/revert_fixture.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class RevertRestartTest : public RevertFixture {
 protected:
  // The restart ends every session of the server: run alone.
  RevertRestartTest() { exclusive_server_ = true; }
};

// Rewrite with a window, fast restart during it, the writers go on, then a
// revert: the table is back in its old schema, equal to the mirror, and no
// slot or publication is left.
TEST_F(RevertRestartTest, RestartDuringWindowThenRevert) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 300).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  // A health check every 200 ms: the restart makes it unable to run, which
  // must not count as a failure (one failure would revert by itself).
  auto tool = ShadowcopyProcess::Start(Args({"--revert-window", "180s", "--revert-accept", "out-of-range",
                                            "--verify", "off", "--health-check", "SELECT true",
                                            "--health-interval", "200ms"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  EXPECT_EQ(IdType(), "bigint");
  std::this_thread::sleep_for(milliseconds(1000));  // writes into the new table, replayed back
  std::string started = QueryValue(db(), "SELECT pg_postmaster_start_time()");
  absl::Status restart = RestartServerFast(db());
  ASSERT_TRUE(restart.ok()) << restart;
  PQreset(db().raw());  // the fixture's session died with the server
  ASSERT_TRUE(db().Healthy());
  EXPECT_NE(QueryValue(db(), "SELECT pg_postmaster_start_time()"), started) << "no restart";
  ASSERT_TRUE((*tool)->WaitForStderr("the reverse stream continues from its checkpoint", seconds(120)))
      << (*tool)->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(1500));  // the writers reconnected: more writes, replayed back
  AskRevert(seconds(120));
  ProcessResult done = (*tool)->Wait(seconds(120));
  std::this_thread::sleep_for(milliseconds(300));  // writes into the old table, back in place
  workload.Stop();
  ExpectSucceeded(done);
  EXPECT_NE(done.err.find("reconnecting and continuing the reverse stream from its checkpoint (attempt 1/"),
            std::string::npos) << done.Describe();
  EXPECT_NE(done.err.find("revert done"), std::string::npos) << done.Describe();
  EXPECT_EQ(done.err.find("health check failed"), std::string::npos) << done.Describe();
  for (const auto& line : LinesStartingWith(done.err, ""))
    if (line.find("health check") != std::string::npos) std::cout << "tool: " << line << "\n";
  // The writers lose their sessions in the restart: errors are expected
  // here, and the mirror stays exact (both tables change in one transaction).
  std::cout << workload.Errors().size() << " writer errors across the restart\n";
  EXPECT_EQ(IdType(), "integer");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                             "AND attname = 'region' AND NOT attisdropped"), "0");
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
  auto summary = LastLine(done.out);
  EXPECT_NE(summary.find("\"reverted\":true"), std::string::npos) << summary;
  EXPECT_GT(SummaryNumber(summary, "reverse_changes").value_or(0), 0) << summary;
}

// A server crash (immediate restart) while the swap back is on its way (paused before its
// first attempt, after its catch-up and verification): the run reconnects,
// continues the reverse stream from its checkpoint and asks for the swap back
// again; the table is back in its old schema, equal to the mirror.
TEST_F(RevertRestartTest, RestartDuringTheSwapBackThenItCompletes) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 300).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(Args({"--revert-window", "180s", "--revert-accept", "out-of-range",
                                            "--verify", "off"}),
                                       pause.Env("revert-attempt:1"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(1000));  // writes into the new table, replayed back
  ProcessResult asked = RunShadowcopy({"ctl", "--socket", socket_, "revert"}, {}, nullptr, seconds(30));
  EXPECT_NE(asked.out.find("ok: revert requested"), std::string::npos) << asked.Describe();
  ASSERT_TRUE(pause.WaitPaused(seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  // Immediate: paused, the run confirms no more WAL, which a fast shutdown
  // would wait for.
  absl::Status restart = RestartServerFast(db(), "immediate");
  ASSERT_TRUE(restart.ok()) << restart;
  PQreset(db().raw());  // the fixture's session died with the server
  ASSERT_TRUE(db().Healthy());
  pause.Continue();
  // The swap back asked again pauses at its first attempt again: once the
  // run has left the first pause (it removes `paused`), wait for the second.
  for (int i = 0; i < 600 && ::access((pause.dir() + "/paused").c_str(), F_OK) == 0; ++i)
    std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(pause.WaitPaused(seconds(120))) << (*tool)->StderrSoFar();
  pause.Continue();
  ProcessResult done = (*tool)->Wait(seconds(180));
  std::this_thread::sleep_for(milliseconds(300));  // writes into the old table, back in place
  workload.Stop();
  ExpectSucceeded(done);
  EXPECT_NE(done.err.find("the swap back is asked again once reconnected"), std::string::npos) << done.Describe();
  EXPECT_NE(done.err.find("revert done"), std::string::npos) << done.Describe();
  std::cout << workload.Errors().size() << " writer errors across the restart\n";
  EXPECT_EQ(IdType(), "integer");
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
  EXPECT_NE(LastLine(done.out).find("\"reverted\":true"), std::string::npos) << LastLine(done.out);
}

}  // namespace
}  // namespace shadowcopy::it
