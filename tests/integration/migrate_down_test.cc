// `shadowcopy migrate down` and `migrate ci` against a real server: apply
// then down under the mirror workload (schema as before, rows exact, status
// pending again, the undo in the events table, applied again after);
// a missing undo file refused with nothing changed; a failing undo file
// left `undoing`, forward runs refused, then resumed after the fix; a
// history table from before undo files upgraded on first use; `ci`
// passing on a good directory (empty and on the target's schema and
// history, the target untouched) and failing, with the schema diff naming
// the index and the version, on a down file that forgets an index.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/migrate_fixture.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

// Tables, columns, indexes and constraints of the public schema, one line each.
constexpr const char* kSchemaQuery =
    "SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') FROM ("
    "  SELECT format('column %s.%s %s %s', table_name, column_name, data_type, is_nullable) AS x "
    "  FROM information_schema.columns WHERE table_schema = 'public' "
    "  UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' "
    "  UNION ALL SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint "
    "    WHERE connamespace = 'public'::regnamespace "
    "  UNION ALL SELECT 'sequence ' || sequencename FROM pg_sequences WHERE schemaname = 'public') s";

class MigrateDownTest : public MigrateDirTest {
 protected:
  std::string Schema() { return QueryValue(db(), kSchemaQuery); }

  // True when `pid` is alive and this process is among its ancestors.
  static bool DescendsFromUs(pid_t pid) {
    for (int hops = 0; pid > 1 && hops < 64; ++hops) {
      if (pid == getpid()) return true;
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string line;
      if (!std::getline(stat, line)) return false;
      auto paren = line.rfind(')');
      if (paren == std::string::npos) return false;
      std::istringstream rest(line.substr(paren + 2));
      std::string state;
      pid_t parent = 0;
      rest >> state >> parent;
      pid = parent;
    }
    return false;
  }

  // No rehearsal directory or server of ours left behind.
  void ExpectNoRehearsalLeft() {
    std::error_code ec;
    std::string mine = "shadowcopy-rehearsal-";
    for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
      std::string name = e.path().filename().string();
      if (name.rfind(mine, 0) != 0) continue;
      long pid = std::strtol(name.c_str() + mine.size(), nullptr, 10);
      // Tests running beside this one rehearse too: only a process this
      // test started (a descendant of ours) counts.
      if (!DescendsFromUs(static_cast<pid_t>(pid))) continue;
      EXPECT_NE(kill(static_cast<pid_t>(pid), 0), 0) << "a live rehearsal directory: " << name;
    }
  }

  // Index and column on orders, in two migrations, each with its undo.
  void WriteGoodDirectory() {
    Write("V1__status_index.sql", "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n");
    Write("U1__status_index.sql", "DROP INDEX CONCURRENTLY orders_status_idx;\n");
    Write("V2__flag_and_audit.sql",
          "ALTER TABLE orders ADD COLUMN flag int;\n"
          "CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, order_id bigint NOT NULL, "
          "at timestamptz NOT NULL DEFAULT now());\n"
          "ALTER TABLE audit ADD CONSTRAINT audit_order_positive CHECK (order_id > 0);\n");
    Write("U2__flag_and_audit.sql", "DROP TABLE audit;\nALTER TABLE orders DROP COLUMN flag;\n");
  }

};

TEST_F(MigrateDownTest, DownUnderWritersRestoresSchemaAndStatusIsPendingAgain) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 1000).ok());
  WriteGoodDirectory();
  std::string before = Schema();
  auto up = Migrate({"--execute"});
  ASSERT_EQ(up.exit_code, 0) << up.Describe();
  ASSERT_NE(Schema(), before);

  auto dry = Migrate({"down", "--to", "0"});
  ASSERT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_THAT(dry.out, HasSubstr("dry run: 2 migrations to undo, newest first"));
  EXPECT_THAT(dry.out, HasSubstr("(U2__flag_and_audit.sql): 2 statements"));
  EXPECT_THAT(dry.out, HasSubstr("concurrent-index  DROP INDEX CONCURRENTLY orders_status_idx"));
  EXPECT_LT(dry.out.find("U2__"), dry.out.find("U1__"));
  auto latest = Migrate({"down"});
  EXPECT_THAT(latest.out, HasSubstr("dry run: 1 migration to undo"));
  EXPECT_THAT(latest.out, Not(HasSubstr("U1__")));
  EXPECT_EQ(States(), (std::map<std::string, std::string>{{"1", "applied"}, {"2", "applied"}})) << "dry run changed it";

  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ASSERT_TRUE(workload.Start().ok());
  std::this_thread::sleep_for(200ms);
  auto down = Migrate({"down", "--to", "0", "--execute"});
  std::this_thread::sleep_for(200ms);
  workload.Stop();
  ASSERT_EQ(down.exit_code, 0) << down.Describe();
  EXPECT_THAT(down.out, HasSubstr("undone 2 migrations: versions 2 down to 1 (pending again)"));
  ExpectNoWorkloadErrors(workload);
  ExpectMirrorEqual(db(), "orders", "truth");
  EXPECT_EQ(Schema(), before);
  EXPECT_EQ(States(), (std::map<std::string, std::string>{{"1", "pending"}, {"2", "pending"}}));
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(version || ':' || event || ':' || undo_file, ',' ORDER BY id) "
                             "FROM shadowcopy.migration_events"),
            "2:undone:U2__flag_and_audit.sql,1:undone:U1__status_index.sql");
  auto nothing = Migrate({"down", "--execute"});
  EXPECT_EQ(nothing.exit_code, 0) << nothing.Describe();
  EXPECT_THAT(nothing.out, HasSubstr("nothing to undo"));

  auto again = Migrate({"--execute"});
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_THAT(again.out, HasSubstr("applied 2 migrations"));
  EXPECT_EQ(States(), (std::map<std::string, std::string>{{"1", "applied"}, {"2", "applied"}}));
}

TEST_F(MigrateDownTest, MissingUndoFileIsRefusedAndNothingChanges) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 100).ok());
  Write("V1__a.sql", "CREATE TABLE a (id int);\n");
  Write("U1__a.sql", "DROP TABLE a;\n");
  Write("V2__b.sql", "CREATE TABLE b (id int);\n");
  Write("V3__c.sql", "CREATE TABLE c (id int);\n");
  Write("U3__c.sql", "DROP TABLE c;\n");
  ASSERT_EQ(Migrate({"--execute"}).exit_code, 0);
  std::string applied = Schema();
  auto r = Migrate({"down", "--to", "0", "--execute"});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  ExpectFailedWithOneErrorLine(r);
  EXPECT_THAT(r.err, HasSubstr("version 2 (V2__b.sql) has no undo file"));
  EXPECT_THAT(r.err, HasSubstr("nothing was run"));
  EXPECT_EQ(Schema(), applied);
  EXPECT_EQ(States(), (std::map<std::string, std::string>{{"1", "applied"}, {"2", "applied"}, {"3", "applied"}}));
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM shadowcopy.migration_events"), "0");
}

TEST_F(MigrateDownTest, FailedUndoStaysUndoingThenResumesAfterTheFix) {
  Write("V1__a.sql", "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n");
  Write("U1__a.sql", "DROP TABLE b;\nDROP TABLE nope;\nDROP TABLE a;\n");
  ASSERT_EQ(Migrate({"--execute"}).exit_code, 0);
  auto failed = Migrate({"down", "--execute"});
  EXPECT_EQ(failed.exit_code, 1) << failed.Describe();
  EXPECT_THAT(failed.err, HasSubstr("U1__a.sql at line 2"));
  EXPECT_EQ(States(), (std::map<std::string, std::string>{{"1", "undoing"}}));
  EXPECT_EQ(QueryValue(db(), "SELECT to_regclass('b') IS NULL AND to_regclass('a') IS NOT NULL"), "t");
  auto forward = Migrate({"--execute"});
  EXPECT_EQ(forward.exit_code, 1) << forward.Describe();
  EXPECT_THAT(forward.err, HasSubstr("finish it with `migrate down`"));
  Write("U1__a.sql", "DROP TABLE b;\nDROP TABLE IF EXISTS nope;\nDROP TABLE a;\n");
  auto resumed = Migrate({"down", "--execute"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.Describe();
  EXPECT_THAT(resumed.err, HasSubstr("resuming after 1 of 3 statements"));
  EXPECT_EQ(QueryValue(db(), "SELECT to_regclass('a') IS NULL"), "t");
  EXPECT_EQ(States(), (std::map<std::string, std::string>{{"1", "pending"}}));
}

TEST_F(MigrateDownTest, HistoryFromBeforeUndoFilesIsUpgradedOnFirstDown) {
  Write("V1__a.sql", "CREATE TABLE a (id int);\n");
  Write("U1__a.sql", "DROP TABLE a;\n");
  ASSERT_EQ(Migrate({"--execute"}).exit_code, 0);
  // The table as the first migrate made it: three states, no undo columns.
  MustExec(db(), "ALTER TABLE shadowcopy.migrations DROP COLUMN undo_file, DROP COLUMN undo_checksum, "
                 "DROP CONSTRAINT migrations_state_check, ADD CONSTRAINT migrations_state_check "
                 "CHECK (state IN ('applied', 'failed', 'running'))");
  MustExec(db(), "DROP TABLE shadowcopy.migration_events");
  auto r = Migrate({"down", "--execute"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("undone 1 migration: version 1 (pending again)"));
  EXPECT_EQ(States(), (std::map<std::string, std::string>{{"1", "pending"}}));
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM shadowcopy.migration_events"), "1");
}

// A good directory passes; on the target's schema and history only its
// pending migrations go round trip, and the target is only read.
TEST_F(MigrateDownTest, CiPassesOnAGoodDirectoryOnTheTargetsSchemaLeavingItUntouched) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 100).ok());
  WriteGoodDirectory();
  Write("3_audit_index.up.sql", "CREATE INDEX CONCURRENTLY audit_at_idx ON audit (at);\n");
  Write("3_audit_index.down.sql", "DROP INDEX CONCURRENTLY audit_at_idx;\n");
  ASSERT_EQ(Migrate({"--execute", "--to", "1"}).exit_code, 0);
  std::string target = Schema();
  auto r = Migrate({"ci"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("migrate ci: passed: 2 migrations applied, undone one at a time and applied again"));
  EXPECT_THAT(r.err, Not(HasSubstr("V1__status_index.sql")));  // applied on the target already
  EXPECT_EQ(Schema(), target);
  EXPECT_EQ(States(), (std::map<std::string, std::string>{{"1", "applied"}, {"2", "pending"}, {"3", "pending"}}));
  ExpectNoRehearsalLeft();
}

TEST_F(MigrateDownTest, CiFailsWithTheSchemaDiffOnADownFileThatForgetsAnIndex) {
  Write("V1__t.sql", "CREATE TABLE t (id int PRIMARY KEY, name text);\n");
  Write("U1__t.sql", "DROP TABLE t;\n");
  Write("V2__note.sql", "ALTER TABLE t ADD COLUMN note text;\nCREATE INDEX t_name_idx ON t (name);\n");
  Write("U2__note.sql", "ALTER TABLE t DROP COLUMN note;\n");
  auto r = MigrateWithoutDsn({"ci", "--empty"});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("migrate ci: FAILED: version 2: U2__note.sql does not restore the schema"));
  EXPECT_THAT(r.out, HasSubstr("--- schema before version 2"));
  EXPECT_THAT(r.out, HasSubstr("+++ schema after undoing version 2 (U2__note.sql)"));
  EXPECT_THAT(r.out, HasSubstr("\n+CREATE INDEX t_name_idx ON public.t USING btree (name);\n"));
  EXPECT_THAT(r.err, HasSubstr("migrate ci failed at version 2"));
  ExpectNoRehearsalLeft();
}

TEST_F(MigrateDownTest, CiExitCodesForBadInputAndAnUnreachableTarget) {
  Write("V1__t.sql", "CREATE TABLE t (id int);\n");
  auto no_undo = MigrateWithoutDsn({"ci", "--empty"});
  EXPECT_EQ(no_undo.exit_code, 1) << no_undo.Describe();
  EXPECT_THAT(no_undo.out, HasSubstr("no undo file for 1 (V1__t.sql)"));
  Write("U1__t.sql", "DROP TABLE t; $$\n");
  auto bad = MigrateWithoutDsn({"ci", "--empty"});
  EXPECT_EQ(bad.exit_code, 2) << bad.Describe();
  auto unreachable = RunShadowcopy({"migrate", "ci", "--dir", dir_, "--dsn", "host=/nonexistent port=1 dbname=x"});
  EXPECT_EQ(unreachable.exit_code, 3) << unreachable.Describe();
}

}  // namespace
}  // namespace shadowcopy::it
