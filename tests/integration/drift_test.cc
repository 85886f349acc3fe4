// The original's definition changed by the application during a run (while
// the run is paused in the copy): an index, a unique index, a UNIQUE or CHECK
// constraint, SET NOT NULL, a new default, a table option. The new table was
// built without it, so the run must stop at the cutover with one clear error
// line naming what changed — never swap and exit 0 — and leave the original
// with the change and every row, and nothing of its own. A --resume after a
// kill -9 compares against the same record. Changes the swap reads again under
// its lock (comment, grant, policy) are carried and the run succeeds, and so
// does a run whose cutover session prints definitions under other settings.
#include <csignal>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kAlter[] = "ALTER COLUMN id TYPE bigint";

struct DriftCase {
  const char* name;
  const char* before;   // run on orders and truth before the run ("" for none)
  const char* ddl;      // run on orders while the run is paused in the copy
  const char* named;    // what the error must name
  const char* present;  // a query on the original that is true once the DDL is there
  bool workload;        // mirror writers run throughout
};

const DriftCase kCases[] = {
    {"CreateIndex", "", "CREATE INDEX orders_status_idx ON orders (status)", "index orders_status_idx added",
     "SELECT to_regclass('orders_status_idx') IS NOT NULL", false},
    {"CreateUniqueIndex", "", "CREATE UNIQUE INDEX orders_id_status_idx ON orders (id, status)",
     "index orders_id_status_idx added",
     "SELECT indisunique FROM pg_index WHERE indexrelid = 'orders_id_status_idx'::regclass", true},
    {"AddUniqueConstraint", "", "ALTER TABLE orders ADD CONSTRAINT orders_id_amount_key UNIQUE (id, amount)",
     "constraint orders_id_amount_key added",
     "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'orders_id_amount_key' AND contype = 'u')",
     false},
    {"AddCheckConstraint", "", "ALTER TABLE orders ADD CONSTRAINT orders_amount_check CHECK (amount >= 0)",
     "constraint orders_amount_check added",
     "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'orders_amount_check' AND contype = 'c')",
     true},
    {"SetNotNull", "ALTER TABLE {T} ALTER COLUMN status DROP NOT NULL",
     "ALTER TABLE orders ALTER COLUMN status SET NOT NULL", "column status changed (not null)",
     "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'status'", true},
    {"SetDefault", "", "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new'",
     "column status changed (default)",
     "SELECT pg_get_expr(adbin, adrelid) = '''new''::text' FROM pg_attrdef "
     "WHERE adrelid = 'orders'::regclass AND adnum = 3",
     false},
    {"SetTableOption", "", "ALTER TABLE orders SET (fillfactor = 70)", "table changed (options)",
     "SELECT 'fillfactor=70' = ANY (reloptions) FROM pg_class WHERE oid = 'orders'::regclass", false},
};

// gtest prints a failing case by its name.
void PrintTo(const DriftCase& c, std::ostream* os) { *os << c.name; }

class DriftTest : public DatabaseTest {
 protected:
  void TearDown() override {
    DatabaseTest::TearDown();  // drops the database and with it the role's grants
    if (role_.empty()) return;
    ConnectOptions options;
    options.dsn = "dbname=postgres";
    auto admin = PgConn::Connect(options);
    if (admin.ok()) MustExec(**admin, "DROP ROLE IF EXISTS " + role_);
  }

  std::vector<std::string> MigrateArgs(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"--alter", kAlter, "--execute", "--chunk-size", "500", "--socket", "none"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ToolArgs("orders", args);
  }

  // Starts the run paused before copy batch 2 and waits for the pause.
  std::unique_ptr<ShadowcopyProcess> StartPaused(const PausePoint& pause, std::vector<std::string> extra = {}) {
    auto tool = ShadowcopyProcess::Start(MigrateArgs(std::move(extra)), pause.Env("before-batch:2"));
    EXPECT_TRUE(tool.ok()) << tool.status();
    if (!tool.ok()) return nullptr;
    EXPECT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
    return std::move(*tool);
  }

  // The run ended with one error line naming `named`, nothing was swapped or
  // left behind, and the original (still the table the run started on)
  // keeps every row.
  void ExpectStoppedNaming(const ProcessResult& r, const std::string& named, const std::string& oid) {
    ExpectFailedWithOneErrorLine(r);
    auto errors = LinesStartingWith(r.err, "shadowcopy: error:");
    ASSERT_EQ(errors.size(), 1u) << r.Describe();
    EXPECT_NE(errors[0].find("table \"public\".\"orders\" was altered during the run"), std::string::npos) << errors[0];
    EXPECT_NE(errors[0].find(named), std::string::npos) << errors[0];
    EXPECT_NE(errors[0].find("nothing was swapped"), std::string::npos) << errors[0];
    ExpectNothingLeftBehind("orders");
    EXPECT_EQ(TableOid("orders"), oid) << "orders was replaced";
    EXPECT_FALSE(AnyOldTableOf("orders"));
    ExpectMirrorEqual(db(), "orders", "truth");
  }

  std::string role_;  // created by a test, dropped at teardown
};

class DriftCaseTest : public DriftTest, public ::testing::WithParamInterface<DriftCase> {};

TEST_P(DriftCaseTest, ChangeDuringCopyStopsTheRun) {
  const DriftCase& c = GetParam();
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
  if (*c.before) {
    for (const char* table : {"orders", "truth"}) {
      std::string sql = c.before;
      sql.replace(sql.find("{T}"), 3, table);
      MustExec(db(), sql);
    }
  }
  std::string oid = TableOid("orders");
  std::unique_ptr<MirrorWorkload> workload;
  if (c.workload) {
    workload = std::make_unique<MirrorWorkload>(dbname(), WorkloadOptions{.writers = 2});
    ASSERT_TRUE(workload->Start().ok());
  }
  PausePoint pause;
  auto tool = StartPaused(pause);
  ASSERT_NE(tool, nullptr);
  MustExec(db(), c.ddl);
  pause.Continue();
  ProcessResult r = tool->Wait(seconds(120));
  if (workload) {
    std::this_thread::sleep_for(milliseconds(300));
    workload->Stop();
    ExpectNoWorkloadErrors(*workload);
  }
  ExpectStoppedNaming(r, c.named, oid);
  EXPECT_EQ(QueryValue(db(), c.present), "t") << "the original lost the change";
}

INSTANTIATE_TEST_SUITE_P(Ddl, DriftCaseTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<DriftCase>& info) { return info.param.name; });

// An index created while the shadow is being created (after the shadow's
// LIKE read the original) is found by the second read of the definition in
// that transaction: the shadow is created again, with it, and the run ends
// with the index on the new table.
TEST_F(DriftTest, ChangeWhileTheShadowIsCreatedIsBuiltIn) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(MigrateArgs(), pause.Env("shadow-built:1"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(db(), "CREATE INDEX orders_status_idx ON orders (status)");
  pause.Continue();
  ProcessResult r = (*tool)->Wait(seconds(120));
  ExpectSucceeded(r);
  EXPECT_NE(r.err.find("changed while the shadow table was created"), std::string::npos) << r.Describe();
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(QueryValue(db(), "SELECT indrelid::regclass FROM pg_index WHERE indexrelid = "
                             "'orders_status_idx'::regclass"),
            "orders");
  EXPECT_EQ(QueryValue(db(), "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = 'orders'::regclass AND attname = 'id'"),
            "bigint");
  ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
}

// The record of what the shadow was built from survives a kill -9: the
// resumed run finds the index made before the kill and stops too.
TEST_F(DriftTest, ResumedRunComparesWithTheRecordedDefinition) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
  std::string oid = TableOid("orders");
  PausePoint pause;
  auto tool = StartPaused(pause);
  ASSERT_NE(tool, nullptr);
  MustExec(db(), "CREATE INDEX orders_status_idx ON orders (status)");
  tool->Signal(SIGKILL);
  ProcessResult killed = tool->Wait(seconds(30));
  EXPECT_EQ(killed.term_signal, SIGKILL) << killed.Describe();
  ProcessResult r = RunShadowcopy(MigrateArgs({"--resume"}), {}, nullptr, seconds(120));
  EXPECT_NE(r.err.find("resuming run"), std::string::npos) << r.Describe();
  ExpectStoppedNaming(r, "index orders_status_idx added", oid);
}

// The check before the cutover's first attempt found nothing; the index
// made right after it is found by the check under the lock.
TEST_F(DriftTest, ChangeJustBeforeTheLockIsFoundUnderIt) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(MigrateArgs({"--verbose"}), pause.Env("cutover-attempt:1"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(db(), "CREATE INDEX orders_status_idx ON orders (status)");
  pause.Continue();
  ProcessResult r = (*tool)->Wait(seconds(120));
  std::this_thread::sleep_for(milliseconds(300));
  workload.Stop();
  ExpectNoWorkloadErrors(workload);
  EXPECT_NE(r.err.find("the original's definition is unchanged"), std::string::npos)
      << "no check before the lock\n" << r.Describe();
  ExpectStoppedNaming(r, "index orders_status_idx added", oid);
}

// The cutover's session is new: settings changed for the database during the
// run apply to it. How it prints a definition (a default's constant, the
// names in it) must not make an unchanged definition look changed.
TEST_F(DriftTest, DatabaseSettingsChangedMidRunChangeNoDefinition) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
  for (const char* table : {"orders", "truth"})
    MustExec(db(), std::string("ALTER TABLE ") + table +
                       " ALTER COLUMN created_at SET DEFAULT '2024-01-31 10:00:00.25+00', "
                       "ALTER COLUMN amount SET DEFAULT 0.1::float8");
  PausePoint pause;
  auto tool = StartPaused(pause);
  ASSERT_NE(tool, nullptr);
  MustExec(db(), "ALTER DATABASE " + dbname() +
                     " SET DateStyle = 'SQL, DMY'; ALTER DATABASE " + dbname() +
                     " SET TimeZone = 'Asia/Tokyo'; ALTER DATABASE " + dbname() +
                     " SET extra_float_digits = 3; ALTER DATABASE " + dbname() +
                     " SET search_path = pg_catalog, public");
  pause.Continue();
  ProcessResult r = tool->Wait(seconds(120));
  ExpectSucceeded(r);
  ExpectNothingLeftBehind("orders");
  ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
}

// What the swap reads again under its lock is carried as it is at the
// cutover: a comment, a grant and a policy made during the copy.
TEST_F(DriftTest, ChangesTheSwapCarriesLetTheRunSucceed) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
  role_ = dbname().substr(0, 40) + "_reader";
  MustExec(db(), "DROP ROLE IF EXISTS " + role_ + "; CREATE ROLE " + role_);
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  PausePoint pause;
  auto tool = StartPaused(pause);
  ASSERT_NE(tool, nullptr);
  MustExec(db(), "COMMENT ON TABLE orders IS 'changed mid-run'; GRANT SELECT ON orders TO " + role_ +
                     "; CREATE POLICY orders_mine ON orders USING (customer_id >= 0)");
  pause.Continue();
  ProcessResult r = tool->Wait(seconds(120));
  std::this_thread::sleep_for(milliseconds(300));
  workload.Stop();
  ExpectNoWorkloadErrors(workload);
  ExpectSucceeded(r);
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(QueryValue(db(), "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = 'orders'::regclass AND attname = 'id'"),
            "bigint");
  EXPECT_EQ(QueryValue(db(), "SELECT obj_description('orders'::regclass, 'pg_class')"), "changed mid-run");
  EXPECT_EQ(QueryValue(db(), "SELECT has_table_privilege('" + role_ + "', 'orders', 'SELECT')"), "t");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_policy WHERE polrelid = 'orders'::regclass "
                             "AND polname = 'orders_mine'"),
            "1");
  if (r.exit_code == 0) {
    ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
  }
  ExpectMirrorEqual(db(), "orders", "truth");
}

}  // namespace
}  // namespace shadowcopy::it
