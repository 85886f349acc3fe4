#include <string>
#include <vector>

#include "engine/workflow/migrate_down.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/migrate_state.h"
#include "engine/workflow/schema_diff.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::workflow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

MigrationVersion DownV(const char* text) {
  auto v = ParseVersion(text);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : MigrationVersion{};
}

std::vector<MigrationFile> DownSet(const std::vector<DirectoryEntry>& entries) {
  auto set = BuildMigrationSet("db", entries);
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *set : std::vector<MigrationFile>{};
}

HistoryRow DownRow(const MigrationFile& f, const char* state) {
  HistoryRow r;
  r.version = f.name.version.ToString();
  r.description = f.name.description;
  r.file = f.file;
  r.checksum = f.checksum;
  r.state = state;
  return r;
}

// V1, V1.10 (undo), V2 (undo, two statements), V1.9 (undo), all applied.
std::vector<MigrationFile> FourWithUndos() {
  return DownSet({{"V1__a.sql", "CREATE TABLE a (id int);\n"},
                  {"U1__a.sql", "DROP TABLE a;\n"},
                  {"V1.10__b.sql", "CREATE TABLE b (id int);\n"},
                  {"U1.10__b.sql", "DROP TABLE b;\n"},
                  {"V1.9__c.sql", "CREATE SEQUENCE c;\n"},
                  {"U1.9__c.sql", "DROP SEQUENCE c;\n"},
                  {"2_d.up.sql", "CREATE INDEX CONCURRENTLY d ON a (id);\n"},
                  {"2_d.down.sql", "DROP INDEX CONCURRENTLY d;\nSELECT 1;\n"}});
}

std::vector<std::string> Versions(const DownPlan& plan) {
  std::vector<std::string> out;
  for (const auto& p : plan.undos) out.push_back(p.file->name.version.ToString());
  return out;
}

TEST(MigrateDownTest, UndoFilesAreReadWithTheirMigration) {
  auto f = FourWithUndos();
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[3].undo_file, "2_d.down.sql");
  EXPECT_EQ(f[3].undo_text, "DROP INDEX CONCURRENTLY d;\nSELECT 1;\n");
  EXPECT_EQ(f[3].undo_checksum, FileChecksum(f[3].undo_text));
  MigrationFile u = UndoFileOf(f[3]);
  EXPECT_EQ(u.name.kind, FileKind::kUndo);
  EXPECT_EQ(u.path, "db/2_d.down.sql");
  EXPECT_EQ(u.name.version.ToString(), "2");
}

TEST(MigrateDownTest, DefaultUndoesOnlyTheNewestApplied) {
  auto f = FourWithUndos();
  std::vector<HistoryRow> rows = {DownRow(f[0], "applied"), DownRow(f[1], "applied"), DownRow(f[2], "applied")};
  auto st = ComputeStatus(f, rows, false);
  auto plan = DownMigrations(st, std::nullopt);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Versions(*plan), ElementsAre("1.10"));  // 2 is pending: not undone
  EXPECT_EQ(plan->undos[0].file->file, "U1.10__b.sql");
  EXPECT_EQ(plan->undos[0].resume_at, 0);
  EXPECT_FALSE(plan->undos[0].resumed);
}

TEST(MigrateDownTest, ToUndoesEveryNewerOneInReverseVersionOrder) {
  auto f = FourWithUndos();
  std::vector<HistoryRow> rows;
  for (const auto& m : f) rows.push_back(DownRow(m, "applied"));
  auto st = ComputeStatus(f, rows, false);
  auto plan = DownMigrations(st, DownV("1"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Versions(*plan), ElementsAre("2", "1.10", "1.9"));  // 1.10 after 1.9: numbers, not text
  ASSERT_EQ(plan->undos[0].paths.size(), 2u);
  EXPECT_EQ(plan->undos[0].paths[0], SafePath::kConcurrentIndex);
  auto all = DownMigrations(st, DownV("0"));
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Versions(*all), ElementsAre("2", "1.10", "1.9", "1"));
  auto none = DownMigrations(st, DownV("2"));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->undos.empty());
  auto between = DownMigrations(st, DownV("1.9.5"));  // not a version of the directory
  ASSERT_TRUE(between.ok());
  EXPECT_THAT(Versions(*between), ElementsAre("2", "1.10"));
}

TEST(MigrateDownTest, MissingUndoFileIsRefusedWithWhyBeforeAnything) {
  auto f = DownSet({{"V1__a.sql", "CREATE TABLE a (id int);\n"},
                    {"U1__a.sql", "DROP TABLE a;\n"},
                    {"V2__b.sql", "CREATE TABLE b (id int);\n"},
                    {"V3__c.sql", "CREATE TABLE c (id int);\n"},
                    {"U3__c.sql", "DROP TABLE c;\n"}});
  std::vector<HistoryRow> rows = {DownRow(f[0], "applied"), DownRow(f[1], "applied"), DownRow(f[2], "applied")};
  auto st = ComputeStatus(f, rows, false);
  auto plan = DownMigrations(st, DownV("0"));
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(plan.status().message(), HasSubstr("nothing was run"));
  EXPECT_THAT(plan.status().message(), HasSubstr("version 2 (V2__b.sql) has no undo file"));
  // The newest alone has one.
  EXPECT_TRUE(DownMigrations(st, std::nullopt).ok());
}

TEST(MigrateDownTest, FailedModifiedAndBadUndoFilesAreRefused) {
  auto f = DownSet({{"V1__a.sql", "CREATE TABLE a (id int);\n"},
                    {"U1__a.sql", "DROP TABLE a;\n"},
                    {"V2__b.sql", "CREATE TABLE b (id int);\n"},
                    {"U2__b.sql", "DROP TABLE b;\n"}});
  std::vector<HistoryRow> rows = {DownRow(f[0], "applied"), DownRow(f[1], "failed")};
  auto failed = DownMigrations(ComputeStatus(f, rows, false), std::nullopt);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("version 2 (V2__b.sql) failed"));
  rows[1] = DownRow(f[1], "applied");
  rows[1].checksum = "edited";
  auto modified = DownMigrations(ComputeStatus(f, rows, false), std::nullopt);
  ASSERT_FALSE(modified.ok());
  EXPECT_THAT(modified.status().message(), HasSubstr("changed since it was applied"));
  auto bad = DownSet({{"V1__a.sql", "CREATE TABLE a (id int);\n"}, {"U1__a.sql", "-- nothing\n"}});
  auto unparsable = DownMigrations(ComputeStatus(bad, {DownRow(bad[0], "applied")}, false), std::nullopt);
  ASSERT_FALSE(unparsable.ok());
  EXPECT_EQ(unparsable.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MigrateDownTest, InterruptedUndoResumesAndBlocksForwardRuns) {
  auto f = FourWithUndos();
  std::vector<HistoryRow> rows;
  for (const auto& m : f) rows.push_back(DownRow(m, "applied"));
  rows[3].state = "undoing";
  rows[3].statements_applied = 1;
  rows[3].statements_total = 2;
  rows[3].statement_hashes = {StatementHash("DROP INDEX CONCURRENTLY d")};
  auto st = ComputeStatus(f, rows, false);
  EXPECT_EQ(MigrationStateName(st[3].state), "undoing");
  EXPECT_TRUE(NeedsAttention(st));
  auto plan = DownMigrations(st, std::nullopt);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->undos.size(), 1u);
  EXPECT_TRUE(plan->undos[0].resumed);
  EXPECT_EQ(plan->undos[0].resume_at, 1);
  auto forward = PendingMigrations(st, std::nullopt, false);
  ASSERT_FALSE(forward.ok());
  EXPECT_THAT(forward.status().message(), HasSubstr("finish it with `migrate down`"));
}

TEST(MigrateDownTest, UndoneRowsArePendingAgain) {
  auto f = FourWithUndos();
  std::vector<HistoryRow> rows = {DownRow(f[0], "applied"), DownRow(f[1], "undone")};
  auto st = ComputeStatus(f, rows, false);
  EXPECT_EQ(MigrationStateName(st[1].state), "pending");
  EXPECT_EQ(st[1].row, nullptr);
  EXPECT_FALSE(NeedsAttention(st));
  auto pending = PendingMigrations(st, std::nullopt, false);
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[0].file->file, "V1.9__c.sql");
  EXPECT_FALSE((*pending)[0].resumed);
  auto plan = DownMigrations(st, std::nullopt);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(Versions(*plan), ElementsAre("1"));
}

TEST(SchemaDumpTest, NormalisationDropsCommentsSettingsAndRestrictKeys) {
  std::string dump =
      "--\r\n-- PostgreSQL database dump\n--\n\n\\restrict AbC123\n\n-- Dumped from database version 15.8\n"
      "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n\n"
      "CREATE TABLE public.t (\n    id integer   \n);\n\n\n\n-- Name: t_idx; Type: INDEX\n\n"
      "CREATE INDEX t_idx ON public.t USING btree (id);\n\n\\unrestrict AbC123\n\n";
  EXPECT_THAT(NormalizeSchemaDump(dump), ElementsAre("CREATE TABLE public.t (", "    id integer", ");", "",
                                                     "CREATE INDEX t_idx ON public.t USING btree (id);"));
  std::string other = "\\restrict Zz9\nSET x = 1;\nCREATE TABLE public.t (\n    id integer\n);\n\n"
                      "CREATE INDEX t_idx ON public.t USING btree (id);\n\\unrestrict Zz9\n";
  EXPECT_EQ(UnifiedDiff(NormalizeSchemaDump(dump), NormalizeSchemaDump(other), "a", "b"), "");
}

TEST(SchemaDumpTest, UnifiedDiffShowsTheChangeWithContext) {
  std::vector<std::string> a = {"l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9", "l10"};
  std::vector<std::string> b = a;
  b.insert(b.begin() + 5, "CREATE INDEX orders_status_idx ON public.orders USING btree (status);");
  EXPECT_EQ(UnifiedDiff(a, b, "before", "after"),
            "--- before\n+++ after\n@@ -3,6 +3,7 @@\n l3\n l4\n l5\n"
            "+CREATE INDEX orders_status_idx ON public.orders USING btree (status);\n l6\n l7\n l8\n");
  EXPECT_EQ(UnifiedDiff(a, a, "before", "after"), "");
  // Two changes far apart: two hunks; one removed line at the start.
  std::vector<std::string> c(a.begin() + 1, a.end());
  c.back() = "l10 changed";
  EXPECT_EQ(UnifiedDiff(a, c, "x", "y"),
            "--- x\n+++ y\n@@ -1,4 +1,3 @@\n-l1\n l2\n l3\n l4\n@@ -7,4 +6,4 @@\n l7\n l8\n l9\n-l10\n+l10 changed\n");
  EXPECT_EQ(UnifiedDiff({}, {"only"}, "x", "y"), "--- x\n+++ y\n@@ -0,0 +1 @@\n+only\n");
}

}  // namespace
}  // namespace shadowcopy::workflow
