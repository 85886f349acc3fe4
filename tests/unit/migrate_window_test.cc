#include <map>
#include <string>
#include <vector>

#include "engine/workflow/migrate_down.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/migrate_state.h"
#include "engine/workflow/migrate_window.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::workflow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A pending migration of `text` whose statements have `paths`.
PendingMigration WindowPending(const std::string& text, std::vector<SafePath> paths) {
  PendingMigration p;
  auto script = ParseMigrationScript("V2__w.sql", text);
  EXPECT_TRUE(script.ok()) << script.status();
  if (script.ok()) p.script = *script;
  p.paths = std::move(paths);
  return p;
}

TEST(MigrateWindowTest, OneOnlineRewriteKeepsAWindow) {
  auto one = WindowPending("ALTER TABLE t ALTER COLUMN id TYPE bigint;\n", {SafePath::kOnlineRewrite});
  EXPECT_EQ(NoWindowReason(one), "");
  // Two ALTERs of one table that run as one rewrite.
  auto merged = WindowPending("ALTER TABLE t ALTER COLUMN id TYPE bigint;\nALTER TABLE t ADD COLUMN r text;\n",
                              {SafePath::kOnlineRewrite, SafePath::kOnlineRewrite});
  EXPECT_EQ(NoWindowReason(merged), "");
}

TEST(MigrateWindowTest, OtherStatementsOrAVerifyBlockKeepNoWindow) {
  auto beside = WindowPending("ALTER TABLE t ALTER COLUMN id TYPE bigint;\nCREATE INDEX CONCURRENTLY i ON t (id);\n",
                              {SafePath::kOnlineRewrite, SafePath::kConcurrentIndex});
  EXPECT_THAT(NoWindowReason(beside), HasSubstr("beside its online rewrite"));
  auto verify = WindowPending("ALTER TABLE t ALTER COLUMN id TYPE bigint;\n-- shadowcopy: verify\nSELECT true;\n",
                              {SafePath::kOnlineRewrite});
  EXPECT_THAT(NoWindowReason(verify), HasSubstr("verify block"));
  auto plain = WindowPending("CREATE TABLE a (id int);\n", {SafePath::kAsIs});
  EXPECT_THAT(NoWindowReason(plain), HasSubstr("no online rewrite"));
  auto resumed = WindowPending("CREATE TABLE a (id int);\nALTER TABLE t ALTER COLUMN id TYPE bigint;\n",
                               {SafePath::kAsIs, SafePath::kOnlineRewrite});
  resumed.resume_at = 1;
  EXPECT_THAT(NoWindowReason(resumed), HasSubstr("resumes"));
}

TEST(MigrateWindowTest, RevertWindowArgsComeBeforeTheHealthChecks) {
  EXPECT_THAT(RevertWindowArgs(std::chrono::minutes(30), {"--health-check", "SELECT true"}),
              ElementsAre("--revert-window", "1800000ms", "--health-check", "SELECT true"));
}

MigrationStatus WindowStatus(const MigrationFile* f) {
  return MigrationStatus{"2", "w", "V2__w.sql", MigrationState::kApplied, "c", f, nullptr};
}

TEST(MigrateWindowTest, DownPathInsideAHeldWindowIsTheRevert) {
  MigrationFile no_undo;
  MigrationStatus s = WindowStatus(&no_undo);
  WindowFacts open{"open", "open", true, "public", "orders", "2026-12-03 08:00:00"};
  EXPECT_EQ(ChooseDownPath(s, open).path, DownPath::kRevert);
  // An open window nobody holds (its run was killed): refused, how to end it said.
  WindowFacts abandoned = open;
  abandoned.held = false;
  DownChoice c = ChooseDownPath(s, abandoned);
  EXPECT_EQ(c.path, DownPath::kRefuse);
  EXPECT_THAT(c.why, HasSubstr("cleanup --table orders --schema public"));
  // Its slot gone (cleaned up): the down file, or refused without one.
  WindowFacts cleaned = open;
  cleaned.live = "slot gone";
  c = ChooseDownPath(s, cleaned);
  EXPECT_EQ(c.path, DownPath::kRefuse);
  EXPECT_THAT(c.why, HasSubstr("no undo file"));
  EXPECT_THAT(c.why, HasSubstr("revert window is closed"));
  MigrationFile with_undo;
  with_undo.undo_file = "U2__w.sql";
  MigrationStatus u = WindowStatus(&with_undo);
  EXPECT_EQ(ChooseDownPath(u, cleaned).path, DownPath::kDownFile);
  EXPECT_EQ(ChooseDownPath(u, WindowFacts{"closed", "closed", true, "public", "orders", ""}).path,
            DownPath::kDownFile);
  EXPECT_EQ(ChooseDownPath(u, WindowFacts{}).path, DownPath::kDownFile);
}

std::vector<MigrationFile> WindowSet() {
  auto set = BuildMigrationSet("db", {{"V1__a.sql", "CREATE TABLE a (id int);\n"},
                                      {"U1__a.sql", "DROP TABLE a;\n"},
                                      {"V2__w.sql", "ALTER TABLE a ALTER COLUMN id TYPE bigint;\n"}});
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *set : std::vector<MigrationFile>{};
}

HistoryRow WindowRow(const MigrationFile& f) {
  HistoryRow r;
  r.version = f.name.version.ToString();
  r.file = f.file;
  r.checksum = f.checksum;
  r.state = "applied";
  return r;
}

TEST(MigrateWindowTest, DownRevertsTheNewestThenRunsOlderDownFiles) {
  auto files = WindowSet();
  ASSERT_EQ(files.size(), 2u);
  std::vector<HistoryRow> rows = {WindowRow(files[0]), WindowRow(files[1])};
  auto statuses = ComputeStatus(files, rows, true);
  std::map<std::string, WindowFacts> windows = {{"2", WindowFacts{"open", "open", true, "public", "a", "x"}}};
  auto plan = DownMigrations(statuses, ParseVersion("0").value(), windows);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->reverts.size(), 1u);
  EXPECT_EQ(plan->reverts[0]->version, "2");
  ASSERT_EQ(plan->undos.size(), 1u);
  EXPECT_EQ(plan->undos[0].file->file, "U1__a.sql");
  // Without the window V2 has no way back: refused before anything runs.
  auto refused = DownMigrations(statuses, ParseVersion("0").value(), {});
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("version 2"));
  EXPECT_THAT(refused.status().message(), HasSubstr("no undo file"));
}

TEST(MigrateWindowTest, AWindowBehindANewerMigrationIsRefused) {
  auto files = WindowSet();
  ASSERT_EQ(files.size(), 2u);
  std::vector<HistoryRow> rows = {WindowRow(files[0]), WindowRow(files[1])};
  auto statuses = ComputeStatus(files, rows, true);
  std::map<std::string, WindowFacts> windows = {{"1", WindowFacts{"open", "open", true, "public", "a", "x"}},
                                                {"2", WindowFacts{"closed", "closed", true, "public", "a", ""}}};
  auto plan = DownMigrations(statuses, ParseVersion("0").value(), windows);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("newer ones are not"));
}

TEST(MigrateWindowTest, AnOpenWindowIsInTheWayOfTheNextMigrate) {
  std::map<std::string, WindowFacts> windows = {{"1", WindowFacts{"closed", "closed", false, "public", "a", ""}}};
  EXPECT_EQ(OpenWindowInTheWay(windows), "");
  // Its run was killed: nothing replays writes back, cleanup ends it.
  windows["2"] = WindowFacts{"open", "open", false, "public", "orders", "2026-12-03 08:00:00"};
  std::string why = OpenWindowInTheWay(windows);
  EXPECT_THAT(why, HasSubstr("version 2: the revert window of public.orders was left open by a run that ended"));
  EXPECT_THAT(why, HasSubstr("shadowcopy cleanup --table orders --schema public --execute"));
  EXPECT_EQ(why.find('\n'), std::string::npos);
  // A --resume by hand holds it: wait for it.
  windows["2"].run_alive = true;
  EXPECT_THAT(OpenWindowInTheWay(windows), HasSubstr("still open, held by a run in progress"));
  // Cleanup dropped its reverse stream: nothing is in the way.
  windows["2"].live = "slot gone";
  EXPECT_EQ(OpenWindowInTheWay(windows), "");
}

}  // namespace
}  // namespace shadowcopy::workflow
