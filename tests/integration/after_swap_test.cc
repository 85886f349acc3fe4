// A run killed (SIGKILL) right after its swap committed, before the work that
// follows the commit: the foreign keys re-created NOT VALID are not validated
// yet, the serial sequence is still owned by the old table, and the slot and
// publication (named after the original's oid, which is the old table's now)
// retain WAL. Each way out — `cleanup --table`, `cleanup --all`, `--resume` —
// must finish that work and mark the run finished; afterwards nothing of the
// run is left and the data is the transformed truth. Also: a second run of
// the table while the first one's old table is kept, and the summary of a
// run finished by --resume.
#include <signal.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/quote.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kAlter[] = "ALTER COLUMN id TYPE bigint";

// The foreign keys from and to orders.
constexpr char kFkQuery[] =
    "SELECT count(*) || ' ' || coalesce(bool_and(convalidated), false) FROM pg_constraint "
    "WHERE contype = 'f' AND (conrelid = 'orders'::regclass OR confrelid = 'orders'::regclass)";

class AfterSwapTest : public DatabaseTest {
 protected:
  // Holds nextval (an xid) for seconds: see exclusive_server_.
  AfterSwapTest() { exclusive_server_ = CurrentTestIsOneOf({"KillBetweenPostSwapStatementsRunsEachOnce"}); }

  // orders (serial key) with an outgoing foreign key to customers and an
  // incoming one from order_lines (cascading, so the workload's deletes and
  // key updates go through), under the mirror workload.
  void SetUpTables() {
    ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 500).ok());
    MustExec(db(),
             "CREATE TABLE customers (id int PRIMARY KEY);"
             "INSERT INTO customers SELECT generate_series(0, 999);"
             "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) "
             "  REFERENCES customers (id);"
             "CREATE TABLE order_lines (line_id serial PRIMARY KEY, order_id int NOT NULL "
             "  CONSTRAINT order_lines_order_fk REFERENCES orders (id) ON UPDATE CASCADE ON DELETE CASCADE);"
             "INSERT INTO order_lines (order_id) SELECT g FROM generate_series(1, 400) g;");
    oid_ = TableOid("orders");
  }

  std::vector<std::string> MigrateArgs(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"--alter", kAlter, "--execute", "--socket", "none"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ToolArgs("orders", args);
  }

  // Runs the migration to the pause right after the swap's commit and kills
  // it there.
  void KillAfterSwap() {
    PausePoint pause;
    auto tool = ShadowcopyProcess::Start(MigrateArgs(), pause.Env("after-swap:1"));
    ASSERT_TRUE(tool.ok()) << tool.status();
    ASSERT_TRUE(pause.WaitPaused(seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
    (*tool)->Signal(SIGKILL);
    ProcessResult killed = (*tool)->Wait(seconds(30));
    ASSERT_EQ(killed.term_signal, SIGKILL) << killed.Describe();
    // The dead tool's sessions (walsender, advisory lock) go away.
    ASSERT_TRUE(PollUntilTrue(db(),
                              "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = "
                              "current_database() AND application_name LIKE 'shadowcopy%') AND NOT EXISTS "
                              "(SELECT 1 FROM pg_replication_slots WHERE active AND slot_name = '" +
                                  Slot() + "')",
                              seconds(10)));
    // What the kill left: the swap committed, the work after it did not run.
    ASSERT_NE(TableOid("orders"), oid_) << "the swap had not committed";
    ASSERT_EQ(TableOid(OldTableOf("orders")), oid_);
    EXPECT_EQ(SlotCount(), "1");
    EXPECT_EQ(QueryValue(db(), kFkQuery), "2 false");
    EXPECT_EQ(QueryValue(db(), "SELECT pg_get_serial_sequence('orders', 'id')"), "");
    EXPECT_EQ(QueryValue(db(), "SELECT phase FROM shadowcopy.runs WHERE finished_at IS NULL"), "swapped");
  }

  std::string Slot() const { return "shadowcopy_" + oid_; }
  std::string SlotCount() {
    return QueryValue(db(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + Slot() + "'");
  }

  // The post-swap work is done, the run finished with `outcome`, nothing is
  // left, --resume finds nothing to do, and the data is the transformed truth.
  void ExpectFinished(const std::string& outcome) {
    ExpectNothingLeftBehind("orders");
    EXPECT_EQ(QueryValue(db(), kFkQuery), "2 true") << "the foreign keys were not validated";
    EXPECT_EQ(QueryValue(db(), "SELECT pg_get_serial_sequence('orders', 'id')"), "public.orders_id_seq")
        << "the serial sequence is still owned by the old table";
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM shadowcopy.runs WHERE finished_at IS NULL"), "0");
    EXPECT_EQ(QueryValue(db(), "SELECT outcome FROM shadowcopy.runs ORDER BY started_at DESC LIMIT 1"), outcome);
    EXPECT_EQ(QueryValue(db(), "SELECT after_swap::text FROM shadowcopy.runs ORDER BY started_at DESC LIMIT 1"),
              "{}");
    ProcessResult nothing = RunShadowcopy(MigrateArgs({"--resume"}));
    ExpectFailedWithOneErrorLine(nothing);
    EXPECT_NE(nothing.err.find("no unfinished run"), std::string::npos) << nothing.Describe();
    ExpectDataIntact();
  }

  void ExpectDataIntact() {
    ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
    ExpectMirrorEqual(db(), "orders", "truth");
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM order_lines l WHERE NOT EXISTS "
                               "(SELECT 1 FROM orders o WHERE o.id = l.order_id)"),
              "0");
    // The sequence survives the old table, and the new table's default uses it.
    MustExec(db(), "DROP TABLE " + QuoteIdent(OldTableOf("orders")));
    MustExec(db(), "INSERT INTO orders (customer_id, status, amount) VALUES (1, 'after', 1.00)");
  }

  std::string oid_;
};

void StopSoon(MirrorWorkload& workload) {
  std::this_thread::sleep_for(milliseconds(300));
  workload.Stop();
  ExpectNoWorkloadErrors(workload);
}

// (i) cleanup --table: the dry run lists slot, publication and the post-swap
// work and changes nothing; --execute does it all.
TEST_F(AfterSwapTest, CleanupTableFinishesTheKilledRun) {
  SetUpTables();
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  KillAfterSwap();

  // A new run refuses, pointing at what finishes the killed one.
  ProcessResult refused = RunShadowcopy(MigrateArgs());
  ExpectFailedWithOneErrorLine(refused);
  EXPECT_NE(refused.err.find("after its swap committed"), std::string::npos) << refused.Describe();
  EXPECT_NE(refused.err.find("shadowcopy cleanup --schema public --table orders --execute"), std::string::npos)
      << refused.Describe();

  ProcessResult dry = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn()});
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  for (const std::string& line :
       {"would remove replication slot " + Slot(), "would remove publication \"" + Slot() + "\"",
        std::string("VALIDATE CONSTRAINT \"order_lines_order_fk\""),
        std::string("would run post-swap statement ALTER TABLE \"public\".\"orders\" VALIDATE CONSTRAINT "
                    "\"orders_customer_fk\""),
        std::string("would run post-swap statement ALTER SEQUENCE"), std::string("would mark finished state of run")})
    EXPECT_NE(dry.out.find(line), std::string::npos) << "the dry run does not say: " << line << "\n"
                                                     << dry.Describe();
  EXPECT_EQ(SlotCount(), "1") << "the dry run changed something";
  EXPECT_EQ(QueryValue(db(), kFkQuery), "2 false") << "the dry run changed something";

  ProcessResult done = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn(), "--execute"});
  EXPECT_EQ(done.exit_code, 0) << done.Describe();
  EXPECT_NE(done.out.find("ran post-swap statement"), std::string::npos) << done.Describe();
  StopSoon(workload);
  ExpectFinished("success (finished by cleanup)");
}

// (ii) cleanup --all --execute finds the run by its slot and finishes it.
TEST_F(AfterSwapTest, CleanupAllFinishesTheKilledRun) {
  SetUpTables();
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  KillAfterSwap();

  ProcessResult dry = RunShadowcopy({"cleanup", "--all", "--dsn", dsn()});
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_NE(dry.out.find("would run post-swap statement"), std::string::npos) << dry.Describe();
  ProcessResult done = RunShadowcopy({"cleanup", "--all", "--dsn", dsn(), "--execute"});
  EXPECT_EQ(done.exit_code, 0) << done.Describe();
  StopSoon(workload);
  ExpectFinished("success (finished by cleanup)");
}

// The run's advisory lock held by a live session keeps cleanup away; held
// by a session that ends while cleanup asks (a run just refused or killed,
// whose backend has not yet noticed), cleanup waits for it and goes on.
TEST_F(AfterSwapTest, CleanupWaitsForAJustEndedSessionsRunLock) {
  SetUpTables();
  KillAfterSwap();
  std::unique_ptr<PgConn> holder = Connect();
  for (const std::string& oid : {oid_, TableOid("orders")})
    MustExec(*holder, fmt::format("SELECT pg_advisory_lock(({}::bigint << 40) | {})", 0x5C, oid));

  ProcessResult refused = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn(), "--execute"});
  ExpectFailedWithOneErrorLine(refused);
  EXPECT_NE(refused.err.find("is still active"), std::string::npos) << refused.Describe();
  EXPECT_EQ(SlotCount(), "1") << "cleanup went on beside a live run";

  std::thread release([&] {
    std::this_thread::sleep_for(milliseconds(1000));
    holder.reset();
  });
  ProcessResult done = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn(), "--execute"});
  release.join();
  EXPECT_EQ(done.exit_code, 0) << done.Describe();
  EXPECT_NE(done.out.find("ran post-swap statement"), std::string::npos) << done.Describe();
  ExpectNothingLeftBehind("orders");
}

// (iii) --resume --execute (same --alter) finishes it too, and its summary
// says what this run did rather than claiming --verify=off.
TEST_F(AfterSwapTest, ResumeFinishesTheKilledRun) {
  SetUpTables();
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  KillAfterSwap();

  // The dry run says what --resume would finish, and changes nothing.
  ProcessResult dry = RunShadowcopy(ToolArgs("orders", {"--alter", kAlter, "--resume"}));
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  for (const std::string& line : {std::string("its swap committed"), "will remove: replication slot " + Slot(),
                                  std::string("VALIDATE CONSTRAINT \"orders_customer_fk\""),
                                  std::string("OWNED BY \"public\".\"orders\".\"id\"")})
    EXPECT_NE(dry.out.find(line), std::string::npos) << "the dry run does not say: " << line << "\n"
                                                     << dry.Describe();
  EXPECT_EQ(SlotCount(), "1") << "the dry run changed something";
  EXPECT_EQ(QueryValue(db(), kFkQuery), "2 false") << "the dry run changed something";

  ProcessResult resumed = RunShadowcopy(MigrateArgs({"--resume"}));
  ExpectSucceeded(resumed);
  EXPECT_NE(resumed.out.find("finished by --resume"), std::string::npos) << resumed.Describe();
  EXPECT_EQ(resumed.out.find("--verify=off"), std::string::npos)
      << "the summary claims --verify=off, which was not given\n" << resumed.Describe();
  EXPECT_NE(resumed.out.find("verified:           not by this run"), std::string::npos) << resumed.Describe();
  EXPECT_NE(resumed.out.find("\"resumed_after_swap\":true"), std::string::npos) << resumed.Describe();
  StopSoon(workload);
  ExpectFinished("success (finished by --resume)");
}

// Each post-swap statement runs exactly once: killed while the second of an
// identity sequence's two renames waits for an application's lock, --resume
// must not run the first again (its name is gone: the resume would fail, or
// rename the wrong sequence) and finishes with the second.
TEST_F(AfterSwapTest, KillBetweenPostSwapStatementsRunsEachOnce) {
  MustExec(db(),
           "CREATE TABLE items (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text NOT NULL);"
           "INSERT INTO items (v) SELECT 'v' || g FROM generate_series(1, 3000) g;"
           "CREATE TABLE items_truth AS SELECT * FROM items;");
  std::vector<std::string> args = ToolArgs("items", {"--execute", "--socket", "none"});
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(args, pause.Env("after-swap:1"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(120))) << (*tool)->Wait(seconds(5)).Describe();
  // The new table's identity sequence, still under the shadow's name.
  std::string seq = QueryValue(db(), "SELECT pg_get_serial_sequence('items', 'id')::regclass::oid");
  auto app = Connect();
  ASSERT_NE(app, nullptr);
  MustExec(*app, "BEGIN; SELECT nextval(" + seq + "::regclass)");
  pause.Continue();
  std::string waiting_sql = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = " + seq + " AND NOT granted)";
  ASSERT_TRUE(PollUntilTrue(db(), waiting_sql, seconds(20))) << "the rename never waited";
  ASSERT_EQ(QueryValue(db(), "SELECT to_regclass('_items_id_seq" + OldSuffixOf("items") + "') IS NOT NULL"), "t")
      << "the first rename had not run";
  (*tool)->Signal(SIGKILL);
  ASSERT_EQ((*tool)->Wait(seconds(30)).term_signal, SIGKILL);
  // The dead tool's statement ends at its lock timeout; then the application commits.
  EXPECT_TRUE(PollUntilTrue(db(), "SELECT NOT (" + waiting_sql.substr(7) + ")", seconds(10)));
  MustExec(*app, "COMMIT");
  ASSERT_TRUE(PollUntilTrue(db(),
                            "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                            "AND application_name LIKE 'shadowcopy%')",
                            seconds(10)));

  args.push_back("--resume");
  ProcessResult resumed = RunShadowcopy(args);
  ExpectSucceeded(resumed);
  EXPECT_EQ(QueryValue(db(), "SELECT pg_get_serial_sequence('items', 'id')"), "public.items_id_seq");
  EXPECT_EQ(QueryValue(db(), "SELECT pg_get_serial_sequence('" + OldTableOf("items") + "', 'id')"),
            "public._items_id_seq" + OldSuffixOf("items"));
  ExpectNothingLeftBehind("items");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM shadowcopy.runs WHERE finished_at IS NULL"), "0");
  ExpectMirrorEqual(db(), "items", "items_truth");
  MustExec(db(), "INSERT INTO items (v) VALUES ('after')");
}

// A second run of the table while the first run's old table is kept: it
// goes through (no refusal, nothing to drop first), its own old table gets a
// name of its own, and the first one's is untouched (same relation, same
// contents).
TEST_F(AfterSwapTest, SecondRunKeepsTheFirstRunsOldTable) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 500).ok());
  const std::string original = TableOid("orders");
  ExpectSucceeded(RunShadowcopy(MigrateArgs()));
  const std::string first_old = OldTableOf("orders");
  ASSERT_EQ(TableOid(first_old), original);
  MustExec(db(), "CREATE TABLE first_old_copy AS SELECT * FROM " + QuoteIdent(first_old));
  const std::string indexes_sql =
      "SELECT string_agg(indexrelid::regclass::text, ',' ORDER BY indexrelid) FROM pg_index WHERE indrelid = " +
      QuoteLiteral(QuoteIdent(first_old)) + "::regclass";
  const std::string first_old_indexes = QueryValue(db(), indexes_sql);
  MustExec(db(), "UPDATE orders SET status = 'between runs' WHERE id % 7 = 0;"
                 "UPDATE truth SET status = 'between runs' WHERE id % 7 = 0");

  ProcessResult second = RunShadowcopy(MigrateArgs());
  ExpectSucceeded(second);
  const std::string second_old = OldTableOf("orders");
  EXPECT_NE(second_old, first_old);
  EXPECT_TRUE(TableExists(second_old));
  EXPECT_NE(second.out.find(second_old), std::string::npos) << "the summary names the old table\n"
                                                            << second.Describe();
  EXPECT_EQ(TableOid(first_old), original) << "the first run's old table was replaced";
  ExpectMirrorEqual(db(), first_old, "first_old_copy");
  EXPECT_EQ(QueryValue(db(), indexes_sql), first_old_indexes);
  ExpectNothingLeftBehind("orders");
  ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectMirrorEqual(db(), second_old, "truth");
}

}  // namespace
}  // namespace shadowcopy::it
