// Input that must not hurt: the dry run behind an application's row lock
// takes nothing stronger than ACCESS SHARE on the table (no reader or writer
// ever waits for it); the user's own server settings in --dsn options (and
// PGOPTIONS) reach every session of a migration and of a backfill; a backfill
// --set that assigns a key column, however spelled, is refused with one error
// line and nothing changed; two runs creating the state schema at once.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class HostileInputTest : public DatabaseTest {
 protected:
  // Holds a row lock (an xid) for the whole dry run: see exclusive_server_.
  HostileInputTest() { exclusive_server_ = CurrentTestIsOneOf({"DryRunBehindARowLockBlocksNobody"}); }

  // t(id int primary key, note text), ids 1..2000.
  void CreateTable() {
    MustExec(db(),
             "CREATE TABLE t (id int PRIMARY KEY, note text); "
             "INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 2000) g; ANALYZE t");
  }
  std::string Contents() { return QueryValue(db(), "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t"); }
};

TEST_F(HostileInputTest, DryRunBehindARowLockBlocksNobody) {
  CreateTable();
  // An application transaction holds a row lock for the whole dry run.
  auto holder = Connect();
  MustExec(*holder, "BEGIN; SELECT * FROM t WHERE id = 1 FOR UPDATE");
  std::atomic<bool> stop{false};
  std::atomic<int> statements{0}, timeouts{0}, strong_locks{0};
  std::string first_error;
  std::thread app([&] {
    auto conn = Connect();
    MustExec(*conn, "SET lock_timeout = '300ms'");
    for (int n = 0; !stop; ++n) {
      auto r = conn->Exec(n % 2 ? "SELECT count(*) FROM t" : "UPDATE t SET note = note WHERE id = 2");
      if (!r.ok()) {
        if (timeouts++ == 0) first_error = std::string(r.status().message());
      } else {
        ++statements;
      }
      // Any lock of the tool on t, granted or awaited, beyond ACCESS SHARE.
      auto locks = conn->Exec(
          "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
          "WHERE l.relation = 't'::regclass AND a.application_name LIKE 'shadowcopy%' "
          "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
          "AND l.mode <> 'AccessShareLock'");
      if (locks.ok()) strong_locks += static_cast<int>(locks->GetInt(0, 0));
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  ProcessResult r = RunShadowcopy(ToolArgs("t", {"--alter", "ALTER COLUMN id TYPE bigint"}), {}, nullptr, seconds(60));
  stop = true;
  app.join();
  MustExec(*holder, "ROLLBACK");
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.out.find("built but not rehearsed under the table's lock"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ALTER TABLE"), std::string::npos) << "the swap statements are printed\n" << r.out;
  EXPECT_EQ(timeouts.load(), 0) << "the application waited behind the dry run: " << first_error;
  EXPECT_EQ(strong_locks.load(), 0) << "the dry run took or requested a lock stronger than ACCESS SHARE on t";
  EXPECT_GT(statements.load(), 0);
  ExpectNothingLeftBehind("t");
}

// The copy's and the replay's sessions carry the user's options: a column
// added by the ALTER gets its default, evaluated by whichever session writes
// the row, from a setting only the dsn's options make. (The main and the
// replication sessions connect the same way; the run needs them to accept
// the options too.)
TEST_F(HostileInputTest, DsnOptionsReachTheMigrationsSessions) {
  CreateTable();
  PausePoint pause;
  std::string dsn_with_options = dsn() + " options='-c myapp.tag=hello'";
  auto tool = ShadowcopyProcess::Start(
      {"--table", "t", "--dsn", dsn_with_options, "--alter",
       "ADD COLUMN tag text DEFAULT current_setting('myapp.tag', true)", "--chunk-size", "500", "--execute"},
      pause.Env("before-batch:2"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  // Written during the copy: replayed (or copied) into the new table.
  MustExec(db(), "INSERT INTO t SELECT g, 'late' FROM generate_series(3001, 3010) g; "
                 "UPDATE t SET note = 'changed' WHERE id IN (1, 1999)");
  pause.Continue();
  ProcessResult r = (*tool)->Wait(seconds(120));
  ExpectSucceeded(r);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM t"), "2010");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM t WHERE tag IS DISTINCT FROM 'hello'"), "0")
      << QueryValue(db(), "SELECT string_agg(DISTINCT coalesce(tag, 'NULL'), ',') FROM t");
  ExpectNothingLeftBehind("t");
}

// A setting the tool does not know reaches the backfill's session (from the
// dsn's options, which win over PGOPTIONS as in libpq), and the tool's own
// settings still win (the date style, also its field order; the default
// isolation level).
// A client encoding of the user's must not reach the tool's sessions: a
// LATIN1 replication stream cannot carry a replayed row's Japanese text (the
// run stopped), and sessions in different encodings would convert twice.
TEST_F(HostileInputTest, UserClientEncodingDoesNotReachTheReplay) {
  CreateTable();
  PausePoint pause;
  EnvVars env = pause.Env("before-batch:2");
  env["PGCLIENTENCODING"] = "LATIN1";
  auto tool = ShadowcopyProcess::Start(
      {"--table", "t", "--dsn", dsn() + " client_encoding=LATIN1", "--chunk-size", "500", "--execute"}, env);
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(db(), "INSERT INTO t SELECT g, 'caf\u00e9 \u65e5\u672c' FROM generate_series(3001, 3010) g; "
                 "UPDATE t SET note = 'na\u00efve' WHERE id IN (1, 1999)");
  pause.Continue();
  ProcessResult r = (*tool)->Wait(seconds(120));
  ExpectSucceeded(r);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM t WHERE note = U&'caf\\00e9 \\65e5\\672c'"), "10");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM t WHERE note = U&'na\\00efve'"), "2");
  ExpectNothingLeftBehind("t");
}

// Runs on two tables starting at once on a database that has no state
// schema yet: both create it, neither may fail on the other's creation.
TEST_F(HostileInputTest, TwoRunsStartingAtOnceBothCreateTheStateSchema) {
  for (int round = 0; round < 3; ++round) {
    MustExec(db(), "DROP SCHEMA IF EXISTS shadowcopy CASCADE; DROP TABLE IF EXISTS a, b; "
                   "DO $$DECLARE t text; BEGIN FOR t IN SELECT quote_ident(relname) FROM pg_class "
                   "WHERE relname ~ '^_[ab]_old_[0-9]{14}$' AND relkind = 'r' LOOP EXECUTE 'DROP TABLE ' || t; "
                   "END LOOP; END$$; "
                   "CREATE TABLE a (id int PRIMARY KEY, note text); CREATE TABLE b (id int PRIMARY KEY, note text); "
                   "INSERT INTO a SELECT g, 'a' FROM generate_series(1, 200) g; "
                   "INSERT INTO b SELECT g, 'b' FROM generate_series(1, 200) g");
    auto one = ShadowcopyProcess::Start({"--table", "a", "--dsn", dsn(), "--socket", "none", "--execute"});
    auto two = ShadowcopyProcess::Start({"--table", "b", "--dsn", dsn(), "--socket", "none", "--execute"});
    ASSERT_TRUE(one.ok()) << one.status();
    ASSERT_TRUE(two.ok()) << two.status();
    ExpectSucceeded((*one)->Wait(seconds(120)));
    ExpectSucceeded((*two)->Wait(seconds(120)));
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM a"), "200");
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM b"), "200");
  }
}

TEST_F(HostileInputTest, DsnOptionsReachTheBackfillAndOverridePgoptions) {
  CreateTable();
  std::string dsn_with_options =
      dsn() + " options='-c myapp.tag=hello -c datestyle=German -c default_transaction_isolation=serializable'";
  ProcessResult r = RunShadowcopy(
      {"backfill", "--table", "t", "--dsn", dsn_with_options, "--set",
       "note = current_setting('myapp.tag') || ' ' || current_setting('datestyle') || ' ' || "
       "current_setting('default_transaction_isolation')",
       "--where", "id <= 100", "--execute"},
      {{"PGOPTIONS", "-c myapp.tag=from_env"}});
  ExpectSucceeded(r);
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(DISTINCT note, ',') FROM t WHERE id <= 100"), "hello ISO, MDY read committed");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM t WHERE id > 100 AND note = 'n' || id"), "1900");
  // Without options in the dsn PGOPTIONS applies, as before.
  r = RunShadowcopy({"backfill", "--table", "t", "--dsn", dsn(), "--set", "note = current_setting('myapp.tag')",
                     "--where", "id <= 10", "--execute"},
                    {{"PGOPTIONS", "-c myapp.tag=from_env"}});
  ExpectSucceeded(r);
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(DISTINCT note, ',') FROM t WHERE id <= 10"), "from_env");
}

TEST_F(HostileInputTest, BackfillSetAssigningTheKeyIsRefused) {
  CreateTable();
  std::string before = Contents();
  for (std::string set : {"id = id + 1", "\"id\" = 5", "(id, note) = (1, 'x')", "note = 'a', ID = -id",
                          "U&\"\\0069d\" = 7", "(note, \"id\") = (SELECT 'x', 3)"}) {
    for (bool execute : {false, true}) {
      std::vector<std::string> args = {"backfill", "--table", "t", "--dsn", dsn(), "--set", set, "--where", "true"};
      if (execute) args.push_back("--execute");
      ProcessResult r = RunShadowcopy(args);
      ExpectFailedWithOneErrorLine(r);
      EXPECT_NE(r.err.find("--set assigns a key column"), std::string::npos) << set << "\n" << r.Describe();
    }
  }
  EXPECT_EQ(Contents(), before) << "a refused backfill changed the table";
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'shadowcopy'"), "0")
      << "a refused backfill left a state table behind";

  // Commas and key names inside strings and parentheses are not targets.
  ProcessResult r = RunShadowcopy({"backfill", "--table", "t", "--dsn", dsn(), "--set",
                                   "note = 'id = 1, (id) = (2)' || coalesce(t.note, '') || (SELECT max(id) FROM t)",
                                   "--where", "id % 2 = 0", "--execute"});
  ExpectSucceeded(r);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM t WHERE note = 'id = 1, (id) = (2)n' || id || '2000'"), "1000");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM t WHERE note = 'n' || id"), "1000");
}

}  // namespace
}  // namespace shadowcopy::it
