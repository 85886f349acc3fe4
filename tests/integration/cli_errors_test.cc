// The dry run and the error paths of the CLI. A dry run prints the plan (the
// column mapping, the key, the names it would create, whether a plain ALTER
// would rewrite) and creates nothing. Each error exits 1 with one
// "shadowcopy: error:" line, changes nothing and leaves nothing behind;
// usage errors exit 2.
#include <regex>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

constexpr int kSmallRows = 2000;

class CliTest : public DatabaseTest {
 protected:
  void SetUp() override {
    DatabaseTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(CreateAndLoadOrders(db(), kSmallRows, 500).ok());
  }

  // Every relation of the database (oid and name): a dry run or an early
  // error must not change it.
  std::string Relations() {
    return QueryValue(db(),
                      "SELECT string_agg(oid::text || ':' || relname, ',' ORDER BY oid) "
                      "FROM pg_class");
  }
  std::string PublicRelations() {
    return QueryValue(db(),
                      "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class "
                      "WHERE relnamespace = 'public'::regnamespace");
  }

  // Every relation outside the tool's own state schema.
  std::string UserRelations() {
    return QueryValue(db(),
                      "SELECT string_agg(c.oid::text || ':' || relname, ',' ORDER BY c.oid) "
                      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                      "WHERE n.nspname <> 'shadowcopy'");
  }

  // Runs the tool, expecting an error found while inspecting (before the
  // prepare phase creates anything) that changed nothing.
  ProcessResult ExpectCleanError(const std::vector<std::string>& args) {
    std::string before = UserRelations();
    ProcessResult result = RunShadowcopy(args);
    ExpectFailedWithOneErrorLine(result);
    EXPECT_EQ(result.err.find("phase=prepare"), std::string::npos)
        << "the error was found only after the prepare phase began\n"
        << result.Describe();
    EXPECT_EQ(UserRelations(), before) << "relations were created or dropped";
    ExpectNothingLeftBehind("orders");
    ExpectMirrorEqual(db(), "orders", "truth");
    return result;
  }
};

// The plan's "rewrite:" answer ("yes"/"no"), or "" when it has none.
std::string PlanRewriteAnswer(const std::string& plan) {
  std::smatch m;
  if (std::regex_search(plan, m, std::regex(R"(rewrite:\s*(yes|no))"))) return m[1];
  return "";
}

TEST_F(CliTest, DryRunPrintsPlanAndCreatesNothing) {
  std::string oid = TableOid("orders");
  std::string before = Relations();
  // A text -> varchar(n) change does rewrite (the length is checked per row);
  // raising a numeric's precision does not.
  const std::string rewriting = "ALTER COLUMN id TYPE bigint";
  const std::string in_place = "ALTER COLUMN amount TYPE numeric(14,2)";
  ProcessResult rewrite = RunShadowcopy(ToolArgs("orders", {"--alter", rewriting}));
  ProcessResult no_rewrite = RunShadowcopy(ToolArgs("orders", {"--alter", in_place}));
  for (const ProcessResult* r : {&rewrite, &no_rewrite}) {
    EXPECT_EQ(r->exit_code, 0) << r->Describe();
    for (const char* needle : {"_orders_shadow", "customer_id", "created_at", "note", "key"})
      EXPECT_NE(r->out.find(needle), std::string::npos) << needle << "\n" << r->Describe();
    EXPECT_NE(r->out.find("shadowcopy_" + oid), std::string::npos)
        << "slot/publication name shadowcopy_" << oid << " not in the plan\n"
        << r->Describe();
  }
  EXPECT_EQ(PlanRewriteAnswer(rewrite.out), "yes") << rewrite.Describe();
  EXPECT_EQ(PlanRewriteAnswer(no_rewrite.out), "no") << no_rewrite.Describe();
  EXPECT_NE(rewrite.out, no_rewrite.out);
  EXPECT_EQ(Relations(), before) << "the dry run created or dropped relations";
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(QueryValue(db(),
                       "SELECT count(*) FROM pg_replication_slots WHERE database = "
                       "current_database()"),
            "0");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_publication"), "0");
  ExpectMirrorEqual(db(), "orders", "truth");
}

// The plan's rewrite answer agrees with what a plain ALTER TABLE does (the
// table's file node changes exactly when it rewrites).
TEST_F(CliTest, DryRunRewriteAnswerMatchesPlainAlter) {
  for (const char* alter :
       {"ALTER COLUMN status TYPE varchar(200)", "ALTER COLUMN amount TYPE numeric(14,2)",
        "ADD COLUMN extra int DEFAULT 7", "ADD COLUMN ts timestamptz DEFAULT now()",
        "ALTER COLUMN customer_id TYPE bigint"}) {
    ProcessResult r = RunShadowcopy(ToolArgs("orders", {"--alter", alter}));
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    MustExec(db(),
             "DROP TABLE IF EXISTS probe; CREATE TABLE probe (LIKE truth INCLUDING ALL);"
             "INSERT INTO probe SELECT * FROM truth LIMIT 10");
    std::string node = QueryValue(db(), "SELECT pg_relation_filenode('probe')");
    MustExec(db(), std::string("ALTER TABLE probe ") + alter);
    bool rewrote = QueryValue(db(), "SELECT pg_relation_filenode('probe')") != node;
    EXPECT_EQ(PlanRewriteAnswer(r.out), rewrote ? "yes" : "no") << alter << "\n" << r.Describe();
  }
}

TEST_F(CliTest, DryRunOfPlainRebuild) {
  std::string before = Relations();
  ProcessResult r = RunShadowcopy(ToolArgs("orders"));
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.out.find("_orders_shadow"), std::string::npos) << r.Describe();
  EXPECT_EQ(Relations(), before);
  ExpectNothingLeftBehind("orders");
}

TEST_F(CliTest, MissingTable) { ExpectCleanError(ToolArgs("no_such_table", {"--execute"})); }

TEST_F(CliTest, MissingSchema) {
  ExpectCleanError(ToolArgs("orders", {"--schema", "no_such_schema", "--execute"}));
}

TEST_F(CliTest, TableWithoutPrimaryKey) {
  MustExec(db(), "CREATE TABLE nopk (a int, b text); INSERT INTO nopk VALUES (1, 'x')");
  ExpectCleanError(ToolArgs("nopk", {"--execute"}));
  ExpectNothingLeftBehind("nopk");
}

TEST_F(CliTest, InvalidAlterSyntax) {
  ExpectCleanError(ToolArgs("orders", {"--alter", "ALTER COLUMN id TYPO bigint", "--execute"}));
}

TEST_F(CliTest, AlterOfMissingColumn) {
  ExpectCleanError(
      ToolArgs("orders", {"--alter", "ALTER COLUMN no_such_column TYPE bigint", "--execute"}));
}

TEST_F(CliTest, SmuggledStatementDoesNotRun) {
  ExpectCleanError(
      ToolArgs("orders", {"--alter", "ADD COLUMN x int; DROP TABLE orders", "--execute"}));
  EXPECT_TRUE(TableExists("orders")) << "the smuggled DROP TABLE ran";
  EXPECT_EQ(QueryValue(db(),
                       "SELECT count(*) FROM pg_attribute WHERE attrelid = "
                       "'orders'::regclass AND attname = 'x'"),
            "0");
}

// An ALTER that is valid on an empty table but fails on the data: the error
// comes after the shadow, slot and publication exist, and they must go.
class CliDataErrorTest : public CliTest {
 protected:
  void ExpectDataError(const std::string& alter) {
    std::string before = PublicRelations();
    std::string oid = TableOid("orders");
    ProcessResult r = RunShadowcopy(ToolArgs("orders", {"--alter", alter, "--execute"}));
    ExpectFailedWithOneErrorLine(r);
    EXPECT_EQ(PublicRelations(), before) << r.Describe();
    EXPECT_EQ(TableOid("orders"), oid) << "orders was replaced";
    ExpectNothingLeftBehind("orders");
    ExpectMirrorEqual(db(), "orders", "truth");
  }
};

TEST_F(CliDataErrorTest, TypeChangeFailsOnData) {
  ExpectDataError("ALTER COLUMN status TYPE integer USING status::integer");
}

TEST_F(CliDataErrorTest, NarrowingTypeOverflowsOnData) {
  ExpectDataError("ALTER COLUMN amount TYPE numeric(4,2)");
}

TEST_F(CliDataErrorTest, CheckConstraintViolatedByData) {
  ExpectDataError("ADD CONSTRAINT amount_negative CHECK (amount < 0)");
}

// pgoutput cannot publish UPDATE/DELETE of a table without a replica
// identity: a publication would make the application's writes fail.
TEST_F(CliTest, ReplicaIdentityNothingIsRefused) {
  MustExec(db(), "ALTER TABLE orders REPLICA IDENTITY NOTHING");
  ExpectCleanError(ToolArgs("orders", {"--execute"}));
  auto update = db().Exec(
      "UPDATE orders SET status = 'x' WHERE id = 1; "
      "UPDATE truth SET status = 'x' WHERE id = 1");
  EXPECT_TRUE(update.ok()) << "the application can no longer update: " << update.status();
}

TEST_F(CliTest, UnreachableDatabase) {
  ProcessResult r =
      RunShadowcopy({"--table", "orders", "--dsn", "dbname=no_such_database_x", "--execute"});
  ExpectFailedWithOneErrorLine(r);
}

TEST_F(CliTest, CleanupWithNothingToDo) {
  std::string before = Relations();
  ProcessResult r = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn(), "--execute"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(Relations(), before);
  EXPECT_TRUE(TableExists("orders"));
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  std::string before = Relations();
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--dsn", dsn(), "--execute"},  // no --table
           {"--table", "orders", "--dsn", dsn(), "--no-such-flag"},
           {"--table", "orders", "--dsn", dsn(), "--chunk-size", "not-a-number"}}) {
    ProcessResult r = RunShadowcopy(args);
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
  }
  EXPECT_EQ(Relations(), before);
}

}  // namespace
}  // namespace shadowcopy::it
