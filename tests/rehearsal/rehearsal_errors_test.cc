// The rehearsal's failures: one clear status each, nothing created on the
// target, and nothing left behind (fixture: no scratch database, temporary
// directory or server process of this process). Also the keep-data mode and
// a stop request.
#include <chrono>
#include <stop_token>
#include <thread>

#include "engine/workflow/rehearsal.h"
#include "engine/workflow/rehearsal_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/rehearsal/rehearsal_fixture.h"

namespace shadowcopy::rehearsal_test {
namespace {

using ::testing::HasSubstr;
using workflow::PlanFacts;
using workflow::RehearsalMode;
using workflow::RehearsalOptions;

class ErrorsTest : public RehearsalTest, public ::testing::WithParamInterface<RehearsalMode> {
 protected:
  RehearsalOptions Options() const {
    RehearsalOptions o;
    o.mode = GetParam();
    o.rehearsal_dsn = StagingDsn();
    return o;
  }
};

TEST_P(ErrorsTest, StatementFailingOnTheRehearsal) {
  Exec("CREATE TABLE orders (id int PRIMARY KEY, total int); INSERT INTO orders VALUES (1, -5)");
  std::string before = SchemaFingerprint(*conn_);
  auto statements = Statements(
      "ALTER TABLE orders ADD COLUMN note text;\n"
      "\n"
      "ALTER TABLE orders ADD CONSTRAINT orders_total_check\n"
      "  CHECK (total > 0 AND note = 1);\n"
      "ALTER TABLE orders DROP COLUMN note;\n",
      "0001_add.sql");
  PlanFacts facts;
  auto r = workflow::Rehearse(TargetDsn(), statements, Options(), &facts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("0001_add.sql:3: operator does not exist: text = integer"));
  ASSERT_EQ(facts.statements.size(), 3u);
  EXPECT_FALSE(facts.statements[0].observation.error.has_value());
  EXPECT_TRUE(facts.statements[0].observation.rehearsed);
  EXPECT_EQ(facts.statements[1].statement.line, 3);
  EXPECT_THAT(facts.statements[1].observation.error.value_or(""), HasSubstr("operator does not exist"));
  EXPECT_FALSE(facts.statements[2].observation.rehearsed);
  EXPECT_THAT(facts.statements[2].observation.note, HasSubstr("earlier statement failed"));
  // Sizes are still read for the report: production's row, not the rehearsal's.
  EXPECT_TRUE(facts.sizes.count("public.orders"));
  EXPECT_EQ(SchemaFingerprint(*conn_), before);
}

TEST_P(ErrorsTest, MissingTable) {
  Exec("CREATE TABLE orders (id int PRIMARY KEY)");
  PlanFacts facts;
  auto r = workflow::Rehearse(TargetDsn(), Statements("ALTER TABLE \"Orders\" ADD COLUMN x int"), Options(), &facts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("migration.sql:1: relation \"Orders\" does not exist"));
  ASSERT_EQ(facts.statements.size(), 1u);
  EXPECT_THAT(facts.statements[0].observation.error.value_or(""), HasSubstr("does not exist"));
  EXPECT_EQ(Value("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'x'"), "0");
}

TEST_P(ErrorsTest, UnreachableTarget) {
  auto r = workflow::Rehearse("host=/nonexistent port=1 dbname=x", Statements("SELECT 1"), Options());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("cannot connect"));
}

TEST_P(ErrorsTest, StopRequestCancelsAndCleansUp) {
  Exec("CREATE TABLE orders (id int PRIMARY KEY)");
  std::stop_source stop;
  RehearsalOptions o = Options();
  o.stop = stop.get_token();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop.request_stop();  // what the command's signal watcher does on SIGINT
  });
  auto start = std::chrono::steady_clock::now();
  auto r = workflow::Rehearse(TargetDsn(), Statements("ALTER TABLE orders ADD COLUMN x int; SELECT pg_sleep(60)"), o);
  stopper.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

INSTANTIATE_TEST_SUITE_P(Modes, ErrorsTest, ::testing::Values(RehearsalMode::kDsn, RehearsalMode::kLocal),
                         [](const auto& info) { return info.param == RehearsalMode::kLocal ? "Local" : "Dsn"; });

using StagingTest = RehearsalTest;

TEST_F(StagingTest, UnreachableStagingServer) {
  RehearsalOptions o;
  o.mode = RehearsalMode::kDsn;
  o.rehearsal_dsn = "host=/nonexistent port=1 dbname=x";
  auto r = workflow::Rehearse(TargetDsn(), Statements("SELECT 1"), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("the rehearsal server"));
}

// --rehearsal-keep-data: the staging database itself, its real rows, every
// change rolled back; the file's own block becomes a savepoint.
TEST_F(StagingTest, KeepDataRollsEverythingBack) {
  Exec("CREATE TABLE orders (id int PRIMARY KEY, total int);"
       " INSERT INTO orders SELECT g, g FROM generate_series(1, 20000) g; ANALYZE orders");
  std::string before = SchemaFingerprint(*conn_);
  RehearsalOptions o;
  o.mode = RehearsalMode::kDsn;
  o.rehearsal_dsn = TargetDsn();
  o.keep_data = true;
  auto facts = workflow::Rehearse(TargetDsn(),
                                  Statements("ALTER TABLE orders ALTER COLUMN id TYPE bigint;\n"
                                             "BEGIN;\n"
                                             "UPDATE orders SET total = 0;\n"
                                             "ALTER TABLE orders ADD CONSTRAINT orders_total CHECK (total >= 0);\n"
                                             "COMMIT;\n"
                                             "CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);\n"),
                                  o);
  ASSERT_TRUE(facts.ok()) << facts.status();
  ASSERT_EQ(facts->statements.size(), 6u);
  const auto& alter = facts->statements[0].observation;
  ASSERT_EQ(alter.locks.size(), 2u);  // the table and its primary key index
  EXPECT_EQ(alter.locks[0].relation, "public.orders");
  EXPECT_EQ(alter.locks[0].mode, "AccessExclusiveLock");
  EXPECT_THAT(alter.rewrites, ::testing::ElementsAre("public.orders", "public.orders_pkey"));
  // Real rows: the rewrite of 20000 rows takes measurable time.
  EXPECT_GT(alter.duration_ms, 1.0);
  // Inside the block, only what the block took: orders was held already.
  EXPECT_THAT(facts->statements[2].observation.locks, ::testing::IsEmpty());
  EXPECT_THAT(facts->statements[3].observation.validated_constraints,
              ::testing::ElementsAre("public.orders.orders_total"));
  EXPECT_FALSE(facts->statements[5].observation.rehearsed);
  EXPECT_THAT(facts->statements[5].observation.note, HasSubstr("CREATE INDEX CONCURRENTLY cannot run inside"));
  EXPECT_EQ(facts->sizes.at("public.orders").rows, 20000);
  EXPECT_GT(facts->sizes.at("public.orders").bytes, 0);
  EXPECT_EQ(SchemaFingerprint(*conn_), before);
  EXPECT_EQ(Value("SELECT sum(total) FROM orders"), "200010000");
}

TEST(BinDirTest, MissingServerBinaries) {
  auto dir = workflow::FindBinDir(99, {"initdb", "postgres"}, false);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(dir.status().message(), HasSubstr("PostgreSQL 99's initdb, postgres"));
  EXPECT_THAT(dir.status().message(), HasSubstr("/usr/lib/postgresql/99/bin"));
  auto found = workflow::FindBinDir(15, {"initdb", "postgres", "pg_dump", "psql"}, false);
  ASSERT_TRUE(found.ok()) << found.status();
}

}  // namespace
}  // namespace shadowcopy::rehearsal_test
