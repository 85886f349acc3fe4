// migrate's use of plan's judgement: each pending statement's safe path and
// commands with the target's sizes, consecutive ALTERs of one table as one
// online rewrite, backfill shapes and the engine's command lines.
#include <string>
#include <vector>

#include "engine/workflow/migrate_backup.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/migrate_safe_path.h"
#include "engine/workflow/migrate_state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::workflow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Judged {
  std::vector<MigrationFile> files;
  std::vector<PendingMigration> pending;
  absl::Status status;
};

// The directory's migrations judged with `orders` (1M rows, 200 MB, total
// numeric(10,2), id its primary key) on the target.
Judged Judge(std::vector<DirectoryEntry> entries) {
  Judged j;
  auto set = BuildMigrationSet("d", entries);
  EXPECT_TRUE(set.ok()) << set.status();
  j.files = *set;
  auto p = PendingMigrations(ComputeStatus(j.files, {}, false), std::nullopt, false);
  EXPECT_TRUE(p.ok()) << p.status();
  j.pending = std::move(*p);
  PlanFacts catalog = MigrateFacts(j.pending);
  catalog.sizes["public.orders"] = {1000000, 200 << 20};
  catalog.sizes["public.customers"] = {1000, 100 << 10};
  catalog.column_types["public.orders.total"] = "numeric(10,2)";
  catalog.column_types["public.orders.id"] = "bigint";
  catalog.primary_keys["public.orders"] = {"id"};
  catalog.index_columns["public.orders"] = {{"id"}};
  j.status = AssignPlanPaths(catalog, &j.pending);
  return j;
}

std::vector<std::string> Paths(const PendingMigration& p) {
  std::vector<std::string> out;
  for (SafePath s : p.paths) out.emplace_back(SafePathName(s));
  return out;
}

TEST(MigratePlanPathTest, EachStatementGetsPlansWord) {
  Judged j = Judge({{"V1__all.sql",
                     "CREATE TABLE t (id bigint PRIMARY KEY, a int);\n"
                     "CREATE INDEX orders_total_idx ON orders (total);\n"
                     "ALTER TABLE orders ADD COLUMN note text;\n"
                     "UPDATE orders SET note = 'x' WHERE id < 100;\n"
                     "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;\n"
                     "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,4);\n"
                     "ALTER TABLE orders ADD CONSTRAINT orders_c_fk FOREIGN KEY (id) REFERENCES customers (id);\n"
                     "ALTER TABLE orders ADD CONSTRAINT orders_note_key UNIQUE (note);\n"
                     "ALTER TABLE t ALTER COLUMN a TYPE bigint;\n"
                     "CREATE INDEX CONCURRENTLY orders_id_idx ON orders (id);\n"}});
  ASSERT_TRUE(j.status.ok()) << j.status;
  ASSERT_EQ(j.pending.size(), 1u);
  const PendingMigration& p = j.pending[0];
  EXPECT_THAT(Paths(p), ElementsAre("as-is", "concurrent-index", "as-is", "backfill", "check-then-set-not-null",
                                    "online-rewrite", "not-valid-then-validate", "unique-via-concurrent-index",
                                    "as-is", "concurrent-index"));
  EXPECT_THAT(p.commands[1], ElementsAre(HasSubstr("CREATE INDEX CONCURRENTLY orders_total_idx")));
  ASSERT_EQ(p.commands[4].size(), 4u);
  EXPECT_THAT(p.commands[4][0], HasSubstr("NOT VALID"));
  EXPECT_THAT(p.commands[4][2], HasSubstr("SET NOT NULL"));
  EXPECT_THAT(p.commands[6], ElementsAre(HasSubstr("NOT VALID"), HasSubstr("VALIDATE CONSTRAINT orders_c_fk")));
  EXPECT_THAT(p.commands[7], ElementsAre(HasSubstr("CREATE UNIQUE INDEX CONCURRENTLY"), HasSubstr("USING INDEX")));
}

TEST(MigratePlanPathTest, TransactionsKeepTheirStatementsAsIs) {
  Judged j = Judge({{"V1__tx.sql", "-- shadowcopy: transaction=file\nALTER TABLE orders ALTER COLUMN total TYPE text;\n"},
                    {"V2__block.sql", "BEGIN;\nCREATE INDEX i ON orders (total);\nCOMMIT;\n"}});
  ASSERT_TRUE(j.status.ok()) << j.status;
  EXPECT_THAT(Paths(j.pending[0]), ElementsAre("as-is"));
  EXPECT_THAT(Paths(j.pending[1]), ElementsAre("as-is", "as-is", "as-is"));
}

TEST(MigratePlanPathTest, RefusedStatementStopsBeforeAnythingRuns) {
  Judged j = Judge({{"V1__bad.sql", "ALTER TABLE orders ADD COLUMN c int NOT NULL;\n"}});
  ASSERT_FALSE(j.status.ok());
  EXPECT_EQ(j.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(j.status.message()), HasSubstr("V1__bad.sql:1"));
  EXPECT_THAT(std::string(j.status.message()), HasSubstr("nothing was run"));
}

TEST(MigratePlanPathTest, ConsecutiveAltersOfOneTableAreOneRewrite) {
  Judged j = Judge({{"V1__types.sql",
                     "ALTER TABLE orders ALTER COLUMN total TYPE numeric(14,3);\n"
                     "ALTER TABLE orders ALTER COLUMN id TYPE numeric;\n"
                     "ALTER TABLE orders ALTER COLUMN total TYPE text;\n"}});
  ASSERT_TRUE(j.status.ok()) << j.status;
  const PendingMigration& p = j.pending[0];
  EXPECT_THAT(Paths(p), ElementsAre("online-rewrite", "online-rewrite", "online-rewrite"));
  auto g = RewriteGroupAt(p, 0);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->end, 2);  // the third names `total` again: a rewrite of its own
  EXPECT_EQ(g->step.schema, "public");
  EXPECT_EQ(g->step.table, "orders");
  EXPECT_EQ(g->step.alter, "ALTER COLUMN total TYPE numeric(14,3), ALTER COLUMN id TYPE numeric");
  auto third = RewriteGroupAt(p, 2);
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->end, 3);
  EXPECT_FALSE(RewriteGroupAt(p, 3).has_value());
  EXPECT_THAT(RewriteArgs("dbname=x", g->step, true, true),
              ElementsAre("--dsn", "dbname=x", "--table", "orders", "--schema", "public", "--alter",
                          "ALTER COLUMN total TYPE numeric(14,3), ALTER COLUMN id TYPE numeric", "--execute",
                          "--resume", "--drop-old-table"));
}

TEST(MigratePlanPathTest, BackfillShapesAndArgs) {
  auto u = BackfillOf("UPDATE app.orders SET note = 'x', n = 1 WHERE id < 10");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->schema, "app");
  EXPECT_EQ(u->table, "orders");
  EXPECT_EQ(u->set, "note = 'x', n = 1");
  EXPECT_EQ(u->where, "id < 10");
  EXPECT_THAT(BackfillArgs("", *u, false), ElementsAre("backfill", "--table", "orders", "--schema", "app", "--set",
                                                       "note = 'x', n = 1", "--where", "id < 10", "--execute"));
  auto d = BackfillOf("DELETE FROM orders");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->where, "true");
  EXPECT_THAT(BackfillArgs("", *d, true), ElementsAre("backfill", "--table", "orders", "--schema", "public",
                                                      "--delete", "--where", "true", "--execute", "--resume"));
  EXPECT_FALSE(BackfillOf("UPDATE orders o SET n = 1 FROM c WHERE c.id = o.id").has_value());
  EXPECT_FALSE(BackfillOf("SELECT 1").has_value());
}

TEST(MigrateResumeStepTest, StepsCountOnlyForTheStatementTheyRanFor) {
  auto script = ParseMigrationScript("f", "CREATE TABLE a (x int);\nALTER TABLE a ALTER COLUMN x SET NOT NULL;\n");
  ASSERT_TRUE(script.ok());
  HistoryRow row;
  EXPECT_EQ(*ResumeStep(row, *script, 1, "f"), 0);
  row.step = 2;
  row.step_statement = StatementHash("ALTER TABLE a ALTER COLUMN x SET NOT NULL");
  EXPECT_EQ(*ResumeStep(row, *script, 1, "f"), 2);
  row.step_statement = StatementHash("ALTER TABLE a ALTER COLUMN y SET NOT NULL");
  auto changed = ResumeStep(row, *script, 1, "f");
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(changed.status().message()), HasSubstr("statement 2 changed after 2 steps"));
}

TEST(MigrateBackupTest, TablesARewriteDropOrDeleteTouches) {
  Judged j = Judge({{"V1__risk.sql",
                     "CREATE TABLE fresh (id int);\n"
                     "CREATE INDEX orders_total_idx ON orders (total);\n"
                     "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,4);\n"
                     "DELETE FROM customers WHERE id < 0;\n"
                     "DROP TABLE IF EXISTS legacy, app.old_orders;\n"
                     "ALTER TABLE orders DROP COLUMN note;\n"}});
  ASSERT_TRUE(j.status.ok()) << j.status;
  EXPECT_THAT(TablesAtRisk(j.pending[0]),
              ElementsAre("public.orders", "public.customers", "public.legacy", "app.old_orders"));
  Judged none = Judge({{"V2__safe.sql", "CREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY i ON a (id);\n"}});
  EXPECT_TRUE(TablesAtRisk(none.pending[0]).empty());
  EXPECT_EQ(BackupFileName(j.files[0], "20260103T041500Z"), "V1__risk.20260103T041500Z.dump");
}

}  // namespace
}  // namespace shadowcopy::workflow
