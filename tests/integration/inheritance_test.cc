// Table inheritance and partitions: an inheritance child rebuilt and altered,
// an inheritance parent rebuilt (its own rows only), a leaf partition rebuilt,
// under the mirror workload; the tree is intact afterwards (pg_inherits,
// inherited columns and CHECK constraints, rows seen through the parent, DDL
// on the parent recursing to the new table; the partition bound, the
// partitioned table's indexes and trigger, rows routed to the new partition).
// Shapes that are refused (a partition whose swap would scan or fail under
// the lock, a middle level, an ALTER that PostgreSQL would refuse on an
// inheritance member or a partition) fail with one error line and create
// nothing.
#include <signal.h>

#include <atomic>
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kRows = 10000;
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
    std::string publications = QueryValue(db(), "SELECT count(*) FROM pg_publication");
    ProcessResult r = RunShadowcopy(ToolArgs(table, extra));
    ExpectFailedWithOneErrorLine(r);
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"),
              "0");
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_publication"), publications) << r.Describe();
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

  // orders becomes the partition of orders_parted for ids from 1 up (its
  // primary key and customer index attached to the partitioned table's, a
  // row trigger cloned onto it), beside orders_neg for the ids below; a
  // publication of the partitioned table through its root, one of orders.
  void MakeOrdersAPartition() {
    MustExec(db(),
             "CREATE TABLE orders_parted (id int NOT NULL, customer_id int NOT NULL, status text NOT NULL, "
             "  amount numeric(12,2) NOT NULL, note text, created_at timestamptz NOT NULL DEFAULT now(), "
             "  CONSTRAINT orders_parted_pkey PRIMARY KEY (id)) PARTITION BY RANGE (id);"
             "CREATE INDEX orders_parted_customer_idx ON orders_parted (customer_id);"
             "CREATE TABLE orders_neg PARTITION OF orders_parted FOR VALUES FROM (MINVALUE) TO (1);"
             "ALTER TABLE orders_parted ATTACH PARTITION orders FOR VALUES FROM (1) TO (MAXVALUE);"
             "CREATE FUNCTION orders_parted_noop() RETURNS trigger LANGUAGE plpgsql AS "
             "  $$BEGIN RETURN NEW; END$$;"
             "CREATE TRIGGER orders_parted_noop BEFORE INSERT OR UPDATE ON orders_parted "
             "  FOR EACH ROW EXECUTE FUNCTION orders_parted_noop();"
             "CREATE PUBLICATION root_pub FOR TABLE orders_parted WITH (publish_via_partition_root = true);"
             "CREATE PUBLICATION leaf_pub FOR TABLE orders;");
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
  ASSERT_TRUE(TableExists(OldTableOf("orders")));
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_inherits WHERE inhrelid = '" + OldTableOf("orders") + "'::regclass"),
            "0");
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
  ProcessResult result = RunUnderLoad({"--execute", "--chunk-size", kChunkSize, "--verify-after"}, &workload);
  ExpectSucceeded(result);
  ExpectNoWorkloadErrors(workload);
  ExpectNothingLeftBehind("orders");
  EXPECT_NE(TableOid("orders"), old_oid);
  // Verification, before and after the swap, compares the parent's own rows.
  EXPECT_EQ(SummaryNumber(LastLine(result.out), "verify_mismatches"), 0.0) << LastLine(result.out);
  EXPECT_EQ(SummaryNumber(LastLine(result.out), "verify_after_mismatches"), 0.0) << LastLine(result.out);
  EXPECT_GT(SummaryNumber(LastLine(result.out), "verify_after_ranges").value_or(0), 0) << LastLine(result.out);
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

TEST_F(InheritanceTest, PartitionRebuiltUnderLoadIsAttachedInItsPlace) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  MakeOrdersAPartition();
  std::string old_oid = TableOid("orders");
  // An application that writes and reads through the partitioned table,
  // into the other partition.
  std::atomic<bool> stop{false};
  std::atomic<int> inserted{0};
  std::vector<std::string> errors;
  auto app = Connect();
  std::thread through_parent([&] {
    for (int n = 1; !stop.load(); ++n) {
      auto ins = app->Exec(fmt::format("INSERT INTO orders_parted (id, customer_id, status, amount) "
                                       "VALUES ({}, 1, 'neg', 1)", -n));
      auto sel = app->Exec("SELECT count(*) FROM orders_parted WHERE customer_id = 1");
      if (!ins.ok()) errors.push_back(std::string(ins.status().message()));
      else ++inserted;
      if (!sel.ok()) errors.push_back(std::string(sel.status().message()));
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ProcessResult result = RunUnderLoad({"--execute", "--chunk-size", kChunkSize}, &workload);
  stop = true;
  through_parent.join();
  ExpectSucceeded(result);
  ExpectNoWorkloadErrors(workload);
  EXPECT_TRUE(errors.empty()) << errors.front();
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
  EXPECT_NE(TableOid("orders"), old_oid);
  EXPECT_EQ(Count("orders_neg"), std::to_string(inserted.load()));
  // The new table has the old one's bound; the old one is detached.
  EXPECT_EQ(QueryValue(db(), "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = 'orders'::regclass"),
            "FOR VALUES FROM (1) TO (MAXVALUE)");
  ASSERT_TRUE(TableExists(OldTableOf("orders")));
  EXPECT_EQ(QueryValue(db(), "SELECT relispartition FROM pg_class WHERE oid = '" + OldTableOf("orders") + "'::regclass"),
            "f");
  EXPECT_EQ(Inherits("orders", "orders_parted"), "1");
  // The partitioned table's indexes are valid, each with the new table's
  // index attached; its row trigger is cloned onto the new table once.
  EXPECT_EQ(QueryValue(db(), "SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'orders_parted'::regclass"),
            "t");
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(i.inhparent::regclass::text, ',' ORDER BY i.inhparent::regclass::text) FROM pg_inherits i "
                             "JOIN pg_index x ON x.indexrelid = i.inhrelid WHERE x.indrelid = 'orders'::regclass"),
            "orders_parted_customer_idx,orders_parted_pkey");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'orders'::regclass"), "1");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_trigger WHERE tgrelid = '" + OldTableOf("orders") + "'::regclass"),
            "0");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass "
                             "AND contype = 'c'"),
            "0");
  // The publications cover the new table: through the root, and directly.
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(pubname || ':' || tablename, ',' ORDER BY pubname) "
                             "FROM pg_publication_tables WHERE pubname IN ('root_pub', 'leaf_pub')"),
            "leaf_pub:orders,root_pub:orders_parted");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_publication_rel WHERE prrelid = 'orders'::regclass"), "1");
  // Rows inserted through the partitioned table land in the new table.
  EXPECT_EQ(QueryValue(db(), "INSERT INTO orders_parted (id, customer_id, status, amount) "
                             "VALUES (nextval('orders_id_seq'), 2, 'routed', 1) RETURNING tableoid::regclass"),
            "orders");
  EXPECT_EQ(Count("orders_parted"), std::to_string(std::stoll(Count("orders")) + inserted.load()));
}

// Default partitions, one of them a level down: their partition constraint
// is the negation of their siblings' bounds.
TEST_F(InheritanceTest, DefaultPartitionsAreRebuiltInTheirPlace) {
  MustExec(db(),
           "CREATE TABLE top2 (id int NOT NULL, k int NOT NULL, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);"
           "CREATE TABLE mid2 PARTITION OF top2 FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (id);"
           "CREATE TABLE leaf2 PARTITION OF mid2 FOR VALUES FROM (0) TO (1000000);"
           "CREATE TABLE mid2_def PARTITION OF mid2 DEFAULT;"
           "CREATE TABLE top2_def PARTITION OF top2 DEFAULT;"
           "INSERT INTO top2 SELECT g, g % 200, md5(g::text) FROM generate_series(1, 20000) g;"
           "INSERT INTO top2 SELECT -g, g % 100, md5(g::text) FROM generate_series(1, 500) g;");
  const std::string digest_sql = "SELECT md5(string_agg(t::text || t.tableoid::regclass::text, '|' ORDER BY id, k)) "
                                 "FROM top2 t";
  std::string digest = QueryValue(db(), digest_sql);
  for (const std::string table : {"top2_def", "mid2_def"}) {
    std::string old_oid = TableOid(table);
    ProcessResult r = RunShadowcopy(ToolArgs(table, {"--execute", "--drop-old-table"}));
    ExpectSucceeded(r);
    ExpectNothingLeftBehind(table);
    EXPECT_NE(TableOid(table), old_oid);
    EXPECT_EQ(QueryValue(db(), "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = '" + table +
                                   "'::regclass"),
              "DEFAULT");
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_constraint WHERE conrelid = '" + table +
                                   "'::regclass AND contype = 'c'"),
              "0");
  }
  EXPECT_EQ(QueryValue(db(), digest_sql), digest);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_index WHERE NOT indisvalid"), "0");
  // Rows outside every other bound land in the new default partitions.
  EXPECT_EQ(QueryValue(db(), "WITH i AS (INSERT INTO top2 VALUES (-1, 500, 'x'), (-1, 50, 'y') "
                             "RETURNING tableoid::regclass::text AS t) SELECT string_agg(t, ',' ORDER BY t) FROM i"),
            "mid2_def,top2_def");
}

// A default partition that appears during the run would make ATTACH scan it
// under the lock: the swap checks the tree again under the lock and stops
// the run, leaving the original in place.
TEST_F(InheritanceTest, DefaultPartitionAddedDuringTheRunStopsTheSwap) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000).ok());
  MakeOrdersAPartition();
  std::string oid = TableOid("orders");
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(ToolArgs("orders", {"--execute", "--chunk-size", "1000"}),
                                       pause.Env("before-batch:2"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(db(), "CREATE TABLE orders_other PARTITION OF orders_parted DEFAULT");
  pause.Continue();
  ProcessResult r = (*tool)->Wait(seconds(120));
  ExpectFailedWithOneErrorLine(r);
  EXPECT_NE(r.err.find("default partition"), std::string::npos) << r.Describe();
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(TableOid("orders"), oid);
  EXPECT_EQ(QueryValue(db(), "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = 'orders'::regclass"),
            "FOR VALUES FROM (1) TO (MAXVALUE)");
  ExpectMirrorEqual(db(), "orders", "truth");
}

// kill -9 during the copy, writes meanwhile (through the partitioned table
// too), then --resume: the shadow kept its bound's CHECK constraint, and the
// swap attaches it in the original's place.
TEST_F(InheritanceTest, PartitionKilledDuringTheCopyIsResumed) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000).ok());
  MakeOrdersAPartition();
  // A socket of its own: a killed run leaves its socket file behind.
  const std::vector<std::string> args = {"--execute", "--chunk-size", "500", "--socket",
                                         "/tmp/sc_" + dbname() + ".sock"};
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(ToolArgs("orders", args), pause.Env("before-batch:3"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(db(),
           "BEGIN;"
           "UPDATE orders SET status = 'moved' WHERE id % 7 = 0; UPDATE truth SET status = 'moved' WHERE id % 7 = 0;"
           "DELETE FROM orders WHERE id % 11 = 0; DELETE FROM truth WHERE id % 11 = 0;"
           "WITH i AS (INSERT INTO orders_parted (id, customer_id, status, amount, note, created_at) "
           "  SELECT nextval('orders_id_seq'), g, 'via parent', g, 'n' || g, now() FROM generate_series(1, 50) g "
           "  RETURNING *) INSERT INTO truth SELECT * FROM i;"
           "COMMIT");
  (*tool)->Signal(SIGKILL);
  ProcessResult killed = (*tool)->Wait(seconds(30));
  EXPECT_EQ(killed.term_signal, SIGKILL) << killed.Describe();
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_constraint WHERE conrelid = '_orders_shadow'::regclass "
                             "AND conname = 'shadowcopy_partition_bound'"),
            "1");
  std::vector<std::string> resume = args;
  resume.push_back("--resume");
  ProcessResult r = RunShadowcopy(ToolArgs("orders", resume));
  ExpectSucceeded(r);
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(QueryValue(db(), "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = 'orders'::regclass"),
            "FOR VALUES FROM (1) TO (MAXVALUE)");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass "
                             "AND contype = 'c'"),
            "0");
  EXPECT_EQ(QueryValue(db(), "SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'orders_parted'::regclass"),
            "t");
}

TEST_F(InheritanceTest, PartitionColumnChangeIsRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 1000).ok());
  MakeOrdersAPartition();
  ExpectRefused("orders", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute"});
  ExpectRefused("orders", {"--alter", "ADD COLUMN region text", "--execute"});
}

TEST_F(InheritanceTest, RefusedTreeShapes) {
  MustExec(db(),
           // A partitioned table with a default partition.
           "CREATE TABLE parted (id int NOT NULL, k int NOT NULL, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);"
           "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);"
           "CREATE TABLE parted_other PARTITION OF parted DEFAULT;"
           "INSERT INTO parted SELECT g, g % 200 FROM generate_series(1, 500) g;"
           // A partitioned table a foreign key references.
           "CREATE TABLE refd (id int PRIMARY KEY) PARTITION BY RANGE (id);"
           "CREATE TABLE refd_1 PARTITION OF refd FOR VALUES FROM (0) TO (100);"
           "CREATE TABLE referencing (id int PRIMARY KEY, r int REFERENCES refd);"
           // A partitioned table with a foreign key.
           "CREATE TABLE withfk (id int PRIMARY KEY, r int REFERENCES referencing) PARTITION BY RANGE (id);"
           "CREATE TABLE withfk_1 PARTITION OF withfk FOR VALUES FROM (0) TO (100);"
           // A middle level of an inheritance tree.
           "CREATE TABLE top (id int PRIMARY KEY);"
           "CREATE TABLE middle (id int PRIMARY KEY) INHERITS (top);"
           "CREATE TABLE bottom (id int PRIMARY KEY) INHERITS (middle);");
  ExpectRefused("parted_1", {"--execute"});
  ExpectRefused("refd_1", {"--execute"});
  ExpectRefused("withfk_1", {"--execute"});
  ExpectRefused("middle", {"--execute"});
}

}  // namespace
}  // namespace shadowcopy::it
