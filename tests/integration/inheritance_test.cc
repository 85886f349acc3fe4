// Table inheritance: an inheritance child rebuilt and altered, an inheritance
// parent rebuilt (its own rows only), under the mirror workload; the tree is
// intact afterwards (pg_inherits, inherited columns and CHECK constraints,
// rows seen through the parent, DDL on the parent recursing to the new
// table). Shapes that are refused (a partition, a middle level, an ALTER that
// PostgreSQL would refuse on an inheritance member) fail with one error line
// and create nothing.
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kRows = 20000;
constexpr char kChunkSize[] = "500";

class InheritanceTest : public DatabaseTest {
 protected:
  // Runs the tool on orders while the workload writes (from 0.5 s before
  // until 1 s after), then stops the workload.
  ProcessResult RunUnderLoad(const std::vector<std::string>& tool_args, MirrorWorkload* workload) {
    auto st = workload->Start();
    EXPECT_TRUE(st.ok()) << st;
    std::this_thread::sleep_for(milliseconds(500));
    ProcessResult result = RunShadowcopy(ToolArgs("orders", tool_args), {}, TrackCopyPhase(workload), seconds(240));
    workload->SetCopyPhaseActive(false);
    std::this_thread::sleep_for(seconds(1));
    workload->Stop();
    return result;
  }

  std::string Count(const std::string& from) { return QueryValue(db(), "SELECT count(*) FROM " + from); }

  std::string Inherits(const std::string& child, const std::string& parent) {
    return QueryValue(db(), fmt::format("SELECT count(*) FROM pg_inherits WHERE inhrelid = '{}'::regclass "
                                        "AND inhparent = '{}'::regclass",
                                        child, parent));
  }

  // Nothing created and nothing changed: one error line, no slot,
  // publication, shadow or state schema; `table` keeps its oid.
  void ExpectRefused(const std::string& table, const std::vector<std::string>& extra) {
    std::string oid = TableOid(table);
    std::string inherits = QueryValue(db(), "SELECT count(*) FROM pg_inherits");
    ProcessResult r = RunShadowcopy(ToolArgs(table, extra));
    ExpectFailedWithOneErrorLine(r);
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"),
              "0");
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_publication"), "0") << r.Describe();
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_class WHERE relname LIKE '%shadow%' "
                               "AND relnamespace <> 'pg_catalog'::regnamespace"),
              "0")
        << r.Describe();
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_namespace WHERE nspname = 'shadowcopy'"), "0");
    EXPECT_EQ(TableOid(table), oid);
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_inherits"), inherits);
  }

  // orders becomes a child of orders_base (customer_id and status inherited,
  // with a CHECK constraint), beside a sibling child orders_archive.
  void MakeOrdersAChild() {
    MustExec(db(),
             "CREATE TABLE orders_base (customer_id int NOT NULL, status text NOT NULL, "
             "  CONSTRAINT orders_status_known CHECK (status <> ''));"
             "ALTER TABLE orders ADD CONSTRAINT orders_status_known CHECK (status <> '');"
             "ALTER TABLE orders INHERIT orders_base;"
             "CREATE TABLE orders_archive (id int PRIMARY KEY, note text) INHERITS (orders_base);"
             "INSERT INTO orders_archive (customer_id, status, id, note) "
             "  SELECT g % 10, 'archived', g, 'a' || g FROM generate_series(1, 100) g;");
  }

  // orders becomes a parent: orders_child inherits it, with rows whose keys
  // the workload never touches (negative, and never id % 4 >= 0), and a user
  // publication of orders that includes the child (which therefore needs a
  // replica identity: the workload's UPDATEs through orders scan it).
  void GiveOrdersAChild() {
    MustExec(db(),
             "CREATE TABLE orders_child (extra text, PRIMARY KEY (id)) INHERITS (orders);"
             "INSERT INTO orders_child (id, customer_id, status, amount, note, created_at, extra) "
             "  SELECT -(4 * g + 1), g, 'child', g, 'c' || g, timestamptz '2024-01-01 00:00+00', 'x' "
             "  FROM generate_series(1, 200) g;"
             "CREATE PUBLICATION app_pub FOR TABLE orders;");
  }

  std::string ChildDigest() {
    return QueryValue(db(), "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM orders_child t");
  }
};

TEST_F(InheritanceTest, ChildAlteredUnderLoadKeepsItsParent) {
  const std::string alter = "ALTER COLUMN id TYPE bigint";
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  MakeOrdersAChild();
  std::string old_oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ProcessResult result = RunUnderLoad({"--alter", alter, "--execute", "--chunk-size", kChunkSize}, &workload);
  ExpectSucceeded(result);
  ExpectNoWorkloadErrors(workload);
  ASSERT_TRUE(TransformTruth(db(), "truth", alter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
  EXPECT_NE(TableOid("orders"), old_oid);
  EXPECT_EQ(QueryValue(db(), "SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                             "AND attname = 'id'"),
            "bigint");
  // The new table took the old one's place in the tree; the old one left it.
  EXPECT_EQ(Inherits("orders", "orders_base"), "1");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_inherits WHERE inhrelid = '_orders_old'::regclass"), "0");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_inherits"), "2");
  // The parent sees the new child's rows (once) and the sibling's.
  EXPECT_EQ(Count("orders_base"), std::to_string(std::stoll(Count("orders")) + 100));
  // Inherited columns and CHECK constraint are merged with the parent's.
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(attname || ':' || attinhcount, ',' ORDER BY attname) "
                             "FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                             "AND attname IN ('customer_id', 'status')"),
            "customer_id:1,status:1");
  EXPECT_EQ(QueryValue(db(), "SELECT coninhcount FROM pg_constraint WHERE conrelid = 'orders'::regclass "
                             "AND conname = 'orders_status_known'"),
            "1");
  EXPECT_FALSE(db().Exec("INSERT INTO orders (customer_id, status, amount) VALUES (1, '', 1)").ok());
  // DDL on the parent recurses to the new child.
  MustExec(db(), "ALTER TABLE orders_base ADD COLUMN region text");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                             "AND attname = 'region' AND attinhcount = 1"),
            "1");
}

TEST_F(InheritanceTest, ChildInheritedColumnTypeChangeIsRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 1000).ok());
  MakeOrdersAChild();
  // A plain ALTER TABLE refuses it too ("cannot alter inherited column").
  ExpectRefused("orders", {"--alter", "ALTER COLUMN customer_id TYPE bigint", "--execute"});
  ExpectRefused("orders", {"--alter", "ALTER COLUMN customer_id TYPE bigint"});
}

TEST_F(InheritanceTest, ParentRebuiltUnderLoadKeepsItsChildren) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  GiveOrdersAChild();
  std::string old_oid = TableOid("orders");
  std::string child_oid = TableOid("orders_child");
  std::string child_digest = ChildDigest();
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ProcessResult result = RunUnderLoad({"--execute", "--chunk-size", kChunkSize}, &workload);
  ExpectSucceeded(result);
  ExpectNoWorkloadErrors(workload);
  ExpectNothingLeftBehind("orders");
  EXPECT_NE(TableOid("orders"), old_oid);
  // The parent's own rows are exactly the truth's; the child is untouched.
  MustExec(db(), "CREATE VIEW orders_own AS SELECT * FROM ONLY orders");
  ExpectMirrorEqual(db(), "orders_own", "truth");
  EXPECT_EQ(TableOid("orders_child"), child_oid);
  EXPECT_EQ(ChildDigest(), child_digest);
  // The child inherits from the new parent only.
  EXPECT_EQ(Inherits("orders_child", "orders"), "1");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_inherits"), "1");
  EXPECT_EQ(Count("orders"), std::to_string(std::stoll(Count("ONLY orders")) + 200));
  // The user's publication still has both tables.
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables "
                             "WHERE pubname = 'app_pub'"),
            "orders,orders_child");
  // DDL on the new parent recurses to the child.
  MustExec(db(), "ALTER TABLE orders ADD COLUMN flag int");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders_child'::regclass "
                             "AND attname = 'flag' AND attinhcount = 1"),
            "1");
}

TEST_F(InheritanceTest, ParentColumnChangeTheChildrenMustFollowIsRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 1000).ok());
  GiveOrdersAChild();
  MustExec(db(), "DROP PUBLICATION app_pub");
  // ALTER TABLE ONLY orders ... is refused by PostgreSQL for the same reason.
  ExpectRefused("orders", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute"});
  ExpectRefused("orders", {"--alter", "ADD COLUMN region text", "--execute"});
}

TEST_F(InheritanceTest, PartitionAndMiddleLevelAreRefused) {
  MustExec(db(),
           "CREATE TABLE parted (id int NOT NULL, k int NOT NULL, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);"
           "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);"
           "INSERT INTO parted SELECT g, g % 100 FROM generate_series(1, 500) g;"
           "CREATE TABLE top (id int PRIMARY KEY);"
           "CREATE TABLE middle (id int PRIMARY KEY) INHERITS (top);"
           "CREATE TABLE bottom (id int PRIMARY KEY) INHERITS (middle);");
  ExpectRefused("parted_1", {"--execute"});
  ExpectRefused("middle", {"--execute"});
}

}  // namespace
}  // namespace shadowcopy::it
