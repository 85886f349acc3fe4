// The old tables finished runs keep: each run's original is renamed to a
// name of its own (_<table>_old_<UTC time of the run's start>, cut to 63
// bytes), so a second migration of a table just works and never touches the
// first one's old table; `cleanup --old-tables` lists them with their sizes
// and drops them with --execute — only those its runs recorded, never a user
// table that merely looks like one.
#include <string>
#include <thread>
#include <vector>

#include "common/quote.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;

constexpr char kAlter[] = "ALTER COLUMN id TYPE bigint";

class OldTablesTest : public DatabaseTest {
 protected:
  ProcessResult Migrate(const std::string& table, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--execute", "--socket", "none"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunShadowcopy(ToolArgs(table, args));
  }

  ProcessResult Cleanup(std::vector<std::string> extra) {
    std::vector<std::string> args{"cleanup", "--old-tables", "--dsn", dsn()};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunShadowcopy(args);
  }

  void CreateSmall(const std::string& table, int rows) {
    MustExec(db(), "CREATE TABLE " + QuoteIdent(table) + " (id int PRIMARY KEY, v text NOT NULL);"
                   "INSERT INTO " + QuoteIdent(table) + " SELECT g, 'v' || g FROM generate_series(1, " +
                   std::to_string(rows) + ") g");
  }

  std::string Count(const std::string& table) {
    return QueryValue(db(), "SELECT count(*) FROM " + QuoteIdent(table));
  }
};

// Under the mirror workload: the second migration of orders goes through
// while the first one's old table is kept; that old table is the same
// relation with the same contents afterwards; orders equals the mirror.
TEST_F(OldTablesTest, SecondMigrationUnderLoadKeepsTheFirstOldTable) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 4000, 500).ok());
  const std::string original = TableOid("orders");
  ExpectSucceeded(Migrate("orders", {"--alter", kAlter}));
  const std::string first_old = OldTableOf("orders");
  ASSERT_TRUE(TableExists(first_old));
  ASSERT_EQ(TableOid(first_old), original);
  EXPECT_TRUE(AnyOldTableOf("orders"));
  MustExec(db(), "CREATE TABLE first_old_copy AS SELECT * FROM " + QuoteIdent(first_old));
  ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());

  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  ProcessResult second = Migrate("orders", {"--chunk-size", "500"});
  std::this_thread::sleep_for(milliseconds(300));
  workload.Stop();
  ExpectSucceeded(second);
  ExpectNoWorkloadErrors(workload);

  const std::string second_old = OldTableOf("orders");
  EXPECT_NE(second_old, first_old);
  EXPECT_TRUE(TableExists(second_old));
  EXPECT_EQ(TableOid(first_old), original) << "the first run's old table was replaced";
  ExpectMirrorEqual(db(), first_old, "first_old_copy");
  ExpectNothingLeftBehind("orders");
  ExpectMirrorEqual(db(), "orders", "truth");
  EXPECT_EQ(QueryValue(db(), "SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                             "AND attname = 'id'"),
            "bigint");
}

// cleanup --old-tables lists (dry run: nothing dropped) the old tables of
// the recorded runs with their sizes, and drops with --execute only those:
// user tables named like old tables, and an old table the user renamed,
// stay; --table limits it to one table.
TEST_F(OldTablesTest, CleanupListsThenDropsOnlyOurs) {
  CreateSmall("orders", 2000);
  CreateSmall("items", 300);
  CreateSmall("lines", 300);
  ExpectSucceeded(Migrate("orders"));
  const std::string orders_a = OldTableOf("orders");
  ExpectSucceeded(Migrate("orders", {"--alter", kAlter}));
  const std::string orders_b = OldTableOf("orders");
  ASSERT_NE(orders_a, orders_b);
  ExpectSucceeded(Migrate("items"));
  const std::string items_old = OldTableOf("items");
  MustExec(db(), "ALTER TABLE " + QuoteIdent(items_old) + " RENAME TO items_archive");
  EXPECT_TRUE(AnyOldTableOf("items")) << "the harness misses a renamed old table";
  ExpectSucceeded(Migrate("lines"));
  const std::string lines_old = OldTableOf("lines");
  // The user's own tables, named like old tables (one exactly in our pattern).
  MustExec(db(), "CREATE TABLE _orders_old_x AS SELECT 1 AS one;"
                 "CREATE TABLE _orders_old_20200101000000 AS SELECT 2 AS two;"
                 "CREATE TABLE _lines_old AS SELECT 3 AS three");
  const std::vector<std::string> theirs{"_orders_old_x", "_orders_old_20200101000000", "_lines_old",
                                        "items_archive"};

  ProcessResult dry = Cleanup({});
  ASSERT_EQ(dry.exit_code, 0) << dry.Describe();
  for (const auto& t : {orders_a, orders_b, lines_old}) {
    EXPECT_NE(dry.out.find("would drop old table \"public\"." + QuoteIdent(t) + " ("), std::string::npos)
        << t << "\n" << dry.Describe();
    EXPECT_TRUE(TableExists(t)) << "the dry run dropped " << t;
  }
  EXPECT_NE(dry.out.find(" kB; kept by run "), std::string::npos) << "no size\n" << dry.Describe();
  for (const auto& t : theirs) EXPECT_EQ(dry.out.find(QuoteIdent(t)), std::string::npos) << t << dry.Describe();
  EXPECT_NE(dry.out.find("--execute"), std::string::npos) << dry.Describe();

  ProcessResult none = Cleanup({"--table", "items"});
  ASSERT_EQ(none.exit_code, 0) << none.Describe();
  EXPECT_NE(none.out.find("nothing to clean up"), std::string::npos) << none.Describe();

  ProcessResult orders_only = Cleanup({"--table", "orders", "--execute"});
  ASSERT_EQ(orders_only.exit_code, 0) << orders_only.Describe();
  EXPECT_NE(orders_only.out.find("dropped old table \"public\"." + QuoteIdent(orders_a)), std::string::npos)
      << orders_only.Describe();
  EXPECT_FALSE(TableExists(orders_a));
  EXPECT_FALSE(TableExists(orders_b));
  EXPECT_TRUE(TableExists(lines_old)) << "--table orders dropped another table's old table";

  ProcessResult rest = Cleanup({"--execute"});
  ASSERT_EQ(rest.exit_code, 0) << rest.Describe();
  EXPECT_FALSE(TableExists(lines_old));
  for (const auto& t : theirs) EXPECT_TRUE(TableExists(t)) << "cleanup dropped the user's " << t;
  EXPECT_EQ(Count("items_archive"), "300");
  EXPECT_EQ(Count("orders"), "2000");
  EXPECT_EQ(Count("lines"), "300");
  ProcessResult again = Cleanup({"--execute"});
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_NE(again.out.find("nothing to clean up"), std::string::npos) << again.Describe();
}

// A 63-byte table name: the old table's name is cut to 63 bytes, keeps the
// whole suffix, and stays apart from that of another 63-byte table with the
// same beginning; each table migrates twice; cleanup finds them all.
TEST_F(OldTablesTest, SixtyThreeByteTableName) {
  const std::string a = std::string(58, 'l') + "_aaaa";
  const std::string b = std::string(58, 'l') + "_bbbb";
  ASSERT_EQ(a.size(), 63u);
  CreateSmall(a, 500);
  CreateSmall(b, 500);
  std::vector<std::string> olds;
  for (int round = 0; round < 2; ++round) {
    for (const auto& t : {a, b}) {
      ProcessResult r = Migrate(t, {"--alter", kAlter});
      ExpectSucceeded(r);
      std::string suffix = OldSuffixOf(t);
      EXPECT_EQ(suffix.size(), 19u) << suffix;
      std::string old = OldTableOf(t);
      EXPECT_EQ(old.size(), 63u) << old;
      EXPECT_EQ(old.substr(old.size() - suffix.size()), suffix);
      EXPECT_EQ(old.substr(0, 11), "_" + t.substr(0, 10));
      EXPECT_TRUE(TableExists(old));
      EXPECT_NE(r.out.find(QuoteIdent(old)), std::string::npos) << "the summary names the old table\n"
                                                                << r.Describe();
      for (const auto& o : olds) EXPECT_NE(o, old);
      olds.push_back(old);
      ExpectNothingLeftBehind(t);
      EXPECT_EQ(Count(t), "500");
    }
  }
  ProcessResult dropped = Cleanup({"--execute"});
  ASSERT_EQ(dropped.exit_code, 0) << dropped.Describe();
  for (const auto& o : olds) EXPECT_FALSE(TableExists(o)) << o;
}

// A state table an older version created (no suffix column; its run named
// the old table plain _<table>_old): cleanup lists that old table, a new
// migration of the table works (and upgrades the state table), and cleanup
// then drops both.
TEST_F(OldTablesTest, StateTableOfAnOlderVersion) {
  CreateSmall("orders", 500);
  ExpectSucceeded(Migrate("orders"));
  MustExec(db(), "ALTER TABLE shadowcopy.runs DROP COLUMN old_suffix;"
                 "ALTER TABLE " + QuoteIdent(OldTableOf("orders")) + " RENAME TO _orders_old");
  ProcessResult dry = Cleanup({"--table", "orders"});
  ASSERT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_NE(dry.out.find("would drop old table \"public\".\"_orders_old\" ("), std::string::npos) << dry.Describe();

  ExpectSucceeded(Migrate("orders", {"--alter", kAlter}));
  const std::string second_old = OldTableOf("orders");
  EXPECT_NE(second_old, "_orders_old");
  EXPECT_TRUE(TableExists("_orders_old"));
  EXPECT_EQ(Count("_orders_old"), "500");
  ProcessResult done = Cleanup({"--execute"});
  ASSERT_EQ(done.exit_code, 0) << done.Describe();
  EXPECT_FALSE(TableExists("_orders_old"));
  EXPECT_FALSE(TableExists(second_old));
  EXPECT_EQ(Count("orders"), "500");
}

}  // namespace
}  // namespace shadowcopy::it
