// `shadowcopy migrate --execute` running each statement on plan's safe path
// under a mirrored writer workload: a team's directory (a new table, an
// index, a nullable column, its backfill, NOT NULL, type changes as one
// online rewrite, a foreign key) applied exactly; a second run changing
// nothing; an edited applied file failing validate; a second runner refused
// while a rewrite runs; kill -9 in the middle of the rewrite, then
// --execute again finishing it through the rewrite's resume.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/migrate_fixture.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class MigratePathsTest : public MigrateDirTest {
 protected:
  // The orders table's shape after the directory below.
  void ExpectSchemaAsTheFilesSay() {
    EXPECT_EQ(QueryValue(db(), "SELECT indisvalid FROM pg_index WHERE indexrelid = 'orders_status_idx'::regclass"),
              "t");
    EXPECT_EQ(QueryValue(db(), "SELECT format_type(atttypid, atttypmod) || ' ' || attnotnull FROM pg_attribute "
                               "WHERE attrelid = 'orders'::regclass AND attname = 'customer_id'"),
              "bigint true");
    EXPECT_EQ(QueryValue(db(), "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                               "WHERE attrelid = 'orders'::regclass AND attname = 'amount'"),
              "numeric(14,3)");
    EXPECT_EQ(QueryValue(db(), "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                               "AND attname = 'region'"),
              "t");
    EXPECT_EQ(QueryValue(db(), "SELECT string_agg(conname || ':' || contype::text || ':' || convalidated, ',' "
                               "ORDER BY conname) FROM pg_constraint WHERE conrelid = 'orders'::regclass"),
              "orders_customer_fk:f:true,orders_pkey:p:true");
    EXPECT_EQ(QueryValue(db(), "SELECT string_agg(relname, ',') FROM pg_class WHERE relname LIKE '%orders_old%' "
                               "OR relname LIKE '%orders_shadow%'"),
              "");
  }

};

// A team's directory: every safe path but refuse.
void WriteTeamDirectory(MigratePathsTest* t, const std::function<void(const std::string&, const std::string&)>& w) {
  (void)t;
  w("V1__create_customers.sql",
    "CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL);\n"
    "INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(0, 999) g;\n");
  w("V2__index_status.sql", "CREATE INDEX orders_status_idx ON orders (status);\n");
  w("V3__add_region.sql",
    "ALTER TABLE orders ADD COLUMN region text;\n"
    "ALTER TABLE orders ALTER COLUMN region SET DEFAULT 'eu';\n");
  w("V4__backfill_region.sql", "UPDATE orders SET region = 'eu' WHERE region IS NULL;\n");
  w("V5__region_not_null.sql", "ALTER TABLE orders ALTER COLUMN region SET NOT NULL;\n");
  w("V6__widen.sql",
    "ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;\n"
    "ALTER TABLE orders ALTER COLUMN amount TYPE numeric(14,3);\n");
  w("V7__customer_fk.sql",
    "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);\n"
    "-- shadowcopy: verify\n"
    "SELECT convalidated FROM pg_constraint WHERE conname = 'orders_customer_fk';\n"
    "SELECT count(*) = 0 FROM orders WHERE region IS DISTINCT FROM 'eu';\n");
}

constexpr const char* kTruthAlter =
    "ADD COLUMN region text NOT NULL DEFAULT 'eu', ALTER COLUMN customer_id TYPE bigint, "
    "ALTER COLUMN amount TYPE numeric(14,3)";

TEST_F(MigratePathsTest, TeamDirectoryOnItsSafePathsUnderWriters) {
  // Just over plan's 10000 rows for a backfill (an UPDATE of fewer runs as is).
  ASSERT_TRUE(CreateAndLoadOrders(db(), 12000).ok());
  MustExec(db(), "ANALYZE orders");
  WriteTeamDirectory(this, [this](const std::string& f, const std::string& text) { Write(f, text); });

  auto dry = Migrate({});
  ASSERT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_THAT(dry.out, HasSubstr("concurrent-index  CREATE INDEX orders_status_idx"));
  EXPECT_THAT(dry.out, HasSubstr("CREATE INDEX CONCURRENTLY orders_status_idx"));
  EXPECT_THAT(dry.out, HasSubstr("backfill  UPDATE orders"));
  EXPECT_THAT(dry.out, HasSubstr("check-then-set-not-null"));
  EXPECT_THAT(dry.out, HasSubstr("(statements 1 to 2 in one rewrite)"));
  EXPECT_THAT(dry.out, HasSubstr("not-valid-then-validate"));

  // The backfill's key span is fixed when it starts (README): a key update
  // would move a row it has not reached above it.
  MirrorWorkload workload(dbname(), WorkloadOptions{.key_updates = false});
  ASSERT_TRUE(workload.Start().ok());
  ASSERT_TRUE(WaitForMoreCommits(workload, 50)) << workload.CountsReport();
  auto r = Migrate({"--execute"});
  EXPECT_TRUE(WaitForMoreCommits(workload, 50)) << "no writes after the migration: " << workload.CountsReport();
  workload.Stop();
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("applied 7 migrations: versions 1 to 7"));
  EXPECT_THAT(r.err, HasSubstr("backfill of \"public\".\"orders\" complete"));
  EXPECT_THAT(r.err, HasSubstr("online rewrite of \"public\".\"orders\" complete"));
  EXPECT_THAT(r.err, HasSubstr("statements 1 to 2 are one online rewrite"));
  ExpectNoWorkloadErrors(workload);
  EXPECT_LT(workload.MaxTransactionTime(), 5s) << "a writer stalled";
  ASSERT_TRUE(TransformTruth(db(), "truth", kTruthAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectSchemaAsTheFilesSay();
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(version || ':' || state || ':' || statements_applied || '/' || "
                             "statements_total, ',' ORDER BY version::int) FROM shadowcopy.migrations"),
            "1:applied:2/2,2:applied:1/1,3:applied:2/2,4:applied:1/1,5:applied:1/1,6:applied:2/2,7:applied:1/1");
  EXPECT_EQ(QueryValue(db(), "SELECT plan -> 'statements' -> 0 ->> 'safe_path' FROM shadowcopy.migrations "
                             "WHERE version = '6'"),
            "online-rewrite");

  std::string before = QueryValue(db(), "SELECT string_agg(updated_at::text, ',' ORDER BY version) "
                                        "FROM shadowcopy.migrations");
  auto again = Migrate({"--execute"});
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_THAT(again.out, HasSubstr("nothing to apply: 7 migrations, all applied"));
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(updated_at::text, ',' ORDER BY version) FROM shadowcopy.migrations"),
            before);

  Write("V4__backfill_region.sql", "UPDATE orders SET region = 'us' WHERE region IS NULL;\n");
  auto validate = Migrate({"validate"});
  EXPECT_EQ(validate.exit_code, 1) << validate.Describe();
  EXPECT_THAT(validate.out, HasSubstr("V4__backfill_region.sql changed since it was applied"));
}

TEST_F(MigratePathsTest, KillMidRewriteThenExecuteFinishesIt) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 30000).ok());
  MustExec(db(), "ANALYZE orders");
  WriteTeamDirectory(this, [this](const std::string& f, const std::string& text) {
    if (f.rfind("V3", 0) != 0 && f.rfind("V4", 0) != 0) Write(f, text);
  });
  // No backfill (it would pause at the rewrite's pause point): the column
  // comes with its default.
  Write("V3__add_region.sql", "ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';\n");
  Write("V4__backfill_region.sql", "SELECT 1;\n");
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ASSERT_TRUE(workload.Start().ok());

  PausePoint pause;
  auto first = ShadowcopyProcess::Start(Args({"--execute"}), pause.Env("before-commit:2"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(pause.WaitPaused(120s)) << (*first)->StderrSoFar();
  EXPECT_THAT((*first)->StderrSoFar(), HasSubstr("online-rewrite"));

  // A second runner meanwhile: refused at once, naming the first.
  auto second = Migrate({"--execute"});
  ExpectFailedWithOneErrorLine(second);
  EXPECT_THAT(second.err, HasSubstr("another migrate runner is applying migrations"));
  EXPECT_THAT(second.err, HasSubstr(":" + std::to_string((*first)->pid())));

  (*first)->Signal(SIGKILL);
  (*first)->Wait(10s);
  EXPECT_EQ(QueryValue(db(), "SELECT state || ' ' || statements_applied FROM shadowcopy.migrations "
                             "WHERE version = '6'"),
            "running 0");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM shadowcopy.runs WHERE finished_at IS NULL"), "1");
  ASSERT_TRUE(WaitForMoreCommits(workload, 50)) << "no writes while nobody decodes: " << workload.CountsReport();

  auto r = Migrate({"--execute"});
  EXPECT_TRUE(WaitForMoreCommits(workload, 50)) << "no writes after the migration: " << workload.CountsReport();
  workload.Stop();
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("resuming the interrupted rewrite of \"public\".\"orders\""));
  EXPECT_THAT(r.out, HasSubstr("applied 2 migrations: versions 6 to 7"));
  ExpectNoWorkloadErrors(workload);
  ASSERT_TRUE(TransformTruth(db(), "truth", kTruthAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectSchemaAsTheFilesSay();
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM shadowcopy.migrations WHERE state <> 'applied'"), "0");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM shadowcopy.runs WHERE finished_at IS NULL"), "0");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"), "0");
}

TEST_F(MigratePathsTest, StepsOfASafePathResumeAfterTheLastDone) {
  MustExec(db(), "CREATE TABLE t (id bigint PRIMARY KEY, v int); "
                 "INSERT INTO t SELECT g, CASE WHEN g = 7 THEN NULL ELSE g END FROM generate_series(1, 20000) g; "
                 "ANALYZE t");
  Write("V1__v_not_null.sql", "ALTER TABLE t ALTER COLUMN v SET NOT NULL;\n");
  // The VALIDATE step fails on the NULL: the CHECK added NOT VALID stays,
  // recorded as step 1 of 4.
  auto failed = Migrate({"--execute"});
  ExpectFailedWithOneErrorLine(failed);
  EXPECT_EQ(QueryValue(db(), "SELECT state || ' ' || step FROM shadowcopy.migrations"), "failed 1");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_constraint WHERE conrelid = 't'::regclass AND contype = 'c'"),
            "1");
  MustExec(db(), "UPDATE t SET v = 0 WHERE v IS NULL");
  auto r = Migrate({"--execute"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("resuming after 1 of 4 steps done earlier"));
  EXPECT_EQ(QueryValue(db(), "SELECT attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'v'"),
            "t");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_constraint WHERE conrelid = 't'::regclass AND contype = 'c'"),
            "0");
  EXPECT_EQ(QueryValue(db(), "SELECT state || ' ' || step FROM shadowcopy.migrations"), "applied 0");
}

TEST_F(MigratePathsTest, BackupBeforeADropIsProvenRestorable) {
  MustExec(db(), "CREATE TABLE keep (id bigint PRIMARY KEY, v text); "
                 "INSERT INTO keep SELECT g, 'v' || g FROM generate_series(1, 3000) g; "
                 "CREATE TABLE legacy (id int PRIMARY KEY REFERENCES keep (id)); "
                 "INSERT INTO legacy SELECT g FROM generate_series(1, 500) g");
  Write("V1__new.sql", "CREATE TABLE fresh (id int);\n");
  Write("V2__drop.sql", "ALTER TABLE keep DROP COLUMN v;\nDROP TABLE legacy;\n");
  const std::string backups = dir_ + "/backups";
  auto r = Migrate({"--execute", "--backup", backups});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("restored on a throwaway server with the same row counts (public.keep 3000 rows, "
                               "public.legacy 500 rows)"));
  EXPECT_EQ(QueryValue(db(), "SELECT backup IS NULL FROM shadowcopy.migrations WHERE version = '1'"), "t");
  std::string path = QueryValue(db(), "SELECT backup FROM shadowcopy.migrations WHERE version = '2'");
  EXPECT_THAT(path, HasSubstr(backups + "/V2__drop."));
  EXPECT_TRUE(std::filesystem::exists(path)) << path;
  EXPECT_EQ(QueryValue(db(), "SELECT to_regclass('legacy') IS NULL"), "t");
}

}  // namespace
}  // namespace shadowcopy::it
