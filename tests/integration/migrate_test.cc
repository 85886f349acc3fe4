// `shadowcopy migrate` against a real server: a directory applied (under a
// mirrored writer workload), a second run changing nothing, status states,
// validate with edited and CRLF-converted files, a second runner refused
// naming the holder, a failing statement then resume after the fixed file,
// and kill -9 mid-file then a rerun that finishes.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <map>
#include <thread>
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

// The runner lock's key (engine/workflow/migrate_runner.h).
constexpr const char* kRunnerLockKey = "103354093010944";  // 0x5E << 40

class MigrateTest : public MigrateDirTest {};

TEST_F(MigrateTest, AppliesUnderWritersThenSecondRunChangesNothing) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000).ok());
  Write("V1__index_status.sql", "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n");
  Write("V1.1__add_column.sql",
        "-- shadowcopy: lock_timeout=1s\n"
        "ALTER TABLE orders ADD COLUMN flag int;\n"
        "COMMENT ON COLUMN orders.flag IS 'set later';\n"
        "-- shadowcopy: verify\n"
        "SELECT count(*) = 1 FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'flag';\n");
  Write("V1.10__new_table.sql",
        "-- shadowcopy: transaction=file\n"
        "CREATE TABLE customers (id int PRIMARY KEY, name text);\n"
        "INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g;\n");
  Write("V1.9__seq.sql", "CREATE SEQUENCE invoice_seq;\n");
  Write("U1.9__seq.sql", "DROP SEQUENCE invoice_seq;\n");

  auto dry = Migrate({});
  ASSERT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_THAT(dry.out, HasSubstr("dry run: 4 migrations"));
  EXPECT_THAT(dry.out, HasSubstr("concurrent-index  CREATE INDEX CONCURRENTLY orders_status_idx"));
  EXPECT_THAT(dry.out, HasSubstr("as-is (lock_timeout 1000ms)  ALTER TABLE orders ADD COLUMN flag int"));
  EXPECT_EQ(QueryValue(db(), "SELECT to_regclass('shadowcopy.migrations') IS NULL"), "t") << "dry run created it";

  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ASSERT_TRUE(workload.Start().ok());
  std::this_thread::sleep_for(200ms);
  auto r = Migrate({"--execute"});
  std::this_thread::sleep_for(200ms);
  workload.Stop();
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("applied 4 migrations: versions 1 to 1.10"));
  ExpectNoWorkloadErrors(workload);
  ASSERT_TRUE(TransformTruth(db(), "truth", "ADD COLUMN flag int").ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  EXPECT_EQ(QueryValue(db(), "SELECT indisvalid FROM pg_index WHERE indexrelid = 'orders_status_idx'::regclass"), "t");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM customers"), "50");
  // Applied in version order: 1, 1.1, 1.9, 1.10.
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(version, ',' ORDER BY installed_on, updated_at) "
                             "FROM shadowcopy.migrations"),
            "1,1.1,1.9,1.10");
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(state || ':' || statements_applied || '/' || statements_total, ',' "
                             "ORDER BY installed_on) FROM shadowcopy.migrations"),
            "applied:1/1,applied:2/2,applied:1/1,applied:2/2");
  std::string before = QueryValue(db(), "SELECT string_agg(updated_at::text, ',' ORDER BY version) "
                                        "FROM shadowcopy.migrations");

  auto again = Migrate({"--execute"});
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_THAT(again.out, HasSubstr("nothing to apply: 4 migrations, all applied"));
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(updated_at::text, ',' ORDER BY version) FROM shadowcopy.migrations"),
            before);
  EXPECT_EQ(States(0), (std::map<std::string, std::string>{
                           {"1", "applied"}, {"1.1", "applied"}, {"1.9", "applied"}, {"1.10", "applied"}}));
  EXPECT_EQ(QueryValue(db(), "SELECT plan FROM shadowcopy.migrations WHERE version = '1'"),
            R"({"statements": [{"line": 1, "safe_path": "concurrent-index"}], "transaction": "statement"})");
}

TEST_F(MigrateTest, StatusStatesAndValidate) {
  Write("V1__a.sql", "CREATE TABLE a (id int);\n");
  Write("V3__c.sql", "CREATE TABLE c (id int);\n");
  Write("V5__e.sql", "CREATE TABLE e (id int);\n");
  EXPECT_EQ(States(0), (std::map<std::string, std::string>{{"1", "pending"}, {"3", "pending"}, {"5", "pending"}}));
  auto r = Migrate({"--execute"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();

  // Another OS's checkout: CRLF and trailing blanks are not a change.
  Write("V1__a.sql", "CREATE TABLE a (id int);  \r\n\r\n");
  auto ok = Migrate({"validate"});
  EXPECT_EQ(ok.exit_code, 0) << ok.Describe();

  Write("V2__b.sql", "CREATE TABLE b (id int);\n");
  Write("V6__f.sql", "CREATE TABLE f (id int);\n");
  Write("V3__c.sql", "CREATE TABLE c (id bigint);\n");
  Remove("V5__e.sql");
  EXPECT_EQ(States(1), (std::map<std::string, std::string>{{"1", "applied"},
                                                            {"2", "out-of-order"},
                                                            {"3", "modified"},
                                                            {"5", "missing"},
                                                            {"6", "pending"}}));
  auto bad = Migrate({"validate"});
  ExpectFailedWithOneErrorLine(bad);
  EXPECT_THAT(bad.out, HasSubstr("V3__c.sql changed since it was applied"));
  EXPECT_THAT(bad.out, HasSubstr("V5__e.sql was applied but is not in the directory"));

  auto refused = Migrate({"--execute"});
  ExpectFailedWithOneErrorLine(refused);
  EXPECT_THAT(refused.err, HasSubstr("nothing was run"));
  EXPECT_EQ(QueryValue(db(), "SELECT to_regclass('b') IS NULL AND to_regclass('f') IS NULL"), "t");
}

TEST_F(MigrateTest, SecondRunnerRefusedNamingTheHolder) {
  Write("V1__a.sql", "CREATE TABLE a (id int);\n");
  auto holder = Connect();
  MustExec(*holder, "SET application_name = 'deploy-42'");
  MustExec(*holder, std::string("SELECT pg_advisory_lock(") + kRunnerLockKey + ")");
  auto r = Migrate({"--execute"});
  ExpectFailedWithOneErrorLine(r);
  EXPECT_THAT(r.err, HasSubstr("server pid " + std::to_string(holder->BackendPid())));
  EXPECT_THAT(r.err, HasSubstr("application_name 'deploy-42'"));
  EXPECT_THAT(r.err, HasSubstr("since 20"));
  EXPECT_EQ(QueryValue(db(), "SELECT to_regclass('a') IS NULL"), "t");
  MustExec(*holder, std::string("SELECT pg_advisory_unlock(") + kRunnerLockKey + ")");
  auto after = Migrate({"--execute"});
  EXPECT_EQ(after.exit_code, 0) << after.Describe();
}

TEST_F(MigrateTest, RunnerLockHeldByAMigrateInFlight) {
  Write("V1__slow.sql", "SELECT pg_sleep(3);\n");
  auto first = ShadowcopyProcess::Start(Args({"--execute"}));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->WaitForStderr("[1/1] line 1 as-is", 10s)) << (*first)->StderrSoFar();
  auto second = Migrate({"--execute"});
  ExpectFailedWithOneErrorLine(second);
  EXPECT_THAT(second.err, HasSubstr("application_name 'shadowcopy migrate "));
  EXPECT_THAT(second.err, HasSubstr(":" + std::to_string((*first)->pid())));
  auto done = (*first)->Wait(20s);
  EXPECT_EQ(done.exit_code, 0) << done.Describe();
}

TEST_F(MigrateTest, FailedStatementThenFixedFileResumes) {
  const std::string head = "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n";
  Write("V1__a.sql", head + "SELECT 1 / (SELECT count(*) - 1 FROM a);\nCREATE TABLE b (id int);\n");
  auto r = Migrate({"--execute"});
  ExpectFailedWithOneErrorLine(r);
  EXPECT_THAT(r.err, HasSubstr("V1__a.sql at line 3"));
  EXPECT_THAT(r.err, HasSubstr("failed with 2 of 4 statements applied and recorded"));
  EXPECT_EQ(QueryValue(db(), "SELECT state || ' ' || statements_applied || '/' || statements_total || ' ' || "
                             "(error_statement LIKE 'line 3: SELECT 1 /%') FROM shadowcopy.migrations"),
            "failed 2/4 true");
  EXPECT_EQ(States(1), (std::map<std::string, std::string>{{"1", "failed"}}));

  // An applied statement edited: refused, saying which.
  Write("V1__a.sql", "CREATE TABLE a (id bigint);\nINSERT INTO a VALUES (1);\nSELECT 1;\n");
  auto edited = Migrate({"--execute"});
  ExpectFailedWithOneErrorLine(edited);
  EXPECT_THAT(edited.err, HasSubstr("statement 1 (line 1: CREATE TABLE a (id bigint)) changed since it was applied"));

  // The unapplied part fixed: resumes after the two applied statements
  // (CREATE TABLE a would fail if it ran again).
  Write("V1__a.sql", head + "SELECT 1;\nCREATE TABLE b (id int);\n");
  auto fixed = Migrate({"--execute"});
  ASSERT_EQ(fixed.exit_code, 0) << fixed.Describe();
  EXPECT_THAT(fixed.err, HasSubstr("resuming after 2 of 4 statements"));
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM a"), "1");
  EXPECT_EQ(QueryValue(db(), "SELECT state || ' ' || statements_applied FROM shadowcopy.migrations"), "applied 4");
  EXPECT_EQ(States(0), (std::map<std::string, std::string>{{"1", "applied"}}));
}

TEST_F(MigrateTest, KillMidFileThenRerunFinishes) {
  // The sleep lasts only while `k` is empty; the test fills it before the rerun.
  Write("V1__k.sql",
        "CREATE TABLE k (id int);\n"
        "SELECT pg_sleep(CASE WHEN (SELECT count(*) FROM k) = 0 THEN 60 ELSE 0 END);\n"
        "CREATE TABLE k2 (id int);\n"
        "-- shadowcopy: verify\n"
        "SELECT to_regclass('k2') IS NOT NULL;\n");
  auto p = ShadowcopyProcess::Start(Args({"--execute"}));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->WaitForStderr("[2/3] line 2 as-is", 10s)) << (*p)->StderrSoFar();
  (*p)->Signal(SIGKILL);
  (*p)->Wait(10s);
  EXPECT_EQ(QueryValue(db(), "SELECT state || ' ' || statements_applied FROM shadowcopy.migrations"), "running 1");
  MustExec(db(), "INSERT INTO k VALUES (1)");
  ASSERT_TRUE(PollUntilTrue(db(), "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name LIKE "
                                  "'shadowcopy migrate %' AND state = 'idle' "
                                  "AND datname = current_database())", 10s));
  auto r = Migrate({"--execute"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("resuming after 1 of 3 statements"));
  EXPECT_EQ(QueryValue(db(), "SELECT state || ' ' || statements_applied FROM shadowcopy.migrations"), "applied 3");
  // The killed run's session, if still sleeping in its statement, was ended.
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(CASE%' "
                             "AND datname = current_database()"), "0");
}

TEST_F(MigrateTest, AsIsStatementRetriesALockWithoutQueueingReaders) {
  MustExec(db(), "CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
  Write("V1__t.sql", "-- shadowcopy: lock_timeout=200ms\nALTER TABLE t ADD COLUMN c int;\n");
  auto holder = Connect();
  MustExec(*holder, "BEGIN; SELECT count(*) FROM t");  // ACCESS SHARE, held
  auto p = ShadowcopyProcess::Start(Args({"--execute", "--lock-retries", "30"}));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->WaitForStderr("retrying in", 10s)) << (*p)->StderrSoFar();
  // A reader queues behind the waiting ALTER for at most its lock_timeout.
  auto reader = Connect({{"statement_timeout", "1500ms"}});
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(reader->Exec("SELECT count(*) FROM t").ok());
  MustExec(*holder, "COMMIT");
  auto r = (*p)->Wait(60s);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c'"),
            "1");
}

TEST_F(MigrateTest, ConcurrentIndexReplacesAnInvalidLeftover) {
  MustExec(db(), "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (1)");
  // A failed CREATE UNIQUE INDEX CONCURRENTLY leaves an INVALID index.
  EXPECT_FALSE(db().Exec("CREATE UNIQUE INDEX CONCURRENTLY t_id_idx ON t (id)").ok());
  ASSERT_EQ(QueryValue(db(), "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id_idx'::regclass"), "f");
  Write("V1__idx.sql", "CREATE INDEX CONCURRENTLY t_id_idx ON t (id);\n");
  auto r = Migrate({"--execute"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("dropping the INVALID index \"t_id_idx\""));
  EXPECT_EQ(QueryValue(db(), "SELECT indisvalid AND NOT indisunique FROM pg_index "
                             "WHERE indexrelid = 't_id_idx'::regclass"),
            "t");
}

TEST_F(MigrateTest, EndsTheStatementSessionOfAKilledRunner) {
  MustExec(db(), "CREATE TABLE t (id int)");
  Write("V1__t.sql", "-- shadowcopy: lock_timeout=100ms\nALTER TABLE t ADD COLUMN c int;\n");
  // What a killed runner leaves when its statement outlives it: a session
  // of that name inside a transaction holding a lock.
  auto orphan = Connect();
  MustExec(*orphan, "SET application_name = 'shadowcopy migrate statements'");
  MustExec(*orphan, "BEGIN; LOCK TABLE t IN ACCESS SHARE MODE");
  auto r = Migrate({"--execute", "--lock-retries", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("ended session " + std::to_string(orphan->BackendPid()) + " of an earlier, killed runner"));
}

TEST_F(MigrateTest, BaselineAndBadInput) {
  Write("V1__a.sql", "CREATE TABLE a (id int);\n");
  Write("V2__b.sql", "CREATE TABLE b (id int);\n");
  Write("V3__c.sql", "CREATE TABLE c (id int);\n");
  auto b = Migrate({"baseline", "--version", "2"});
  ASSERT_EQ(b.exit_code, 0) << b.Describe();
  EXPECT_EQ(States(0), (std::map<std::string, std::string>{{"1", "applied"}, {"2", "applied"}, {"3", "pending"}}));
  auto r = Migrate({"--execute"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(QueryValue(db(), "SELECT to_regclass('a') IS NULL AND to_regclass('c') IS NOT NULL"), "t");

  Write("V4__d.sql", "CREATE TABLE d (id int);\n");
  Write("4_dup.up.sql", "CREATE TABLE dup (id int);\n");
  Write("U9__x.sql", "SELECT 1;\n");
  auto dup = Migrate({"--execute"});
  EXPECT_EQ(dup.exit_code, 2) << dup.Describe();
  EXPECT_EQ(LinesStartingWith(dup.err, "shadowcopy: error:").size(), 1u) << dup.Describe();
  EXPECT_THAT(dup.err, HasSubstr("same version 4"));
  EXPECT_THAT(dup.err, HasSubstr("U9__x.sql undoes version 9"));
  EXPECT_EQ(QueryValue(db(), "SELECT to_regclass('d') IS NULL"), "t");
  auto missing = RunShadowcopy({"migrate", "--dir", dir_ + "/nope", "--dsn", dsn()});
  EXPECT_EQ(missing.exit_code, 2) << missing.Describe();
  EXPECT_THAT(missing.err, HasSubstr("no such directory"));
}

}  // namespace
}  // namespace shadowcopy::it
