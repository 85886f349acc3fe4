// Tables whose shape takes the less travelled paths of the decoder and the
// replay: dropped and stored generated columns (pgoutput sends neither),
// REPLICA IDENTITY FULL (updates and deletes carry the whole old row) with
// TOASTed values, identifiers that need quoting, and a UNIQUE column whose
// values rows swap inside one transaction (collapsing the changes would
// conflict; the replay must fall back to source order). Changes are made
// while the tool is paused before copy batch 2 (replay running), or by a
// writer running throughout; each is mirrored into a truth table.
#include <atomic>
#include <random>
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class TableShapesTest : public DatabaseTest {
 protected:
  // Runs the tool on `table` (in `schema`), pausing before copy batch 2 to
  // run `changes_sql`, which mirrors its changes into the truth.
  ProcessResult RunWithChangesDuringCopy(const std::string& schema, const std::string& table,
                                         const std::string& alter, const std::string& changes_sql) {
    PausePoint pause;
    auto tool = ShadowcopyProcess::Start(
        ToolArgs(table, {"--schema", schema, "--alter", alter, "--execute", "--chunk-size", "500"}),
        pause.Env("before-batch:2"));
    EXPECT_TRUE(tool.ok()) << tool.status();
    if (!tool.ok()) return {};
    if (!pause.WaitPaused(seconds(60))) return (*tool)->Wait(seconds(5));
    MustExec(db(), changes_sql);
    pause.Continue();
    return (*tool)->Wait(seconds(120));
  }

  void ExpectMigratedToTruth(const ProcessResult& r, const std::string& table,
                             const std::string& truth, const std::string& alter) {
    ExpectSucceeded(r);
    ExpectNothingLeftBehind(table);
    if (r.exit_code != 0) return;
    ASSERT_TRUE(TransformTruth(db(), truth, alter).ok());
    ExpectMirrorEqual(db(), table, truth);
  }
};

// The same changes on `table` and `truth` (SQL names): updates, key updates,
// deletes and an insert, in ranges both copied and not yet copied.
std::string MirroredChanges(const std::string& table, const std::string& truth,
                            const std::string& insert_cols_values) {
  std::string sql = "BEGIN;";
  for (const std::string& t : {table, truth})
    sql += fmt::format(
        "UPDATE {0} SET a = a + 1 WHERE id IN (10, 2500);"
        "UPDATE {0} SET c = 'changed' WHERE id IN (50, 2600);"
        "UPDATE {0} SET id = 100000 WHERE id = 100;"
        "UPDATE {0} SET id = 100001 WHERE id = 2700;"
        "DELETE FROM {0} WHERE id IN (40, 2800);"
        "INSERT INTO {0} {1};",
        t, insert_cols_values);
  return sql + "COMMIT";
}

TEST_F(TableShapesTest, DroppedAndGeneratedColumns) {
  for (const char* t : {"shapes", "shapes_truth"})
    MustExec(db(), fmt::format("CREATE TABLE {} (id int PRIMARY KEY, a int NOT NULL, gone text, "
                               "b int GENERATED ALWAYS AS (a * 2) STORED, c text);"
                               "ALTER TABLE {} DROP COLUMN gone",
                               t, t));
  MustExec(db(),
           "INSERT INTO shapes (id, a, c) SELECT g, g, 'c' || g FROM generate_series(1, 3000) g;"
           "INSERT INTO shapes_truth (id, a, c) SELECT id, a, c FROM shapes");
  const std::string alter = "ALTER COLUMN id TYPE bigint, ADD COLUMN d int DEFAULT 3";
  ProcessResult r = RunWithChangesDuringCopy(
      "public", "shapes", alter,
      MirroredChanges("shapes", "shapes_truth", "(id, a, c) VALUES (200000, 5, 'new')"));
  ExpectMigratedToTruth(r, "shapes", "shapes_truth", alter);
  EXPECT_EQ(QueryValue(db(), "SELECT b FROM shapes WHERE id = 2500"), "5002");
}

TEST_F(TableShapesTest, ReplicaIdentityFullWithToastedValues) {
  for (const char* t : {"rif", "rif_truth"})
    MustExec(db(), fmt::format("CREATE TABLE {} (id int PRIMARY KEY, a int NOT NULL, c text, "
                               "big text); ALTER TABLE {} REPLICA IDENTITY FULL",
                               t, t));
  MustExec(db(), "INSERT INTO rif SELECT g, g, 'c' || g, CASE WHEN g % 50 = 0 THEN " +
                     BigNoteSql("'rif' || g::text") +
                     " END FROM generate_series(1, 3000) g;"
                     "INSERT INTO rif_truth SELECT * FROM rif");
  const std::string alter = "ALTER COLUMN a TYPE bigint";
  ProcessResult r = RunWithChangesDuringCopy(
      "public", "rif", alter,
      MirroredChanges("rif", "rif_truth", "VALUES (200000, 5, 'new', NULL)"));
  ExpectMigratedToTruth(r, "rif", "rif_truth", alter);
}

TEST_F(TableShapesTest, IdentifiersThatNeedQuoting) {
  MustExec(db(), "CREATE SCHEMA \"Sales Dept\"; SET search_path = \"Sales Dept\"");
  for (const char* t : {"Order Items", "Order Items_truth"})
    MustExec(db(), fmt::format("CREATE TABLE \"{}\" (id int PRIMARY KEY, a int NOT NULL, "
                               "c text, \"Value \"\"q\"\"\" text)",
                               t));
  MustExec(db(),
           "INSERT INTO \"Order Items\" SELECT g, g, 'c' || g, 'v' || g "
           "FROM generate_series(1, 3000) g;"
           "INSERT INTO \"Order Items_truth\" SELECT * FROM \"Order Items\"");
  const std::string alter = "ALTER COLUMN \"Value \"\"q\"\"\" TYPE varchar(100)";
  std::string changes =
      MirroredChanges("\"Order Items\"", "\"Order Items_truth\"", "VALUES (200000, 5, 'new', 'v')");
  ProcessResult r = RunWithChangesDuringCopy("Sales Dept", "Order Items", alter, changes);
  ExpectMigratedToTruth(r, "Order Items", "Order Items_truth", alter);
  EXPECT_TRUE(TableExists(OldTableOf("Order Items")));
  EXPECT_EQ(QueryValue(db(),
                       "SELECT count(*) FROM pg_class WHERE relnamespace = "
                       "'public'::regnamespace"),
            "0");
}

// One writer swapping the UNIQUE emails of two rows per transaction (through
// a temporary value), on users and users_truth, until stopped.
class EmailSwapper {
 public:
  EmailSwapper(std::unique_ptr<PgConn> conn, int rows) : conn_(std::move(conn)), rows_(rows) {
    for (int id = 0; id <= rows; ++id) email_.push_back(fmt::format("u{}@example.com", id));
  }
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  std::vector<std::string> Stop() {  // returns the errors seen
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return errors_;
  }
  int64_t swaps() const { return swaps_; }

 private:
  void Run() {
    std::mt19937 rng(7);
    while (!stop_) {
      int a = std::uniform_int_distribution<int>(1, rows_)(rng);
      int b = std::uniform_int_distribution<int>(1, rows_)(rng);
      if (a == b) continue;
      std::string sql = "BEGIN;";
      for (const char* t : {"users", "users_truth"})
        sql += fmt::format(
            "UPDATE {0} SET email = 'swapping' WHERE id = {1};"
            "UPDATE {0} SET email = '{2}' WHERE id = {3};"
            "UPDATE {0} SET email = '{4}' WHERE id = {1};",
            t, a, email_[a], b, email_[b]);
      auto r = conn_->Exec(sql + "COMMIT");
      if (r.ok()) {
        std::swap(email_[a], email_[b]);
        ++swaps_;
      } else {
        errors_.push_back(r.status().ToString());
        conn_->RollbackQuietly();
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
  }

  std::unique_ptr<PgConn> conn_;
  const int rows_;
  std::vector<std::string> email_;  // by id
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> swaps_{0};
  std::vector<std::string> errors_;
  std::thread thread_;
};

TEST_F(TableShapesTest, UniqueValuesSwappedInsideTransactions) {
  constexpr int kUsers = 20000;
  for (const char* t : {"users", "users_truth"})
    MustExec(db(), fmt::format("CREATE TABLE {} (id int PRIMARY KEY, email text NOT NULL UNIQUE, "
                               "v int)",
                               t));
  MustExec(db(), fmt::format("INSERT INTO users SELECT g, 'u' || g || '@example.com', g "
                             "FROM generate_series(1, {}) g;"
                             "INSERT INTO users_truth SELECT * FROM users",
                             kUsers));
  EmailSwapper swapper(Connect(), kUsers);
  swapper.Start();
  std::this_thread::sleep_for(milliseconds(300));
  const std::string alter = "ALTER COLUMN v TYPE bigint";
  ProcessResult r =
      RunShadowcopy(ToolArgs("users", {"--alter", alter, "--execute", "--chunk-size", "1000"}));
  std::this_thread::sleep_for(milliseconds(300));
  std::vector<std::string> errors = swapper.Stop();
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_GT(swapper.swaps(), 0);
  ExpectMigratedToTruth(r, "users", "users_truth", alter);
  EXPECT_EQ(QueryValue(db(),
                       "SELECT count(*) FROM pg_index WHERE indrelid = 'users'::regclass "
                       "AND indisunique AND NOT indisprimary AND indisvalid"),
            "1")
      << "the UNIQUE index on email is gone";
}

}  // namespace
}  // namespace shadowcopy::it
