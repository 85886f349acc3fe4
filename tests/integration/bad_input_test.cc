// Bad inputs: each is refused with exit code 1 and exactly one
// "shadowcopy: error:" line, creates no slot, publication, shadow table or
// `shadowcopy` schema, and leaves the table as it was. Plus one success case
// with awkward identifiers.
//
// Not tested here: wal_level != logical. The test server runs with
// wal_level = logical and changing it needs a restart, which would disturb
// every other test sharing the server.
#include <atomic>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/standby.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

class BadInputTest : public DatabaseTest {
 protected:
  // Takes every free replication slot of the server: see exclusive_server_.
  BadInputTest() { exclusive_server_ = CurrentTestIsOneOf({"NoFreeReplicationSlot"}); }

  void TearDown() override {
    if (HasDb()) {
      for (const auto& slot : fill_slots_)
        db().Exec("SELECT pg_drop_replication_slot('" + slot + "')").IgnoreError();
    }
    DatabaseTest::TearDown();
    if (role_.empty()) return;
    ConnectOptions options;
    options.dsn = "dbname=postgres";
    auto admin = PgConn::Connect(options);
    if (admin.ok()) MustExec(**admin, "DROP ROLE IF EXISTS " + role_);
  }

  // What must not change: the relation's identity, storage, kind, replica
  // identity, columns and content.
  std::string Fingerprint(const std::string& qualified) {
    std::string rel = QueryValue(
        db(), "SELECT oid || ':' || relfilenode || ':' || relkind::text || ':' || relreplident::text || ':' || "
              "(SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ',' ORDER BY "
              "attnum) FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0) "
              "FROM pg_class c WHERE oid = '" +
                  qualified + "'::regclass");
    std::string content = QueryValue(db(), "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY "
                                           "t::text), '')) FROM " +
                                               qualified + " t");
    return rel + "/" + content;
  }

  std::string OurSlots() {
    return QueryValue(db(),
                      "SELECT count(*) FROM pg_replication_slots WHERE database = "
                      "current_database() AND slot_name NOT LIKE 'fill\\_%'");
  }

  // Runs the tool on `table` and expects a clean refusal.
  ProcessResult ExpectRefused(const std::string& qualified, const std::vector<std::string>& args) {
    std::string before = Fingerprint(qualified);
    std::string pubs_before = QueryValue(db(), "SELECT count(*) FROM pg_publication");
    ProcessResult r = RunShadowcopy(args);
    ExpectFailedWithOneErrorLine(r);
    EXPECT_EQ(OurSlots(), "0") << "a replication slot was created\n" << r.Describe();
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_publication"), pubs_before)
        << "a publication was created\n"
        << r.Describe();
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_namespace WHERE nspname = 'shadowcopy'"),
              "0")
        << "the shadowcopy schema was created\n"
        << r.Describe();
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_class WHERE relname LIKE '%shadow%' AND relnamespace <> 'pg_catalog'::regnamespace"),
              "0")
        << "a shadow relation was created\n"
        << r.Describe();
    EXPECT_EQ(Fingerprint(qualified), before) << "the table changed\n" << r.Describe();
    return r;
  }

  void RunOddIdentifiers(size_t bytes);

  std::vector<std::string> fill_slots_;
  std::string role_;
};

TEST_F(BadInputTest, ViewNamedAsTable) {
  MustExec(db(),
           "CREATE TABLE base (id int PRIMARY KEY, v text);"
           "INSERT INTO base SELECT g, 'v' || g FROM generate_series(1, 100) g;"
           "CREATE VIEW base_view AS SELECT id, v FROM base");
  ExpectRefused("base_view", ToolArgs("base_view", {"--execute"}));
  ExpectRefused("base_view", ToolArgs("base_view", {"--alter", "ALTER COLUMN v TYPE varchar(20)",
                                                    "--execute"}));
}

TEST_F(BadInputTest, ForeignTableNamedAsTable) {
  if (!db().Exec("CREATE EXTENSION IF NOT EXISTS postgres_fdw").ok())
    GTEST_SKIP() << "postgres_fdw is not available";
  MustExec(db(),
           "CREATE TABLE remote_src (id int PRIMARY KEY, v text);"
           "INSERT INTO remote_src SELECT g, 'v' || g FROM generate_series(1, 10) g;"
           "CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname '" +
               dbname() + "'" +
               (getenv("PGHOST") ? std::string(", host '") + getenv("PGHOST") + "'" : "") +
               (getenv("PGPORT") ? std::string(", port '") + getenv("PGPORT") + "'" : "") +
               ");"
               "CREATE USER MAPPING FOR CURRENT_USER SERVER loopback;"
               "CREATE FOREIGN TABLE ft (id int NOT NULL, v text) SERVER loopback "
               "  OPTIONS (table_name 'remote_src')");
  // The fingerprint reads through the foreign table (loopback): fine.
  ExpectRefused("ft", ToolArgs("ft", {"--execute"}));
}

TEST_F(BadInputTest, PartitionedTable) {
  MustExec(db(),
           "CREATE TABLE parted (id int NOT NULL, k int NOT NULL, v text, PRIMARY KEY (id, k)) "
           "  PARTITION BY RANGE (k);"
           "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);"
           "CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (100) TO (200);"
           "INSERT INTO parted SELECT g, g % 200, 'v' FROM generate_series(1, 1000) g");
  ExpectRefused("parted", ToolArgs("parted", {"--execute"}));
}

TEST_F(BadInputTest, NoPrimaryKeyOrUsableUniqueIndex) {
  // A unique index on a nullable column, a partial unique index and a
  // deferrable unique constraint are no usable key.
  MustExec(db(),
           "CREATE TABLE nokey (a int, b int NOT NULL, c int NOT NULL, v text);"
           "CREATE UNIQUE INDEX nokey_a ON nokey (a);"
           "CREATE UNIQUE INDEX nokey_b_partial ON nokey (b) WHERE b > 0;"
           "ALTER TABLE nokey ADD CONSTRAINT nokey_c UNIQUE (c) DEFERRABLE;"
           "INSERT INTO nokey SELECT g, g, g, 'v' FROM generate_series(1, 500) g");
  ExpectRefused("nokey", ToolArgs("nokey", {"--execute"}));
}

TEST_F(BadInputTest, ReplicaIdentityNothing) {
  MustExec(db(),
           "CREATE TABLE rin (id int PRIMARY KEY, v text);"
           "INSERT INTO rin SELECT g, 'v' FROM generate_series(1, 500) g;"
           "ALTER TABLE rin REPLICA IDENTITY NOTHING");
  ExpectRefused("rin", ToolArgs("rin", {"--execute"}));
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_publication_rel WHERE prrelid = 'rin'::regclass"),
            "0")
      << "the table was put into a publication";
  EXPECT_TRUE(db().Exec("UPDATE rin SET v = 'x' WHERE id = 1").ok())
      << "the application can no longer update";
}

TEST_F(BadInputTest, InsufficientPrivileges) {
  role_ = dbname().substr(0, 40) + "_weak";
  MustExec(db(), "DROP ROLE IF EXISTS " + role_);
  MustExec(db(), "CREATE ROLE " + role_ + " LOGIN NOREPLICATION NOSUPERUSER");
  MustExec(db(),
           "CREATE TABLE priv (id int PRIMARY KEY, v text);"
           "INSERT INTO priv SELECT g, 'v' FROM generate_series(1, 500) g;"
           "GRANT SELECT ON priv TO " +
               role_);
  ExpectRefused("priv", {"--table", "priv", "--dsn", "dbname=" + dbname() + " user=" + role_,
                         "--execute"});
}

TEST_F(BadInputTest, NoFreeReplicationSlot) {
  // max_replication_slots cannot be lowered without a restart: take every
  // free slot instead (dropped again in TearDown).
  MustExec(db(),
           "CREATE TABLE slotless (id int PRIMARY KEY, v text);"
           "INSERT INTO slotless SELECT g, 'v' FROM generate_series(1, 500) g");
  int free_slots = std::stoi(QueryValue(db(),
                                        "SELECT current_setting('max_replication_slots')::int - "
                                        "(SELECT count(*) FROM pg_replication_slots)"));
  ASSERT_LT(free_slots, 64) << "too many slots to fill";
  for (int i = 0; i < free_slots; ++i) {
    std::string name = "fill_" + std::to_string(i) + "_" + std::to_string(getpid());
    auto r = db().Exec("SELECT pg_create_logical_replication_slot('" + name + "', 'pgoutput')");
    if (!r.ok()) break;  // another test took one meanwhile: the server is full anyway
    fill_slots_.push_back(name);
  }
  ASSERT_FALSE(fill_slots_.empty() && free_slots > 0);
  ExpectRefused("slotless", ToolArgs("slotless", {"--execute"}));
}

// A server without logical decoding: refused before anything is created,
// with the setting to change in the message.
TEST_F(BadInputTest, WalLevelNotLogical) {
  auto server = LocalStandby::StartFresh("sc_it_replica_level", "wal_level = replica");
  ASSERT_TRUE(server.ok()) << server.status();
  auto conn = (*server)->Connect("postgres");
  ASSERT_TRUE(conn.ok()) << conn.status();
  MustExec(**conn, "CREATE TABLE orders (id int PRIMARY KEY, v text);"
                   "INSERT INTO orders SELECT g, 'v' FROM generate_series(1, 100) g");
  ProcessResult r = RunShadowcopy({"--table", "orders", "--dsn", (*server)->Dsn("postgres"), "--execute"});
  ExpectFailedWithOneErrorLine(r);
  EXPECT_NE(r.err.find("wal_level"), std::string::npos) << r.Describe();
  EXPECT_EQ(QueryValue(**conn, "SELECT count(*) FROM pg_replication_slots"), "0") << r.Describe();
  EXPECT_EQ(QueryValue(**conn, "SELECT count(*) FROM pg_publication"), "0") << r.Describe();
  EXPECT_EQ(QueryValue(**conn, "SELECT to_regclass('public._orders_shadow') IS NULL AND "
                               "to_regnamespace('shadowcopy') IS NULL"),
            "t")
      << r.Describe();
  EXPECT_EQ(QueryValue(**conn, "SELECT count(*) FROM orders"), "100");
}

// A 63-byte unicode table name with a quote and a space, in a schema with a
// space, with quoted/upper-case/space column names, migrated under a small
// mirrored writer.
TEST_F(BadInputTest, OddIdentifiersSucceed) { RunOddIdentifiers(63); }

// The same with a name short enough that no derived name is truncated.
TEST_F(BadInputTest, OddIdentifiersShortNameSucceed) { RunOddIdentifiers(40); }

void BadInputTest::RunOddIdentifiers(size_t bytes) {
  std::string table = "Größe's Tabelle ";
  while (table.size() < bytes - 2) table += "ä";  // 2 bytes each
  while (table.size() < bytes) table += "x";
  ASSERT_EQ(table.size(), bytes);
  const std::string schema = "Odd Schema";
  const std::string qt = QuoteIdent(schema) + "." + QuoteIdent(table);
  const std::string qtruth = QuoteIdent(schema) + ".truth";
  const std::string lit = QuoteLiteral(qt);  // qt as a regclass literal
  MustExec(db(), "CREATE SCHEMA " + QuoteIdent(schema) +
                     ";"
                     "CREATE TABLE " +
                     qt +
                     " (\"Key Col\" int PRIMARY KEY, \"Val\"\"ue\" text, \"UPPER\" int NOT NULL);"
                     "CREATE INDEX \"Odd Index\" ON " +
                     qt +
                     " (\"UPPER\");"
                     "INSERT INTO " +
                     qt +
                     " SELECT g, 'v''' || g, g FROM generate_series(1, 3000) g;"
                     "CREATE TABLE " +
                     qtruth + " AS SELECT * FROM " + qt);
  const std::string old_oid = QueryValue(db(), "SELECT " + lit + "::regclass::oid");

  std::atomic<bool> stop{false};
  std::vector<std::string> errors;
  std::atomic<int> ops{0};
  std::thread writer([&] {
    auto conn = PgConn::Connect(TestConnectOptions(dbname()));
    if (!conn.ok()) {
      errors.push_back(conn.status().ToString());
      return;
    }
    std::mt19937 rng(7);
    int next = 100000;
    while (!stop.load()) {
      std::string sql;
      int op = rng() % 3;
      int id = 1 + rng() % 3000;
      if (op == 0) {
        id = next++;
        sql = absl::StrCat("BEGIN; INSERT INTO ", qt, " VALUES (", id, ", 'n''", id, "', ", id,
                           "); INSERT INTO ", qtruth, " VALUES (", id, ", 'n''", id, "', ", id,
                           "); COMMIT;");
      } else if (op == 1) {
        sql = absl::StrCat("BEGIN; UPDATE ", qt, " SET \"UPPER\" = \"UPPER\" + 1 WHERE \"Key Col\" = ",
                           id, "; UPDATE ", qtruth,
                           " SET \"UPPER\" = \"UPPER\" + 1 WHERE \"Key Col\" = ", id, "; COMMIT;");
      } else {
        sql = absl::StrCat("BEGIN; DELETE FROM ", qt, " WHERE \"Key Col\" = ", id,
                           "; DELETE FROM ", qtruth, " WHERE \"Key Col\" = ", id, "; COMMIT;");
      }
      auto r = (*conn)->Exec(sql);
      if (!r.ok()) {
        if (errors.size() < 10) errors.push_back(r.status().ToString());
        (*conn)->RollbackQuietly();
      } else {
        ops.fetch_add(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ProcessResult r = RunShadowcopy(
      {"--table", table, "--schema", schema, "--dsn", dsn(), "--alter",
       "ALTER COLUMN \"UPPER\" TYPE bigint", "--execute", "--chunk-size", "500"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop.store(true);
  writer.join();
  ExpectSucceeded(r);
  EXPECT_TRUE(errors.empty()) << "the writer saw errors: " << (errors.empty() ? "" : errors[0]);
  EXPECT_GT(ops.load(), 5);
  ExpectNothingLeftBehind(table);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_class WHERE relname LIKE '%shadow%' AND relnamespace <> 'pg_catalog'::regnamespace"), "0");
  if (r.exit_code != 0) return;
  EXPECT_NE(QueryValue(db(), "SELECT " + lit + "::regclass::oid"), old_oid)
      << "the table was not replaced";
  EXPECT_EQ(QueryValue(db(), "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                             "attrelid = " +
                                 lit + "::regclass AND attname = 'UPPER'"),
            "bigint");
  EXPECT_EQ(QueryValue(db(), "SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = "
                             "'" + QuoteIdent(schema) + ".\"Odd Index\"'::regclass"),
            qt);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM ((SELECT * FROM " + qt + " EXCEPT ALL SELECT * FROM " +
                                 qtruth + ") UNION ALL (SELECT * FROM " + qtruth +
                                 " EXCEPT ALL SELECT * FROM " + qt + ")) d"),
            "0")
      << "the table differs from the truth";
}

}  // namespace
}  // namespace shadowcopy::it
