// Online rewrites of tables whose key is not a serial integer: a composite
// (int, text) key, a text key and a uuid key. One writer mirrors inserts,
// updates, key updates and deletes into a truth table while the tool runs;
// the result must equal the truth with the same ALTER applied offline.
#include <atomic>
#include <random>
#include <thread>

#include "common/status.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;

struct KeyedTableCase {
  const char* name;      // table name; the truth is <name>_truth
  const char* key_defs;  // key column definitions
  const char* key_cols;  // key column names
  const char* key_sql;   // key values from an integer SQL expression {0}
  const char* alter;     // --alter
  // No primary key: the key is a unique index over NOT NULL columns, and the
  // run sets the replica identity to it for its duration only.
  bool unique_index_only = false;
};

const KeyedTableCase kCases[] = {
    {"composite_keyed", "a int, b text", "a, b", "({0}) % 100, 'k' || ({0})",
     "ADD COLUMN extra int DEFAULT 7"},
    {"text_keyed", "k text", "k", "'key-' || lpad(({0})::text, 8, '0')",
     "ALTER COLUMN v TYPE bigint"},
    {"uuid_keyed", "u uuid", "u", "md5('u' || ({0}))::uuid",
     "ADD COLUMN extra int DEFAULT 7, ALTER COLUMN v TYPE bigint"},
    {"unique_keyed", "k text NOT NULL", "k", "'key-' || lpad(({0})::text, 8, '0')",
     "ALTER COLUMN v TYPE bigint", true},
};
constexpr int kKeyedRows = 20000;

std::string KeySql(const KeyedTableCase& c, const std::string& n) {
  return fmt::format(fmt::runtime(c.key_sql), n);
}

// Creates <name> and <name>_truth (same definition) and loads both.
absl::Status CreateKeyedTables(PgConn& conn, const KeyedTableCase& c, int rows) {
  std::string sql;
  for (const char* suffix : {"", "_truth"}) {
    if (c.unique_index_only && *suffix == '\0') {
      sql += fmt::format(
          "CREATE TABLE {0} ({1}, v int NOT NULL, payload text); "
          "CREATE UNIQUE INDEX {0}_key ON {0} ({2});",
          c.name, c.key_defs, c.key_cols);
      continue;
    }
    sql += fmt::format(
        "CREATE TABLE {0}{1} ({2}, v int NOT NULL, payload text, "
        "PRIMARY KEY ({3}));",
        c.name, suffix, c.key_defs, c.key_cols);
  }
  sql += fmt::format(
      "INSERT INTO {0} SELECT {1}, g % 1000, 'p' || g FROM generate_series(1, {2}) g;"
      "INSERT INTO {0}_truth SELECT * FROM {0};",
      c.name, KeySql(c, "g"), rows);
  return conn.Exec(sql).status();
}

// One writer mirroring single-row changes into <name> and <name>_truth.
class KeyedMirrorWriter {
 public:
  KeyedMirrorWriter(const KeyedTableCase& c, std::unique_ptr<PgConn> conn, int rows)
      : case_(c), conn_(std::move(conn)), next_n_(rows + 1) {
    for (int n = 1; n <= rows; ++n) live_.push_back(n);
  }
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::vector<std::string>& errors() const { return errors_; }  // after Stop
  int64_t committed() const { return committed_; }

 private:
  // Runs `sql_for_table` (with {T} for the table) on both tables, each
  // statement affecting exactly one row, in one transaction.
  absl::Status Mirror(const std::string& sql_for_table) {
    auto begin = conn_->Exec("BEGIN");
    if (!begin.ok()) return begin.status();
    for (const char* suffix : {"", "_truth"}) {
      std::string table = std::string(case_.name) + suffix;
      auto res = conn_->Exec(fmt::format(fmt::runtime(sql_for_table), fmt::arg("T", table)));
      if (!res.ok()) return res.status();
      if (res->Affected() != 1)
        return absl::InternalError(fmt::format("{} affected {} rows", table, res->Affected()));
    }
    return conn_->Exec("COMMIT").status();
  }

  absl::Status OneChange() {
    size_t i = std::uniform_int_distribution<size_t>(0, live_.size() - 1)(rng_);
    std::string where =
        fmt::format("({}) = ({})", case_.key_cols, KeySql(case_, std::to_string(live_[i])));
    int r = std::uniform_int_distribution<int>(0, 99)(rng_);
    if (r < 30) {
      int64_t n = next_n_++;
      RETURN_IF_ERROR(Mirror(fmt::format("INSERT INTO {{T}} VALUES ({}, {}, 'ins')",
                                         KeySql(case_, std::to_string(n)), r)));
      live_.push_back(n);
    } else if (r < 65) {
      RETURN_IF_ERROR(
          Mirror(fmt::format("UPDATE {{T}} SET v = {0}, payload = 'u{0}' WHERE {1}", r, where)));
    } else if (r < 80) {
      int64_t n = next_n_++;
      RETURN_IF_ERROR(Mirror(fmt::format("UPDATE {{T}} SET ({}) = ROW({}) WHERE {}", case_.key_cols,
                                         KeySql(case_, std::to_string(n)), where)));
      live_[i] = n;
    } else {
      RETURN_IF_ERROR(Mirror(fmt::format("DELETE FROM {{T}} WHERE {}", where)));
      live_[i] = live_.back();
      live_.pop_back();
    }
    return absl::OkStatus();
  }

  void Run() {
    while (!stop_) {
      absl::Status st = OneChange();
      if (st.ok()) {
        ++committed_;
      } else {
        errors_.push_back(st.ToString());
        conn_->RollbackQuietly();
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
  }

  const KeyedTableCase& case_;
  std::unique_ptr<PgConn> conn_;
  std::vector<int64_t> live_;
  int64_t next_n_;
  std::mt19937_64 rng_{42};
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> committed_{0};
  std::vector<std::string> errors_;
  std::thread thread_;
};

class KeyedTableTest : public DatabaseTest, public ::testing::WithParamInterface<KeyedTableCase> {};

TEST_P(KeyedTableTest, OnlineAlterEqualsTruth) {
  const KeyedTableCase& c = GetParam();
  ASSERT_TRUE(CreateKeyedTables(db(), c, kKeyedRows).ok());
  KeyedMirrorWriter writer(c, Connect(), kKeyedRows);
  writer.Start();
  std::this_thread::sleep_for(milliseconds(300));
  ProcessResult result =
      RunShadowcopy(ToolArgs(c.name, {"--alter", c.alter, "--execute", "--chunk-size", "1000"}));
  std::this_thread::sleep_for(milliseconds(500));
  writer.Stop();
  ExpectSucceeded(result);
  EXPECT_TRUE(writer.errors().empty()) << writer.errors().front();
  EXPECT_GT(writer.committed(), 0);
  std::string truth = std::string(c.name) + "_truth";
  ASSERT_TRUE(TransformTruth(db(), truth, c.alter).ok());
  ExpectMirrorEqual(db(), c.name, truth);
  ExpectNothingLeftBehind(c.name);
  if (c.unique_index_only) {
    // The replica identity the run needed is not left on the new table.
    EXPECT_EQ(QueryValue(db(), std::string("SELECT relreplident FROM pg_class WHERE oid = '") + c.name +
                                   "'::regclass"),
              "d");
  }
}

INSTANTIATE_TEST_SUITE_P(Keys, KeyedTableTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<KeyedTableCase>& info) {
                           return std::string(info.param.name);
                         });

class CaseInsensitiveKeyTest : public DatabaseTest {};

// A key under a case-insensitive collation, its case changed while replay is
// held: the group's delete of 'k…' and upsert of 'K…' (different text, one
// row to the index) may land on two apply connections, which then wait on
// each other. The group must go again on one connection, and the new table
// must hold exactly the original's rows, case included.
TEST_F(CaseInsensitiveKeyTest, ParallelApplyFallsBackToOneConnection) {
  if (QueryValue(db(), "SELECT count(*) FROM pg_collation WHERE collprovider = 'i'") == "0")
    GTEST_SKIP() << "this server has no ICU collations";
  MustExec(db(), "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)");
  MustExec(db(), "CREATE TABLE ci_keyed (k text COLLATE ci PRIMARY KEY, v int NOT NULL)");
  MustExec(db(), "INSERT INTO ci_keyed SELECT 'k' || lpad(i::text, 5, '0'), i FROM generate_series(1, 3000) i");
  PausePoint pause;
  auto tool = ShadowcopyProcess::Start(
      ToolArgs("ci_keyed", {"--execute", "--chunk-size", "500", "--apply-workers", "2"}),
      [&] {
        EnvVars env = pause.Env("before-batch:2");
        env["SHADOWCOPY_TEST_PARALLEL_APPLY_ROWS"] = "1";
        return env;
      }());
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(std::chrono::seconds(60))) << (*tool)->Wait(std::chrono::seconds(5)).Describe();
  // One transaction: held (deferred replay), then applied as one group.
  MustExec(db(), "UPDATE ci_keyed SET k = upper(k), v = v + 1 WHERE v % 3 = 0");
  pause.Continue();
  ProcessResult result = (*tool)->Wait(std::chrono::seconds(120));
  ExpectSucceeded(result);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM ci_keyed WHERE k COLLATE \"C\" LIKE 'K%'"), "1000");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM ci_keyed"), "3000");
  ASSERT_TRUE(TableExists(OldTableOf("ci_keyed")));
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM " + OldTableOf("ci_keyed") + " o FULL JOIN ci_keyed n "
                             "ON o.k COLLATE \"C\" = n.k COLLATE \"C\" AND o.v = n.v WHERE o.k IS NULL OR n.k IS NULL"),
            "0");
  EXPECT_NE(result.err.find("applying it on one connection"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace shadowcopy::it
