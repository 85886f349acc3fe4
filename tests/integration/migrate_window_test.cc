// `migrate --revert-window` against a real server, under the mirror
// workload: a migration that is one online rewrite keeps its window open
// after the cutover (history `applied`, window open in `status`), writers go
// on writing into the new table, and `migrate down` inside the window undoes
// it by the lossless revert — no down file needed, the table back in its
// old schema and exactly equal to the mirror, no writer error, the history
// `undone` with a `reverted` event, no slot or publication left. A window
// that simply ends is held before the next migration starts, and then
// `migrate down` takes the down file. Bad window options: one line, exit 2.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

class MigrateWindowTest : public DatabaseTest {
 protected:
  void SetUp() override {
    DatabaseTest::SetUp();
    char tmpl[] = "/tmp/sc_it_window.XXXXXX";
    const char* made = mkdtemp(tmpl);
    ASSERT_NE(made, nullptr);
    dir_ = made;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    DatabaseTest::TearDown();
  }

  void Write(const std::string& file, const std::string& text) {
    std::ofstream out(dir_ + "/" + file, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::vector<std::string> WindowArgs(std::vector<std::string> words) {
    std::vector<std::string> args = {"migrate"};
    args.insert(args.end(), words.begin(), words.end());
    for (const std::string& w : {std::string("--dir"), dir_, std::string("--dsn"), dsn()}) args.push_back(w);
    return args;
  }
  ProcessResult Migrate(std::vector<std::string> words) { return RunShadowcopy(WindowArgs(std::move(words))); }

  // The status JSON's entry for `version`.
  nlohmann::json StatusOf(const std::string& version) {
    auto r = Migrate({"status", "--format", "json"});
    auto j = nlohmann::json::parse(LastLine(r.out), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.Describe();
    if (!j.is_discarded())
      for (const auto& m : j["migrations"])
        if (m["version"] == version) return m;
    return nlohmann::json();
  }

  std::string CustomerIdType() {
    return QueryValue(db(), "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                            "WHERE attrelid = 'orders'::regclass AND attname = 'customer_id'");
  }

  std::string dir_;
};

// Inside the window: `migrate down` reverts losslessly (the migration has no
// down file at all), writers never stop, every write is kept.
TEST_F(MigrateWindowTest, DownInsideTheWindowRevertsLosslessly) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 1000, 300).ok());
  Write("V1__widen_customer.sql", "ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;\n");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto run = ShadowcopyProcess::Start(
      WindowArgs({"--execute", "--revert-window", "120s", "--revert-accept", "out-of-range"}));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE((*run)->WaitForStderr("its revert window is open", 120s)) << (*run)->Wait(5s).Describe();
  EXPECT_EQ(CustomerIdType(), "bigint");
  auto st = StatusOf("1");
  EXPECT_EQ(st["state"], "applied") << st.dump();
  EXPECT_EQ(st["revert_window"]["state"], "open") << st.dump();
  std::this_thread::sleep_for(1000ms);  // writes into the new table
  ProcessResult dry = Migrate({"down"});
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_THAT(dry.out, HasSubstr("inside its revert window"));
  ProcessResult down = Migrate({"down", "--execute"});
  EXPECT_EQ(down.exit_code, 0) << down.Describe();
  EXPECT_THAT(down.out, HasSubstr("reverted in its revert window"));
  ProcessResult ran = (*run)->Wait(60s);
  std::this_thread::sleep_for(500ms);  // writes into the old table, back in place
  workload.Stop();
  EXPECT_EQ(ran.exit_code, 1) << ran.Describe();
  EXPECT_THAT(ran.err, HasSubstr("was reverted during its revert window"));
  ExpectNoWorkloadErrors(workload);
  EXPECT_EQ(CustomerIdType(), "integer");
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(StatusOf("1")["state"], "pending");
  EXPECT_EQ(QueryValue(db(), "SELECT state || ' ' || revert_window FROM shadowcopy.migrations WHERE version = '1'"),
            "undone reverted");
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(event, ',') FROM shadowcopy.migration_events WHERE version = '1'"),
            "reverted");
}

// A window that ends is held before the next migration starts; then it is
// closed in the history and `migrate down` takes the down file.
TEST_F(MigrateWindowTest, WindowEndsBeforeTheNextMigrationThenDownUsesTheDownFile) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 500, 300).ok());
  Write("V1__widen_customer.sql", "ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;\n");
  Write("U1__widen_customer.sql", "ALTER TABLE orders ALTER COLUMN customer_id TYPE integer;\n");
  Write("V2__status_index.sql", "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n");
  Write("U2__status_index.sql", "DROP INDEX CONCURRENTLY orders_status_idx;\n");
  ProcessResult dry = Migrate({"--revert-window", "2s", "--revert-accept", "out-of-range"});
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_THAT(dry.out, HasSubstr("--revert-window 2000ms --revert-accept out-of-range"));
  ProcessResult r = Migrate({"--execute", "--revert-window", "2s", "--revert-accept", "out-of-range"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  auto opened = r.err.find("its revert window is open");
  auto closed = r.err.find("revert window closed");
  auto next = r.err.find("V2__status_index.sql: [1/1]");
  ASSERT_NE(opened, std::string::npos) << r.err;
  ASSERT_NE(closed, std::string::npos) << r.err;
  ASSERT_NE(next, std::string::npos) << r.err;
  EXPECT_LT(opened, closed);
  EXPECT_LT(closed, next);
  EXPECT_EQ(QueryValue(db(), "SELECT revert_window FROM shadowcopy.migrations WHERE version = '1'"), "closed");
  EXPECT_EQ(StatusOf("1")["revert_window"]["state"], "closed");
  ExpectNothingLeftBehind("orders");
  ProcessResult down = Migrate({"down", "--to", "0"});
  EXPECT_EQ(down.exit_code, 0) << down.Describe();
  EXPECT_THAT(down.out, HasSubstr("U1__widen_customer.sql"));
  EXPECT_THAT(down.out, Not(HasSubstr("inside its revert window")));
}

// A migrate killed inside a window leaves the window open with nobody
// replaying writes back and its reverse slot retaining WAL: the next
// `migrate --execute` applies nothing and says what ends it (the dry run
// says so too); once `cleanup` has ended it, the next migration runs.
TEST_F(MigrateWindowTest, WindowLeftOpenByAKilledMigrateStopsTheNextUntilCleanup) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 500, 300).ok());
  Write("V1__widen_customer.sql", "ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;\n");
  Write("V2__status_index.sql", "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n");
  auto run = ShadowcopyProcess::Start(
      WindowArgs({"--execute", "--revert-window", "120s", "--revert-accept", "out-of-range"}));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE((*run)->WaitForStderr("its revert window is open", 120s)) << (*run)->Wait(5s).Describe();
  (*run)->Signal(SIGKILL);
  (*run)->Wait(30s);
  ASSERT_TRUE(PollUntilTrue(db(), "SELECT NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE active "
                                  "AND slot_name LIKE 'shadowcopy%' AND database = current_database())", 10s));
  ProcessResult dry = Migrate({});
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_THAT(dry.out, HasSubstr("note: --execute would stop here: version 1: the revert window of public.orders "
                                 "was left open by a run that ended"));
  ProcessResult refused = Migrate({"--execute"});
  ExpectFailedWithOneErrorLine(refused);
  EXPECT_THAT(refused.err, HasSubstr("shadowcopy cleanup --table orders --schema public --execute"));
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_class WHERE relname = 'orders_status_idx'"), "0");
  EXPECT_EQ(StatusOf("2")["state"], "pending");
  ProcessResult cleaned = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn(), "--execute"});
  EXPECT_EQ(cleaned.exit_code, 0) << cleaned.Describe();
  ProcessResult next = Migrate({"--execute"});
  EXPECT_EQ(next.exit_code, 0) << next.Describe();
  EXPECT_EQ(StatusOf("2")["state"], "applied");
  EXPECT_EQ(CustomerIdType(), "bigint");
  ExpectNothingLeftBehind("orders");
}

// The engine's own options, with the same names, go to each engine step of
// their kind (seen in the dry run's commands); a bad value is one line.
TEST_F(MigrateWindowTest, EngineOptionsGoToEachEngineStep) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 100, 300).ok());
  Write("V1__widen_customer.sql", "ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;\n");
  ProcessResult dry = Migrate({"--chunk-size", "500", "--batch-size", "200", "--max-active", "40"});
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_THAT(dry.out, HasSubstr("--drop-old-table --max-active 40 --chunk-size 500"));
  EXPECT_THAT(dry.out, Not(HasSubstr("--batch-size")));  // a backfill's only
  ProcessResult bad = Migrate({"--chunk-size", "lots"});
  EXPECT_EQ(bad.exit_code, 2) << bad.Describe();
  EXPECT_EQ(LinesStartingWith(bad.err, "shadowcopy: error:").size(), 1u) << bad.Describe();
}

TEST_F(MigrateWindowTest, BadWindowOptionsAreOneLine) {
  Write("V1__widen_customer.sql", "ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;\n");
  for (const auto& words : std::vector<std::vector<std::string>>{
           {"--revert-window", "soon"}, {"--health-check", "SELECT true"},
           {"--revert-window", "1m", "--health-max-failures", "0"}}) {
    ProcessResult r = Migrate(words);
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    EXPECT_EQ(LinesStartingWith(r.err, "shadowcopy: error:").size(), 1u) << r.Describe();
  }
}

}  // namespace
}  // namespace shadowcopy::it
