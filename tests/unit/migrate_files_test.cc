#include <string>
#include <vector>

#include "engine/workflow/migrate_files.h"
#include "engine/workflow/migrate_safe_path.h"
#include "engine/workflow/migrate_state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::workflow {
namespace {

using ::testing::HasSubstr;

MigrationVersion V(const char* text) {
  auto v = ParseVersion(text);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : MigrationVersion{};
}

TEST(MigrateVersionTest, ComparesPartByPartAsNumbers) {
  EXPECT_LT(V("1.9"), V("1.10"));
  EXPECT_LT(V("1_1"), V("2"));
  EXPECT_LT(V("9"), V("10"));
  EXPECT_LT(V("1"), V("1.0.1"));
  EXPECT_EQ(V("1"), V("1.0"));
  EXPECT_EQ(V("007"), V("7"));
  EXPECT_LT(V("20240101120000"), V("20240101120001"));
  EXPECT_LT(V("99999999999999999999"), V("100000000000000000000"));  // beyond 64 bits
  EXPECT_EQ(V("1_10").ToString(), "1.10");
  EXPECT_FALSE(ParseVersion("1..2").ok());
  EXPECT_FALSE(ParseVersion("1a").ok());
  EXPECT_FALSE(ParseVersion("").ok());
}

TEST(MigrateVersionTest, KeyDropsTrailingZeroParts) {
  EXPECT_EQ(V("1.0.0").Key(), "1");
  EXPECT_EQ(V("1_0").Key(), V("1").Key());
  EXPECT_EQ(V("1.0.2").Key(), "1.0.2");
  EXPECT_EQ(V("0").Key(), "0");
  EXPECT_EQ(V("10.0").Key(), "10");
}

TEST(MigrateFileNameTest, BothConventions) {
  auto f = ParseMigrationFileName("V1_1__add_orders_index.sql");
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ((*f)->version.ToString(), "1.1");
  EXPECT_EQ((*f)->description, "add orders index");
  EXPECT_EQ((*f)->kind, FileKind::kMigration);
  auto u = ParseMigrationFileName("U1.1__add_orders_index.sql");
  ASSERT_TRUE(u.ok() && u->has_value());
  EXPECT_EQ((*u)->kind, FileKind::kUndo);
  auto g = ParseMigrationFileName("20240101_create_users.up.sql");
  ASSERT_TRUE(g.ok() && g->has_value());
  EXPECT_EQ((*g)->version.ToString(), "20240101");
  EXPECT_EQ((*g)->description, "create users");
  auto d = ParseMigrationFileName("3_x.down.sql");
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->kind, FileKind::kUndo);
  auto readme = ParseMigrationFileName("README.md");
  ASSERT_TRUE(readme.ok());
  EXPECT_FALSE(readme->has_value());
  for (const char* bad : {"V1_add.sql", "Vx__a.sql", "create.sql", "R__views.sql", "1_x.sql", "abc_x.up.sql"})
    EXPECT_FALSE(ParseMigrationFileName(bad).ok()) << bad;
}

TEST(MigrateSetTest, OrdersByVersionAndPairsUndo) {
  auto set = BuildMigrationSet("d", {{"V2__b.sql", "SELECT 2"}, {"V1.10__c.sql", "SELECT 3"},
                                     {"V1.9__a.sql", "SELECT 1"}, {"U2__b.sql", "SELECT 0"}, {"notes.txt", "x"}});
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), 3u);
  EXPECT_EQ((*set)[0].file, "V1.9__a.sql");
  EXPECT_EQ((*set)[1].file, "V1.10__c.sql");
  EXPECT_EQ((*set)[2].file, "V2__b.sql");
  EXPECT_EQ((*set)[2].undo_file, "U2__b.sql");
  EXPECT_EQ((*set)[0].path, "d/V1.9__a.sql");
}

TEST(MigrateSetTest, EveryProblemInOneError) {
  auto set = BuildMigrationSet("d", {{"V1__a.sql", ""}, {"1.0_b.up.sql", ""}, {"U3__c.sql", ""}, {"oops.sql", ""}});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  std::string msg(set.status().message());
  EXPECT_THAT(msg, HasSubstr("3 problems"));
  EXPECT_THAT(msg, HasSubstr("same version 1"));
  EXPECT_THAT(msg, HasSubstr("U3__c.sql undoes version 3, which has no migration file"));
  EXPECT_THAT(msg, HasSubstr("oops.sql"));
}

TEST(MigrateChecksumTest, IgnoresLineEndingsAndTrailingWhitespace) {
  std::string unix_text = "CREATE TABLE t (id int);\nSELECT 1;\n";
  EXPECT_EQ(FileChecksum(unix_text), FileChecksum("CREATE TABLE t (id int);\r\nSELECT 1;\r\n"));
  EXPECT_EQ(FileChecksum(unix_text), FileChecksum("CREATE TABLE t (id int);  \t\nSELECT 1;\n\n\n"));
  EXPECT_EQ(FileChecksum(unix_text), FileChecksum("\xEF\xBB\xBF" "CREATE TABLE t (id int);\rSELECT 1;"));
  EXPECT_NE(FileChecksum(unix_text), FileChecksum("CREATE TABLE t (id bigint);\nSELECT 1;\n"));
  EXPECT_NE(FileChecksum(unix_text), FileChecksum("CREATE TABLE t (id  int);\nSELECT 1;\n"));
  EXPECT_EQ(FileChecksum(unix_text).size(), 64u);
  EXPECT_EQ(StatementHash("SELECT 1 \r\n").size(), 16u);
  EXPECT_EQ(StatementHash("SELECT 1 \r\n"), StatementHash("SELECT 1"));
}

TEST(MigrateScriptTest, HeaderOptionsStatementsAndVerifyBlock) {
  auto s = ParseMigrationScript("V1__a.sql",
                                "-- a comment\n"
                                "-- shadowcopy: lock_timeout=5s\n"
                                "-- shadowcopy: transaction=file\n"
                                "ALTER TABLE t ADD COLUMN c int;\n"
                                "UPDATE t SET c = 1; -- not an option\n"
                                "-- shadowcopy: verify\n"
                                "SELECT count(*) > 0 FROM t;\n"
                                "SELECT true;\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->options.transaction_file);
  EXPECT_FALSE(s->options.literal);
  EXPECT_EQ(s->options.lock_timeout, std::chrono::milliseconds(5000));
  ASSERT_EQ(s->statements.size(), 2u);
  EXPECT_EQ(s->statements[0].line, 4);
  EXPECT_EQ(s->statements[1].sql, "UPDATE t SET c = 1");
  ASSERT_EQ(s->verify.size(), 2u);
  EXPECT_EQ(s->verify[0].line, 7);
  EXPECT_EQ(s->verify[1].sql, "SELECT true");
}

TEST(MigrateScriptTest, VerifyMarkerInsideAStringIsText) {
  auto s = ParseMigrationScript("f", "SELECT '\n-- shadowcopy: verify\n';\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->statements.size(), 1u);
  EXPECT_TRUE(s->verify.empty());
}

TEST(MigrateScriptTest, Refusals) {
  auto err = [](std::string_view text) {
    auto s = ParseMigrationScript("f.sql", text);
    EXPECT_FALSE(s.ok()) << text;
    return s.ok() ? std::string() : std::string(s.status().message());
  };
  EXPECT_THAT(err("-- shadowcopy: transaction=everything\nSELECT 1;"), HasSubstr("f.sql:1: unknown option"));
  EXPECT_THAT(err("SELECT 1;\n-- shadowcopy: literal\nSELECT 2;"), HasSubstr("f.sql:2:"));
  EXPECT_THAT(err("-- shadowcopy: lock_timeout=soon\nSELECT 1;"), HasSubstr("lock_timeout"));
  EXPECT_THAT(err("-- shadowcopy: transaction=file\nCREATE INDEX CONCURRENTLY i ON t (a);"),
              HasSubstr("cannot run inside a transaction"));
  EXPECT_THAT(err("SELECT $$ unterminated;"), HasSubstr("f.sql"));
  EXPECT_THAT(err("\\set x 1\nSELECT 1;"), HasSubstr("f.sql"));
  EXPECT_THAT(err("BEGIN;\nSELECT 1;"), HasSubstr("not closed"));
  EXPECT_THAT(err("-- only a comment\n"), HasSubstr("no statement"));
}

TEST(MigrateScriptTest, LiteralKeepsTheBody) {
  auto s = ParseMigrationScript("f", "-- shadowcopy: literal\nSELECT 1; SELECT 2;\n-- shadowcopy: verify\nSELECT true;");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->options.literal);
  EXPECT_EQ(s->body, "-- shadowcopy: literal\nSELECT 1; SELECT 2;\n");
}

TEST(MigrateScriptTest, UnitsGroupExplicitBlocks) {
  auto s = ParseMigrationScript("f", "SELECT 1; BEGIN; SELECT 2; COMMIT; BEGIN ISOLATION LEVEL SERIALIZABLE; "
                                     "SELECT 3; END; SELECT 4;");
  ASSERT_TRUE(s.ok()) << s.status();
  auto units = Units(*s);
  ASSERT_EQ(units.size(), 4u);
  EXPECT_EQ(units[0].end, 1);
  EXPECT_EQ(units[1].begin, 1);
  EXPECT_EQ(units[1].end, 4);
  EXPECT_EQ(units[2].begin, 4);
  EXPECT_EQ(units[2].end, 7);
  EXPECT_EQ(units[3].begin, 7);
}

TEST(MigrateSafePathTest, ConcurrentIndexAndOutsideTransaction) {
  FileOptions plain;
  auto path = [&](const char* sql) { return SafePathFor({"f", 1, sql, false}, plain); };
  EXPECT_EQ(path("CREATE INDEX CONCURRENTLY i ON t (a)"), SafePath::kConcurrentIndex);
  EXPECT_EQ(path("create unique index concurrently if not exists i on t (a)"), SafePath::kConcurrentIndex);
  EXPECT_EQ(path("DROP INDEX CONCURRENTLY i"), SafePath::kConcurrentIndex);
  EXPECT_EQ(path("CREATE INDEX i ON t (a)"), SafePath::kAsIs);
  EXPECT_EQ(path("ALTER TABLE t ADD COLUMN concurrently int"), SafePath::kAsIs);
  EXPECT_EQ(path("/* CREATE INDEX CONCURRENTLY */ SELECT 1"), SafePath::kAsIs);
  EXPECT_TRUE(RunsOutsideTransaction("CREATE INDEX CONCURRENTLY i ON t (a)"));
  EXPECT_TRUE(RunsOutsideTransaction("VACUUM t"));
  EXPECT_TRUE(RunsOutsideTransaction("ALTER TABLE p DETACH PARTITION c CONCURRENTLY"));
  EXPECT_FALSE(RunsOutsideTransaction("CREATE INDEX i ON t (a)"));
  EXPECT_FALSE(RunsOutsideTransaction("SELECT 'VACUUM'"));
}

HistoryRow Row(const MigrationFile& f, const char* state) {
  HistoryRow r;
  r.version = f.name.version.ToString();
  r.file = f.file;
  r.checksum = f.checksum;
  r.state = state;
  return r;
}

TEST(MigrateStatusTest, EveryState) {
  auto set = BuildMigrationSet("d", {{"V1__a.sql", "SELECT 1"}, {"V2__b.sql", "SELECT 2"}, {"V3__c.sql", "SELECT 3"},
                                     {"V4__d.sql", "SELECT 4"}, {"V5__e.sql", "SELECT 5"}, {"V7__g.sql", "SELECT 7"}});
  ASSERT_TRUE(set.ok());
  const auto& f = *set;
  std::vector<HistoryRow> rows = {Row(f[0], "applied"), Row(f[2], "applied"), Row(f[3], "failed"),
                                  Row(f[4], "running")};
  rows[1].checksum = "edited";
  HistoryRow gone;
  gone.version = "6";
  gone.file = "V6__f.sql";
  gone.state = "applied";
  rows.push_back(gone);
  auto st = ComputeStatus(f, rows, /*runner_active=*/false);
  std::vector<std::string> names;
  for (const auto& s : st) names.push_back(std::string(MigrationStateName(s.state)) + ":" + s.version);
  EXPECT_THAT(names, ::testing::ElementsAre("applied:1", "out-of-order:2", "modified:3", "failed:4", "failed:5",
                                            "missing:6", "pending:7"));
  EXPECT_TRUE(NeedsAttention(st));
  EXPECT_EQ(ValidationProblems(st).size(), 2u);
  EXPECT_EQ(MigrationStateName(ComputeStatus(f, rows, true)[4].state), "running");
  auto pending = PendingMigrations(st, std::nullopt, false);
  ASSERT_FALSE(pending.ok());
  EXPECT_THAT(std::string(pending.status().message()), HasSubstr("V3__c.sql changed since it was applied"));
}

TEST(MigrateStatusTest, OutOfOrderRefusedUnlessAsked) {
  auto set = BuildMigrationSet("d", {{"V1__a.sql", "SELECT 1"}, {"V2__b.sql", "SELECT 2"}});
  ASSERT_TRUE(set.ok());
  std::vector<HistoryRow> rows = {Row((*set)[1], "applied")};
  auto st = ComputeStatus(*set, rows, false);
  EXPECT_FALSE(NeedsAttention(st));
  EXPECT_FALSE(PendingMigrations(st, std::nullopt, false).ok());
  auto p = PendingMigrations(st, std::nullopt, true);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 1u);
  EXPECT_EQ((*p)[0].file->file, "V1__a.sql");
}

TEST(MigrateResumeTest, ResumesAfterUnchangedAppliedStatements) {
  auto s = ParseMigrationScript("f", "CREATE TABLE a (x int);\nCREATE TABLE b (x int);\nSELECT broken;");
  ASSERT_TRUE(s.ok());
  HistoryRow row;
  row.statements_applied = 2;
  row.statement_hashes = {StatementHash("CREATE TABLE a (x int)"), StatementHash("CREATE TABLE b (x int)")};
  auto at = ResumeAt(row, *s, "f");
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_EQ(*at, 2);
  auto edited = ParseMigrationScript("f", "CREATE TABLE a (x int);\nCREATE TABLE b (x bigint);\nSELECT 1;");
  auto refused = ResumeAt(row, *edited, "f");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("statement 2 (line 2: CREATE TABLE b (x bigint))"));
  auto shorter = ParseMigrationScript("f", "CREATE TABLE a (x int);");
  EXPECT_FALSE(ResumeAt(row, *shorter, "f").ok());
}

TEST(MigrateStatusTest, ToStopsAtTheVersion) {
  auto set = BuildMigrationSet("d", {{"V1__a.sql", "SELECT 1"}, {"V1.5__b.sql", "SELECT 2"}, {"V2__c.sql", "SELECT 3"}});
  ASSERT_TRUE(set.ok());
  auto st = ComputeStatus(*set, {}, false);
  auto p = PendingMigrations(st, V("1.5"), false);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->size(), 2u);
}

}  // namespace
}  // namespace shadowcopy::workflow

namespace shadowcopy::workflow {
namespace {

TEST(MigratePlanJsonTest, SafePathPerStatement) {
  auto set = BuildMigrationSet("d", {{"V1__a.sql", "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY i ON t (a);"}});
  ASSERT_TRUE(set.ok());
  auto p = PendingMigrations(ComputeStatus(*set, {}, false), std::nullopt, false);
  ASSERT_TRUE(p.ok() && p->size() == 1u);
  EXPECT_EQ(PlanJson((*p)[0]), R"({"statements":[{"line":1,"safe_path":"as-is"},{"line":2,"safe_path":)"
                               R"("concurrent-index"}],"transaction":"statement"})");
}

}  // namespace
}  // namespace shadowcopy::workflow
