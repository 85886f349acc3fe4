// The rehearsal's failures: one clear status each, nothing created on the
// target, and nothing left behind (fixture: no scratch database, temporary
// directory or server process of this process). Also the keep-data mode and
// a stop request.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stop_token>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "common/pg.h"
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

using StagingTest = RehearsalTest;

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

TEST_P(ErrorsTest, UnreachableTarget) {
  auto r = workflow::Rehearse("host=/nonexistent port=1 dbname=x", Statements("SELECT 1"), Options());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("cannot connect"));
}

// True once a backend of the rehearsal runs the statement `pg_sleep`: on the
// test server (kDsn: pg_stat_activity) or on the throwaway one (kLocal: a
// backend of a postmaster running from this process's temporary directory,
// its process title showing the SELECT).
bool RehearsalSleeping(PgConn& conn, RehearsalMode mode, pid_t owner = getpid()) {
  if (mode == RehearsalMode::kDsn) {
    auto r = conn.Exec("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'");
    return r.ok() && r->GetString(0, 0) != "0";
  }
  std::string prefix = "shadowcopy-rehearsal-" + std::to_string(owner) + ".";
  auto read = [](const std::string& path) { return ReadProcFile(path); };
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    if (read(e.path() / "cmdline").find("[local] SELECT") == std::string::npos) continue;
    std::string stat = read(e.path() / "stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
    if (read("/proc/" + std::to_string(ppid) + "/cmdline").find(prefix) != std::string::npos) return true;
  }
  return false;
}

TEST_P(ErrorsTest, StopRequestCancelsTheStatementAndCleansUp) {
  Exec("CREATE TABLE orders (id int PRIMARY KEY)");
  std::stop_source stop;
  RehearsalOptions o = Options();
  o.stop = stop.get_token();
  std::atomic<bool> seen{false};
  std::chrono::steady_clock::time_point stopped_at;
  std::thread stopper([&] {
    ConnectOptions co;
    co.dsn = "dbname=postgres";
    auto conn = PgConn::Connect(co);
    for (int i = 0; i < 600 && conn.ok() && !seen; ++i) {
      if (RehearsalSleeping(**conn, GetParam())) seen = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stopped_at = std::chrono::steady_clock::now();
    stop.request_stop();  // what the command's signal watcher does on SIGINT
  });
  auto r = workflow::Rehearse(TargetDsn(), Statements("ALTER TABLE orders ADD COLUMN x int; SELECT pg_sleep(60)"), o);
  stopper.join();
  EXPECT_TRUE(seen) << "the rehearsal never ran the statement";
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, std::chrono::seconds(20));
}

// Processes whose command line names `prefix`.
int ProcessesNaming(const std::string& prefix) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::string cmdline = ReadProcFile(e.path() / "cmdline");
    if (cmdline.find(prefix) != std::string::npos) ++n;
  }
  return n;
}

// kill -9 of the process rehearsing: its server dies with it (parent-death
// signal) and the next rehearsal removes the directory it left.
TEST_F(StagingTest, KilledRunLeavesNoServerAndItsDirectoryGoesNextTime) {
  Exec("CREATE TABLE orders (id int PRIMARY KEY)");
  auto statements = Statements("SELECT pg_sleep(60)");
  std::string dsn = TargetDsn();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    RehearsalOptions o;
    (void)workflow::Rehearse(dsn, statements, o);
    _exit(0);
  }
  ConnectOptions co;
  co.dsn = "dbname=postgres";
  auto conn = PgConn::Connect(co);
  ASSERT_TRUE(conn.ok());
  bool sleeping = false;
  for (int i = 0; i < 1200 && !sleeping; ++i) {
    sleeping = RehearsalSleeping(**conn, RehearsalMode::kLocal, child);
    if (!sleeping) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(sleeping) << "the rehearsal never ran the statement";
  std::string prefix = "shadowcopy-rehearsal-" + std::to_string(child) + ".";
  for (int i = 0; i < 200 && ProcessesNaming(prefix) > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ProcessesNaming(prefix), 0) << "the rehearsal server outlived its owner";
  auto left = [&] {
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/tmp", ec))
      if (e.path().filename().string().rfind(prefix, 0) == 0) ++n;
    return n;
  };
  EXPECT_EQ(left(), 1);  // nobody could remove it
  { auto next = workflow::TempDir::Make(std::nullopt); }
  EXPECT_EQ(left(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, ErrorsTest, ::testing::Values(RehearsalMode::kDsn, RehearsalMode::kLocal),
                         [](const auto& info) { return info.param == RehearsalMode::kLocal ? "Local" : "Dsn"; });


RehearsalOptions DsnOptions() {
  RehearsalOptions o;
  o.mode = RehearsalMode::kDsn;
  o.rehearsal_dsn = "dbname=postgres";
  return o;
}

TEST_F(StagingTest, MissingTable) {
  Exec("CREATE TABLE orders (id int PRIMARY KEY)");
  PlanFacts facts;
  auto r = workflow::Rehearse(TargetDsn(), Statements("ALTER TABLE \"Orders\" ADD COLUMN x int"), DsnOptions(), &facts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("migration.sql:1: relation \"Orders\" does not exist"));
  ASSERT_EQ(facts.statements.size(), 1u);
  EXPECT_THAT(facts.statements[0].observation.error.value_or(""), HasSubstr("does not exist"));
  EXPECT_EQ(Value("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'x'"), "0");
}


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
TEST_F(StagingTest, KeepDataRefusesTheTargetItself) {
  Exec("CREATE TABLE orders (id int PRIMARY KEY)");
  std::string before = SchemaFingerprint(*conn_);
  RehearsalOptions o;
  o.mode = RehearsalMode::kDsn;
  o.rehearsal_dsn = TargetDsn();
  o.keep_data = true;
  auto r = workflow::Rehearse(TargetDsn(), Statements("ALTER TABLE orders ADD COLUMN x int"), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("the target database itself"));
  o.rehearsal_dsn = "";
  r = workflow::Rehearse(TargetDsn(), Statements("ALTER TABLE orders ADD COLUMN x int"), o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SchemaFingerprint(*conn_), before);
}

TEST_F(StagingTest, KeepDataRollsEverythingBack) {
  // Production and a staging copy of it with real rows.
  const char* schema =
      "CREATE TABLE orders (id int PRIMARY KEY, total int);"
      " INSERT INTO orders SELECT g, g FROM generate_series(1, 20000) g; ANALYZE orders";
  Exec(schema);
  std::string staging_db = db_ + "_staging";
  ConnectOptions co;
  co.dsn = "dbname=postgres";
  auto admin = PgConn::Connect(co);
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE((*admin)->Exec("DROP DATABASE IF EXISTS " + staging_db + " WITH (FORCE)").ok());
  ASSERT_TRUE((*admin)->Exec("CREATE DATABASE " + staging_db).ok());
  auto drop = absl::MakeCleanup([&] { (void)(*admin)->Exec("DROP DATABASE " + staging_db + " WITH (FORCE)"); });
  co.dsn = "dbname=" + staging_db;
  auto staging = PgConn::Connect(co);
  ASSERT_TRUE(staging.ok());
  ASSERT_TRUE((*staging)->Exec(schema).ok());
  std::string staging_before = SchemaFingerprint(**staging);
  std::string before = SchemaFingerprint(*conn_);
  RehearsalOptions o;
  o.mode = RehearsalMode::kDsn;
  o.rehearsal_dsn = "dbname=" + staging_db;
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
  EXPECT_EQ(SchemaFingerprint(**staging), staging_before);
  auto sum = (*staging)->Exec("SELECT sum(total) FROM orders");
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->GetString(0, 0), "200010000");
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
