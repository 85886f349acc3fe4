// --hooks-path: the operator's executables run at each phase of a rewrite,
// a backfill and a migration. Each test hook appends its event and its
// SHADOWCOPY_* variables to one log file (hooks run one at a time, in the
// order of their events), which the tests read back.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kRows = 3000;
constexpr char kAlter[] = "ALTER COLUMN id TYPE bigint";

// One hook's run as the log recorded it: SHADOWCOPY_* name -> value.
using HookRecord = std::map<std::string, std::string>;

// True when `pid` has exited (a zombie no one reaps counts as gone).
bool Gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

class HooksTest : public DatabaseTest {
 protected:
  void SetUp() override {
    DatabaseTest::SetUp();
    char tmpl[] = "/tmp/sc-hooks-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    hooks_ = dir_ + "/hooks";
    log_ = dir_ + "/log";
    std::filesystem::create_directory(hooks_);
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    DatabaseTest::TearDown();
  }

  // Writes hook `event` running `body` (sh) after it logged its variables.
  void AddHook(const std::string& event, const std::string& body = "") {
    std::string path = hooks_ + "/shadowcopy-on-" + event;
    std::ofstream(path) << "#!/bin/sh\n"
                        << "{ echo \"--- $SHADOWCOPY_EVENT\"; env | grep '^SHADOWCOPY_' | sort; } >> '" << log_
                        << "'\n"
                        << body << "\n";
    chmod(path.c_str(), 0755);
  }
  void AddLoggingHooks(std::initializer_list<const char*> events) {
    for (const char* e : events) AddHook(e);
  }

  // The log's records, in order (a value spanning lines keeps its first).
  std::vector<HookRecord> Records() const {
    std::vector<HookRecord> out;
    std::ifstream in(log_);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("--- ", 0) == 0) {
        out.emplace_back();
        out.back()["SHADOWCOPY_EVENT"] = line.substr(4);  // read while the hook writes the rest
        continue;
      }
      auto eq = line.find('=');
      if (out.empty() || eq == std::string::npos || line.rfind("SHADOWCOPY_", 0) != 0) continue;
      out.back()[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return out;
  }
  static std::vector<std::string> Events(const std::vector<HookRecord>& records) {
    std::vector<std::string> events;
    for (const auto& r : records) events.push_back(r.at("SHADOWCOPY_EVENT"));
    return events;
  }
  int CountOf(const std::string& event) const {
    int n = 0;
    for (const auto& r : Records()) n += r.at("SHADOWCOPY_EVENT") == event;
    return n;
  }
  bool WaitForCount(const std::string& event, int n, milliseconds timeout) const {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (CountOf(event) < n) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return true;
  }

  std::string dir_, hooks_, log_;
};

// A rewrite under the mirror workload with every event's hook: the events
// in order, each with the run's facts; the result exact.
TEST_F(HooksTest, RewriteAnnouncesEveryEventInOrder) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  AddLoggingHooks({"startup", "validated", "before-row-copy", "row-copy-complete", "status", "begin-postponed",
                   "before-cutover", "success", "failure", "interactive-command", "batch-retry"});
  std::string socket = dir_ + "/ctl.sock";
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(ToolArgs("orders", {"--alter", kAlter, "--execute", "--chunk-size", "500",
                                                           "--postpone-cutover", "--socket", socket, "--hooks-path",
                                                           hooks_, "--hooks-status-interval", "60m"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("cutover postponed", seconds(60))) << (*tool)->StderrSoFar();
  ASSERT_TRUE(WaitForCount("begin-postponed", 1, seconds(10)));
  ProcessResult ctl = RunShadowcopy({"ctl", "--socket", socket, "cutover"});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.Describe();
  ProcessResult result = (*tool)->Wait(seconds(120));
  workload.Stop();
  ExpectSucceeded(result);
  ExpectNoWorkloadErrors(workload);
  ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");

  // `before-cutover` runs before each cutover attempt, and an attempt that
  // finds writers in the way retries: the attempts count from 1, and the
  // records below keep the first.
  auto records = Records();
  int attempts = 0;
  for (auto it = records.begin(); it != records.end();) {
    if (it->at("SHADOWCOPY_EVENT") != "before-cutover") {
      ++it;
      continue;
    }
    EXPECT_EQ(it->at("SHADOWCOPY_CUTOVER_ATTEMPT"), std::to_string(++attempts));
    it = attempts == 1 ? it + 1 : records.erase(it);
  }
  EXPECT_GE(attempts, 1);
  EXPECT_THAT(Events(records), ElementsAre("startup", "validated", "before-row-copy", "row-copy-complete",
                                           "begin-postponed", "interactive-command", "before-cutover", "success"))
      << result.err;
  ASSERT_EQ(records.size(), 8u);
  for (const auto& r : records) {
    EXPECT_EQ(r.at("SHADOWCOPY_DATABASE"), dbname());
    EXPECT_EQ(r.at("SHADOWCOPY_SCHEMA"), "public");
    EXPECT_EQ(r.at("SHADOWCOPY_TABLE"), "orders");
    EXPECT_EQ(r.at("SHADOWCOPY_ALTER"), kAlter);
    EXPECT_FALSE(r.at("SHADOWCOPY_ELAPSED_SECONDS").empty());
    EXPECT_EQ(r.count("SHADOWCOPY_ERROR"), 0u) << r.at("SHADOWCOPY_EVENT");
  }
  // The run id exists once the run is prepared, and stays.
  EXPECT_EQ(records[0].at("SHADOWCOPY_RUN_ID"), "");
  EXPECT_FALSE(records[2].at("SHADOWCOPY_RUN_ID").empty());
  for (size_t i = 3; i < records.size(); ++i)
    EXPECT_EQ(records[i].at("SHADOWCOPY_RUN_ID"), records[2].at("SHADOWCOPY_RUN_ID"));
  EXPECT_EQ(records[2].at("SHADOWCOPY_PHASE"), "copy");
  EXPECT_EQ(records[2].at("SHADOWCOPY_ROWS_COPIED"), "0");
  EXPECT_GE(std::stoll(records[2].at("SHADOWCOPY_ROWS_ESTIMATED")), kRows / 2);
  EXPECT_GE(std::stoll(records[3].at("SHADOWCOPY_ROWS_COPIED")), kRows);
  EXPECT_EQ(records[4].at("SHADOWCOPY_PHASE"), "postponed");
  EXPECT_EQ(records[5].at("SHADOWCOPY_COMMAND"), "cutover");
  EXPECT_EQ(records[5].at("SHADOWCOPY_COMMAND_REPLY"), "ok: cutover released");
  EXPECT_EQ(records[6].at("SHADOWCOPY_PHASE"), "cutover");
  EXPECT_EQ(records[6].at("SHADOWCOPY_CUTOVER_ATTEMPT"), "1");
  EXPECT_EQ(records[7].at("SHADOWCOPY_PHASE"), "done");
  EXPECT_GT(std::stoll(records[7].at("SHADOWCOPY_CHANGES_REPLAYED")), 0);
}

// The operator's before-cutover hook fails while a gate file exists: each
// attempt is postponed (nothing swapped, no lock taken), then the cutover
// succeeds at the first attempt after the file is removed.
TEST_F(HooksTest, FailingBeforeCutoverHookPostponesTheCutover) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  std::string gate = dir_ + "/freeze";
  std::ofstream(gate) << "change freeze\n";
  AddHook("before-cutover", fmt::format("if [ -e '{}' ]; then echo \"vetoed attempt $SHADOWCOPY_CUTOVER_ATTEMPT\"; "
                                        "exit 1; fi", gate));
  AddHook("success");
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(
      ToolArgs("orders", {"--alter", kAlter, "--execute", "--chunk-size", "500", "--hooks-path", hooks_}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("cutover attempt 2: postponed by the before-cutover hook", seconds(60)))
      << (*tool)->StderrSoFar();
  // Vetoed twice: the original is untouched, no session waits on its lock.
  EXPECT_EQ(QueryValue(db(), "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = 'orders'::regclass AND attname = 'id'"), "integer");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_locks WHERE relation = 'orders'::regclass "
                             "AND mode = 'AccessExclusiveLock'"), "0");
  std::filesystem::remove(gate);
  ProcessResult result = (*tool)->Wait(seconds(120));
  workload.Stop();
  ExpectSucceeded(result);
  ExpectNoWorkloadErrors(workload);
  ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
  EXPECT_THAT(result.err, HasSubstr("hook before-cutover: vetoed attempt 1"));
  EXPECT_THAT(result.err, HasSubstr("cutover attempt 1: postponed by the before-cutover hook"));
  auto records = Records();
  ASSERT_GE(records.size(), 4u);
  int vetoed = static_cast<int>(records.size()) - 2;  // the passing attempt and success follow
  for (int i = 0; i < vetoed + 1; ++i) {
    EXPECT_EQ(records[i].at("SHADOWCOPY_EVENT"), "before-cutover");
    EXPECT_EQ(records[i].at("SHADOWCOPY_CUTOVER_ATTEMPT"), std::to_string(i + 1));
  }
  EXPECT_EQ(records.back().at("SHADOWCOPY_EVENT"), "success");
  EXPECT_EQ(SummaryNumber(LastLine(result.out), "cutover_attempts"), vetoed + 1);
}

// A hook that hangs is killed (its process group too) at --hooks-timeout;
// the run goes on and succeeds. Failing success and status hooks are
// logged, the run still succeeds and no failure hook runs.
TEST_F(HooksTest, HangingAndFailingHooksNeverStopTheRun) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  std::string pid_file = dir_ + "/sleeper";
  AddHook("before-row-copy", fmt::format("sleep 600 & echo $! > '{}'; wait", pid_file));
  AddHook("status", "echo 'status hook failing'; exit 3");
  AddHook("success", "exit 1");
  AddHook("failure");
  auto started = std::chrono::steady_clock::now();
  // Held inside the copy until a status hook has run: after the hanging gate
  // the rest of the run may take less than a status interval.
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(ToolArgs("orders", {"--execute", "--chunk-size", "500", "--hooks-path", hooks_,
                                                           "--hooks-timeout", "1s", "--hooks-status-interval", "300ms"}),
                                       pause.Env("before-batch:2"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  EXPECT_TRUE(WaitForCount("status", 1, milliseconds(30000)));
  pause.Continue();
  ProcessResult result = (*tool)->Wait(seconds(120));
  ExpectSucceeded(result);
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(60));
  EXPECT_THAT(result.err, HasSubstr("hook before-row-copy: killed at its timeout (1000 ms)"));
  EXPECT_THAT(result.err, HasSubstr("hook status: status hook failing"));
  EXPECT_THAT(result.err, HasSubstr("hook status: exited with status 3"));
  EXPECT_THAT(result.err, HasSubstr("hook success: exited with status 1"));
  std::ifstream pid_in(pid_file);
  pid_t sleeper = 0;
  ASSERT_TRUE(pid_in >> sleeper);
  EXPECT_TRUE(Gone(sleeper)) << "the hook's child survived its timeout";
  auto events = Events(Records());
  EXPECT_GE(std::count(events.begin(), events.end(), "status"), 1);
  EXPECT_EQ(std::count(events.begin(), events.end(), "failure"), 0);
  events.erase(std::remove(events.begin(), events.end(), "status"), events.end());
  EXPECT_THAT(events, ElementsAre("before-row-copy", "success"));
  EXPECT_EQ(events.back(), "success");
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

// A failed run announces failure with the error; nothing is left.
TEST_F(HooksTest, FailedRunAnnouncesFailure) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 100).ok());
  AddLoggingHooks({"startup", "validated", "success", "failure"});
  ProcessResult result =
      RunShadowcopy(ToolArgs("orders", {"--alter", "ALTER COLUMN nope TYPE bigint", "--execute", "--hooks-path", hooks_}));
  ExpectFailedWithOneErrorLine(result);
  auto records = Records();
  ASSERT_THAT(Events(records), ElementsAre("startup", "failure"));
  EXPECT_THAT(records[1].at("SHADOWCOPY_ERROR"), HasSubstr("nope"));
  ExpectNothingLeftBehind("orders");
}

// A backfill's events, with its keys and changed rows.
TEST_F(HooksTest, BackfillAnnouncesItsEvents) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  AddLoggingHooks({"startup", "validated", "before-row-copy", "row-copy-complete", "success", "failure"});
  ProcessResult result = RunShadowcopy({"backfill", "--table", "orders", "--dsn", dsn(), "--set",
                                        "status = 'hooked'", "--where", "true", "--batch-size", "700", "--execute",
                                        "--hooks-path", hooks_});
  ASSERT_EQ(result.exit_code, 0) << result.Describe();
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FILTER (WHERE status = 'hooked') || '/' || count(*) FROM orders"),
            fmt::format("{}/{}", kRows, kRows));
  auto records = Records();
  ASSERT_THAT(Events(records), ElementsAre("startup", "validated", "before-row-copy", "row-copy-complete", "success"));
  for (const auto& r : records) {
    EXPECT_EQ(r.at("SHADOWCOPY_TABLE"), "orders");
    EXPECT_EQ(r.at("SHADOWCOPY_ALTER"), "SET status = 'hooked' WHERE true");
    EXPECT_EQ(r.at("SHADOWCOPY_DATABASE"), dbname());
  }
  EXPECT_FALSE(records[2].at("SHADOWCOPY_RUN_ID").empty());
  EXPECT_EQ(records[3].at("SHADOWCOPY_ROWS_COPIED"), std::to_string(kRows));
  EXPECT_EQ(records[3].at("SHADOWCOPY_ROWS_CHANGED"), std::to_string(kRows));
  EXPECT_EQ(records[3].at("SHADOWCOPY_PHASE"), "backfill");
}

// migrate: each file's start and outcome, with its version.
TEST_F(HooksTest, MigrateAnnouncesEachMigration) {
  std::string migrations = dir_ + "/migrations";
  std::filesystem::create_directory(migrations);
  std::ofstream(migrations + "/V1__create_things.sql") << "CREATE TABLE things (id int PRIMARY KEY);\n";
  std::ofstream(migrations + "/V2__broken.sql") << "ALTER TABLE nothings ADD COLUMN x int;\n";
  AddLoggingHooks({"startup", "migration-start", "migration-applied", "migration-failed", "success", "failure"});
  ProcessResult result = RunShadowcopy({"migrate", "--dir", migrations, "--dsn", dsn(), "--execute", "--hooks-path",
                                        hooks_});
  EXPECT_EQ(result.exit_code, 1) << result.Describe();
  auto records = Records();
  ASSERT_THAT(Events(records), ElementsAre("startup", "migration-start", "migration-applied", "migration-start",
                                           "migration-failed", "failure"));
  EXPECT_EQ(records[1].at("SHADOWCOPY_MIGRATION_VERSION"), "1");
  EXPECT_EQ(records[1].at("SHADOWCOPY_MIGRATION_DESCRIPTION"), "create things");
  EXPECT_EQ(records[2].at("SHADOWCOPY_MIGRATION_FILE"), "V1__create_things.sql");
  EXPECT_EQ(records[4].at("SHADOWCOPY_MIGRATION_VERSION"), "2");
  EXPECT_THAT(records[4].at("SHADOWCOPY_ERROR"), HasSubstr("nothings"));
  EXPECT_EQ(records[0].at("SHADOWCOPY_DATABASE"), dbname());
}

// A --hooks-path that cannot serve: one error line, nothing created, no
// hook run; a hook file that is not executable is reported and skipped.
TEST_F(HooksTest, BadHooksPathIsRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 100).ok());
  std::string file = dir_ + "/plain-file";
  std::ofstream(file) << "x\n";
  for (const std::string& bad : {dir_ + "/missing", file}) {
    for (bool backfill : {false, true}) {
      std::vector<std::string> args =
          backfill ? std::vector<std::string>{"backfill", "--table", "orders", "--dsn", dsn(), "--set",
                                              "status = 'x'", "--where", "true", "--execute", "--hooks-path", bad}
                   : ToolArgs("orders", {"--execute", "--hooks-path", bad});
      ProcessResult result = RunShadowcopy(args);
      ExpectFailedWithOneErrorLine(result);
      EXPECT_THAT(result.err, HasSubstr("--hooks-path " + bad));
    }
    ProcessResult migrate = RunShadowcopy({"migrate", "--dir", dir_, "--dsn", dsn(), "--execute", "--hooks-path", bad});
    EXPECT_EQ(migrate.exit_code, 2) << migrate.Describe();
    EXPECT_THAT(migrate.err, HasSubstr("--hooks-path " + bad));
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/missing"));
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_namespace WHERE nspname = 'shadowcopy'"), "0");

  std::ofstream(hooks_ + "/shadowcopy-on-success") << "#!/bin/sh\ntouch '" << dir_ << "/ran'\n";
  std::ofstream(hooks_ + "/shadowcopy-on-sucess") << "#!/bin/sh\n";
  ProcessResult dry = RunShadowcopy(ToolArgs("orders", {"--hooks-path", hooks_}));
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_THAT(dry.err, HasSubstr("shadowcopy-on-success is not an executable file"));
  EXPECT_THAT(dry.err, HasSubstr("shadowcopy-on-sucess answers no event"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ran"));
}

// A revert window whose health check fails: the window's events, with the
// failure and the outcome; the table back in its old definition, exact.
TEST_F(HooksTest, RevertWindowAnnouncesItsEvents) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  MustExec(db(), "CREATE TABLE app_alarm (raised boolean)");
  AddLoggingHooks({"revert-window-open", "health-check-failed", "reverted", "revert-window-closed", "success",
                   "failure"});
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(ToolArgs(
      "orders", {"--alter", kAlter, "--execute", "--hooks-path", hooks_, "--revert-window", "120s",
                 "--revert-accept", "all", "--health-check", "SELECT NOT EXISTS (SELECT 1 FROM app_alarm)",
                 "--health-interval", "200ms", "--health-max-failures", "2"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("revert window open", seconds(120))) << (*tool)->StderrSoFar();
  ASSERT_TRUE(WaitForCount("revert-window-open", 1, seconds(10)));
  MustExec(db(), "INSERT INTO app_alarm VALUES (true)");
  ProcessResult result = (*tool)->Wait(seconds(60));
  workload.Stop();
  EXPECT_NE(result.exit_code, 0) << result.Describe();
  ExpectNoWorkloadErrors(workload);
  ExpectMirrorEqual(db(), "orders", "truth");
  ASSERT_TRUE(WaitForCount("failure", 1, seconds(10)));
  auto records = Records();
  EXPECT_THAT(Events(records), ElementsAre("revert-window-open", "health-check-failed", "health-check-failed",
                                           "reverted", "revert-window-closed", "failure"))
      << result.err;
  ASSERT_EQ(records.size(), 6u);
  EXPECT_FALSE(records[0].at("SHADOWCOPY_REVERT_WINDOW_SECONDS").empty());
  EXPECT_NE(records[1].at("SHADOWCOPY_HEALTH_FAILURE").find("--health-check returned"), std::string::npos);
  EXPECT_EQ(records[2].at("SHADOWCOPY_HEALTH_FAILURES"), "2");
  EXPECT_NE(records[3].at("SHADOWCOPY_REVERT_REASON").find("--health-check"), std::string::npos);
  EXPECT_EQ(records[4].at("SHADOWCOPY_REVERT_OUTCOME"), "reverted");
}

// migrate's online rewrite step runs the hooks too: its own phases (so the
// operator's before-cutover hook gates it) between the migration's events.
TEST_F(HooksTest, MigrateOnlineRewriteStepAnnouncesItsPhases) {
  MustExec(db(), "CREATE TABLE big (id int PRIMARY KEY, v text); "
                 "INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g; ANALYZE big");
  std::string migrations = dir_ + "/migrations";
  std::filesystem::create_directory(migrations);
  std::ofstream(migrations + "/V1__big_id.sql") << "ALTER TABLE big ALTER COLUMN id TYPE bigint;\n";
  AddLoggingHooks({"startup", "migration-start", "before-cutover", "migration-applied", "success", "failure"});
  ProcessResult result = RunShadowcopy({"migrate", "--dir", migrations, "--dsn", dsn(), "--execute", "--hooks-path",
                                        hooks_});
  ASSERT_EQ(result.exit_code, 0) << result.Describe();
  ASSERT_NE(result.err.find("online-rewrite"), std::string::npos) << result.err;
  auto records = Records();
  ASSERT_THAT(Events(records), ElementsAre("startup", "migration-start", "startup", "before-cutover", "success",
                                           "migration-applied", "success"));
  EXPECT_EQ(records[2].at("SHADOWCOPY_TABLE"), "big");
  EXPECT_EQ(records[3].at("SHADOWCOPY_CUTOVER_ATTEMPT"), "1");
  EXPECT_EQ(records[5].at("SHADOWCOPY_MIGRATION_VERSION"), "1");
}

}  // namespace
}  // namespace shadowcopy::it
