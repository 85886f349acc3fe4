// What the cutover carries over to the new table (DESIGN.md §4): dependent
// views (re-created, so a changed column type shows through), incoming and
// outgoing foreign keys by their names, index names, grants, the table
// comment, and the serial sequence.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

class SwapObjectsTest : public DatabaseTest {
 protected:
  // An application's update (an xid) held across the tool's locked pause:
  // see exclusive_server_.
  SwapObjectsTest() {
    exclusive_server_ = CurrentTestIsOneOf({"ChildTableTransactionAcrossCutoverSeesNoDeadlock",
                                            "ChildTableTransactionAcrossRehearsalSeesNoDeadlock"});
  }

  void SetUp() override {
    DatabaseTest::SetUp();
    if (HasFatalFailure()) return;
    role_ = dbname().substr(0, 40) + "_reader";
    MustExec(db(), "DROP ROLE IF EXISTS " + role_);
    MustExec(db(), "CREATE ROLE " + role_);
  }
  void TearDown() override {
    DatabaseTest::TearDown();  // drops the database and with it the grants
    if (role_.empty()) return;
    ConnectOptions options;
    options.dsn = "dbname=postgres";
    auto admin = PgConn::Connect(options);
    if (admin.ok()) MustExec(**admin, "DROP ROLE IF EXISTS " + role_);
  }

  void CreateForeignKeys() {
    MustExec(db(),
             "CREATE TABLE customers (id int PRIMARY KEY);"
             "INSERT INTO customers SELECT generate_series(0, 999);"
             "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) "
             "  REFERENCES customers (id);"
             "CREATE TABLE order_items (item_id serial PRIMARY KEY, "
             "  order_id int NOT NULL CONSTRAINT order_items_order_fk REFERENCES orders (id));"
             "INSERT INTO order_items (order_id) SELECT id FROM orders WHERE id % 10 = 0;");
  }

  ProcessResult MigrateIdToBigint() {
    return RunShadowcopy(ToolArgs(
        "orders", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute", "--chunk-size", "1000"}));
  }

  // An application transaction holds a lock on a child table and then reads
  // the table while the run holds it at the test pause point `point` (it
  // waits from before the swap statements ask for the child table, which
  // re-pointing the foreign key does): a lock cycle. The run must be the side
  // that gives up (rolls back, retries); the application must see no error.
  void ExpectLockCycleCostsTheApplicationNothing(const std::string& point) {
    using std::chrono::milliseconds;
    using std::chrono::seconds;
    ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
    CreateForeignKeys();
    auto app = Connect();
    ASSERT_NE(app, nullptr);
    PausePoint pause;
    auto tool = ShadowcopyProcess::Start(
        ToolArgs("orders", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute", "--chunk-size", "1000",
                            "--cutover-retries", "50", "--socket", "none"}),
        pause.Env(point));
    ASSERT_TRUE(tool.ok()) << tool.status();
    ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
    MustExec(*app, "BEGIN; UPDATE order_items SET item_id = item_id WHERE item_id = 1");
    absl::Status read;
    std::thread reader([&] { read = app->Exec("SELECT count(*) FROM orders WHERE id = 1").status(); });
    std::this_thread::sleep_for(milliseconds(300));  // the application waits first
    pause.Continue();
    reader.join();
    EXPECT_TRUE(read.ok()) << "the application's read failed: " << read;
    auto committed = app->Exec("COMMIT");
    EXPECT_TRUE(committed.ok()) << "the application's commit failed: " << committed.status();
    ProcessResult r = (*tool)->Wait(seconds(120));
    ExpectSucceeded(r);
    ExpectNothingLeftBehind("orders");
  }

  std::string role_;
};

TEST_F(SwapObjectsTest, DependentViewIsRecreatedOnTheNewTable) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
  MustExec(db(), "CREATE VIEW paid_orders AS SELECT id, status FROM orders WHERE status = 'paid'");
  ProcessResult r = MigrateIdToBigint();
  ExpectSucceeded(r);
  ExpectNothingLeftBehind("orders");
  if (r.exit_code != 0) return;
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM paid_orders"),
            QueryValue(db(), "SELECT count(*) FROM orders WHERE status = 'paid'"));
  EXPECT_EQ(QueryValue(db(),
                       "SELECT count(*) > 0 FROM pg_depend d JOIN pg_rewrite w ON "
                       "d.objid = w.oid WHERE w.ev_class = 'paid_orders'::regclass AND "
                       "d.refobjid = 'orders'::regclass"),
            "t")
      << "the view does not depend on the new orders";
  EXPECT_EQ(QueryValue(db(),
                       "SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = "
                       "'paid_orders'::regclass AND attname = 'id'"),
            "bigint");
}

TEST_F(SwapObjectsTest, ForeignKeysFollow) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
  CreateForeignKeys();
  ProcessResult r = MigrateIdToBigint();
  ExpectSucceeded(r);
  ExpectNothingLeftBehind("orders");
  if (r.exit_code != 0) return;
  // Foreign keys point at / from the new table, by their original names.
  EXPECT_EQ(QueryValue(db(),
                       "SELECT confrelid::regclass FROM pg_constraint WHERE conname = "
                       "'order_items_order_fk'"),
            "orders");
  EXPECT_EQ(QueryValue(db(),
                       "SELECT conrelid::regclass FROM pg_constraint WHERE conname = "
                       "'orders_customer_fk'"),
            "orders");
  EXPECT_FALSE(db().Exec("INSERT INTO order_items (order_id) VALUES (-1)").ok())
      << "the incoming foreign key is not enforced";
  EXPECT_FALSE(
      db().Exec("INSERT INTO orders (customer_id, status, amount) VALUES (-1, 'x', 1)").ok())
      << "the outgoing foreign key is not enforced";
}

TEST_F(SwapObjectsTest, IndexNamesGrantsCommentAndSequenceFollow) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
  MustExec(db(),
           "COMMENT ON TABLE orders IS 'the orders'; GRANT SELECT, INSERT ON orders TO " + role_);
  ProcessResult r = MigrateIdToBigint();
  ExpectSucceeded(r);
  ExpectNothingLeftBehind("orders");
  if (r.exit_code != 0) return;
  EXPECT_EQ(QueryValue(db(),
                       "SELECT indrelid::regclass FROM pg_index WHERE indexrelid = "
                       "'orders_pkey'::regclass"),
            "orders");
  EXPECT_EQ(QueryValue(db(),
                       "SELECT indrelid::regclass FROM pg_index WHERE indexrelid = "
                       "'orders_customer_id_idx'::regclass"),
            "orders");
  EXPECT_EQ(QueryValue(db(), "SELECT has_table_privilege('" + role_ + "', 'orders', 'INSERT')"),
            "t");
  EXPECT_EQ(QueryValue(db(), "SELECT obj_description('orders'::regclass, 'pg_class')"),
            "the orders");
  EXPECT_NE(QueryValue(db(), "SELECT pg_get_serial_sequence('orders', 'id')"), "");
}

TEST_F(SwapObjectsTest, ChildTableTransactionAcrossCutoverSeesNoDeadlock) {
  // The slot exists and the table is locked: an open application
  // transaction cannot hold up the slot's creation any more.
  ExpectLockCycleCostsTheApplicationNothing("cutover-locked:1");
}

// The swap's rehearsal before the copy takes the cutover's locks for a moment.
TEST_F(SwapObjectsTest, ChildTableTransactionAcrossRehearsalSeesNoDeadlock) {
  ExpectLockCycleCostsTheApplicationNothing("rehearsal-locked:1");
}

}  // namespace
}  // namespace shadowcopy::it
