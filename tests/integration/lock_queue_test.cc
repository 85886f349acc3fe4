// The tool never stands in the lock queue in front of the application
// (DESIGN.md §4): before each lock request that conflicts with writers it
// waits, outside the queue, for a moment when no other session holds or
// awaits a conflicting lock, names the session it waits for (log, summary,
// `ctl status`), then asks with a short lock_timeout. The summary's
// "writers blocked" counts every attempt from the moment it entered the
// queue, the failed ones included. The dry run takes nothing stronger than
// ACCESS SHARE on the table.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/throttle_fixture.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr char kAlter[] = "ALTER COLUMN id TYPE bigint";

// Polls pg_locks for the tool's sessions' locks on one table (by oid: the
// name moves at the swap): whether one ever waited, and the modes held.
class LockWatcher {
 public:
  LockWatcher(std::unique_ptr<PgConn> conn, std::string oid) : conn_(std::move(conn)), oid_(std::move(oid)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~LockWatcher() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Only waits seen while armed count.
  void Arm(bool armed) { armed_ = armed; }
  int waits() const { return waits_; }
  std::set<std::string> modes() {
    std::lock_guard<std::mutex> g(mu_);
    return modes_;
  }
  std::string first_wait() {
    std::lock_guard<std::mutex> g(mu_);
    return first_wait_;
  }

 private:
  void Run() {
    const std::string sql = fmt::format(
        "SELECT l.mode, l.granted, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'relation' AND l.relation = {} AND a.application_name LIKE 'shadowcopy%' "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())", oid_);
    while (!stop_) {
      auto r = conn_->Exec(sql);
      if (r.ok()) {
        std::lock_guard<std::mutex> g(mu_);
        for (int i = 0; i < r->Rows(); ++i) {
          modes_.insert(r->GetString(i, 0));
          if (!r->GetBool(i, 1) && armed_) {
            if (waits_++ == 0) first_wait_ = r->GetString(i, 2) + " " + r->GetString(i, 0);
          }
        }
      }
      std::this_thread::sleep_for(milliseconds(3));
    }
  }
  std::unique_ptr<PgConn> conn_;
  std::string oid_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> waits_{0};
  std::atomic<bool> armed_{true};
  std::mutex mu_;
  std::set<std::string> modes_;
  std::string first_wait_;
};

// An application session doing a single-row UPDATE every 10 ms; the
// longest one is what writers waited.
class ProbeWriter {
 public:
  // `sql` changes nothing (the mirror stays equal), but writes: ROW EXCLUSIVE.
  explicit ProbeWriter(std::unique_ptr<PgConn> conn,
                       std::string sql = "UPDATE orders SET status = status WHERE id = 1")
      : conn_(std::move(conn)), sql_(std::move(sql)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~ProbeWriter() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  double max_ms() const { return max_us_ / 1000.0; }
  int errors() const { return errors_; }

 private:
  void Run() {
    while (!stop_) {
      auto t = Clock::now();
      auto r = conn_->Exec(sql_);
      int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
      if (!r.ok()) errors_++;
      if (us > max_us_) max_us_ = us;
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
  std::unique_ptr<PgConn> conn_;
  std::string sql_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> max_us_{0};
  std::atomic<int> errors_{0};
};

class LockQueueTest : public DatabaseTest {
 protected:
  void SetUp() override {
    DatabaseTest::SetUp();
    socket_ = fmt::format("/tmp/sc-lq-{}-{}.sock", ::getpid(), counter_++);
    ::unlink(socket_.c_str());
  }
  void TearDown() override {
    ::unlink(socket_.c_str());
    holder_.reset();  // its session would keep the test database from being dropped
    DatabaseTest::TearDown();
  }
  std::vector<std::string> MigrateArgs(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--alter", kAlter, "--execute", "--chunk-size", "500", "--socket", socket_};
    args.insert(args.end(), extra.begin(), extra.end());
    return ToolArgs("orders", args);
  }
  // A reporting session: SELECT ... FOR SHARE in an open transaction (ROW
  // SHARE on the table; by default no row matches, so no writer waits on a
  // row lock). Returns its pid.
  std::string HoldForShare(PgConn& holder,
                           const std::string& select = "SELECT id FROM orders WHERE id < 0 FOR SHARE") {
    std::string pid = QueryValue(holder, "SELECT pg_backend_pid()");
    MustExec(holder, "BEGIN");
    MustExec(holder, select);  // the query status names
    return pid;
  }
  // Starts the run of `args` paused at `pause_at`; once it is paused, a
  // reporting session (holder_, its pid in holder_pid_) holds the table with
  // `select`, `watcher` (when given) is armed, `before_continue` (when given)
  // runs, and the run goes on. nullptr after a failure, reported.
  std::unique_ptr<ShadowcopyProcess> StartHeldRun(
      std::vector<std::string> args, const std::string& pause_at, LockWatcher* watcher,
      const std::string& select = "SELECT id FROM orders WHERE id < 0 FOR SHARE",
      const std::function<void(ShadowcopyProcess&)>& before_continue = nullptr) {
    holder_ = Connect();
    EXPECT_NE(holder_, nullptr);
    if (holder_ == nullptr) return nullptr;
    auto tool = ShadowcopyProcess::Start(std::move(args), pause_.Env(pause_at));
    EXPECT_TRUE(tool.ok()) << tool.status();
    if (!tool.ok()) return nullptr;
    if (!pause_.WaitPaused(seconds(90))) {
      ADD_FAILURE() << "the run never paused at " << pause_at << "\n" << (*tool)->Wait(seconds(5)).Describe();
      return nullptr;
    }
    holder_pid_ = HoldForShare(*holder_, select);
    // The gate takes a transaction younger than its short lock_timeout for a
    // writer about to commit, and may ask behind it: let the holder age first.
    std::this_thread::sleep_for(milliseconds(200));
    if (watcher) watcher->Arm(true);
    if (before_continue) before_continue(**tool);
    pause_.Continue();
    return std::move(*tool);
  }
  std::string CtlStatusJson() {
    ProcessResult r = RunShadowcopy({"ctl", "--socket", socket_, "status", "--json"}, {}, nullptr, seconds(10));
    return LastLine(r.out);
  }

  std::string socket_;
  PausePoint pause_;
  std::unique_ptr<PgConn> holder_;
  std::string holder_pid_;
  static inline int counter_ = 0;
};

// A FOR SHARE transaction holds the table when the cutover comes: the
// cutover waits outside the queue (writers go on), says whom it waits for,
// and goes once the holder commits.
TEST_F(LockQueueTest, CutoverNeverQueuesBehindForShareHolder) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  ProbeWriter probe(Connect());
  // Armed while the holder holds: before, a request may queue for a moment
  // behind a writer's transaction younger than its lock_timeout.
  LockWatcher watcher(Connect(), oid);
  watcher.Arm(false);
  auto tool = StartHeldRun(MigrateArgs(), "cutover-attempt:1", &watcher);
  ASSERT_NE(tool, nullptr);
  const std::string& holder_pid = holder_pid_;
  ASSERT_TRUE(tool->WaitForStderr("cutover: not asking for ACCESS EXCLUSIVE", seconds(20))) << tool->StderrSoFar();
  std::string status = CtlStatusJson();
  EXPECT_NE(status.find("\"for\":\"cutover\""), std::string::npos) << status;
  EXPECT_NE(status.find("\"pid\":" + holder_pid), std::string::npos) << status;
  EXPECT_NE(status.find("\"mode\":\"RowShareLock\""), std::string::npos) << status;
  EXPECT_NE(status.find("FOR SHARE"), std::string::npos) << status;
  std::this_thread::sleep_for(milliseconds(2500));
  watcher.Arm(false);
  MustExec(*holder_, "COMMIT");
  ProcessResult r = tool->Wait(seconds(120));
  std::this_thread::sleep_for(milliseconds(200));
  watcher.Stop();
  probe.Stop();
  workload.Stop();
  ExpectSucceeded(r);
  EXPECT_EQ(watcher.waits(), 0) << "a request of the tool waited in the lock queue: " << watcher.first_wait();
  std::string summary = LastLine(r.out);
  EXPECT_GE(JsonNumber(summary, "cutover_lock_wait_s"), 1.0) << summary;
  EXPECT_NE(summary.find("pid " + holder_pid + " "), std::string::npos) << summary;
  EXPECT_NE(r.out.find("waited for pid " + holder_pid), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("pid " + holder_pid + " (application"), std::string::npos) << r.err;
  // Writers never waited much longer than the tool says it blocked them:
  // nowhere near the 2.5 s a request queued behind the holder would have
  // stalled them (the margin is for a loaded machine's hiccups).
  const double blocked = JsonNumber(summary, "blocked_max_ms");
  EXPECT_GT(blocked, 0) << summary;
  EXPECT_LT(probe.max_ms(), std::max(blocked, JsonNumber(summary, "verify_blocked_ms")) + 1000)
      << summary << "\nprobe's longest update " << probe.max_ms() << " ms";
  EXPECT_EQ(probe.errors(), 0);
  ExpectNoWorkloadErrors(workload);
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

// A holder arrives just after the check: the request times out after its
// short lock_timeout (writers queued behind it that long), and that attempt
// counts in the time writers were blocked.
TEST_F(LockQueueTest, TimedOutAttemptCountsAsBlocked) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  ProbeWriter probe(Connect());
  LockWatcher watcher(Connect(), oid);
  // Time enough for the first attempt to see a quiet moment between the
  // workload's transactions, however slow the machine.
  auto tool = StartHeldRun(MigrateArgs({"--cutover-lock-timeout", "10s"}), "cutover-lock-checked:1", nullptr);
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(tool->WaitForStderr("cutover: not asking for ACCESS EXCLUSIVE", seconds(20))) << tool->StderrSoFar();
  std::this_thread::sleep_for(milliseconds(1000));
  MustExec(*holder_, "COMMIT");
  ProcessResult r = tool->Wait(seconds(120));
  watcher.Stop();
  probe.Stop();
  workload.Stop();
  ExpectSucceeded(r);
  std::string summary = LastLine(r.out);
  EXPECT_GE(JsonNumber(summary, "cutover_lock_failures"), 1) << summary;
  // The failed attempt stood in the queue for its whole lock_timeout (50 ms).
  EXPECT_GE(JsonNumber(summary, "blocked_ms"), 45) << summary;
  EXPECT_GE(JsonNumber(summary, "blocked_max_ms"), 45) << summary;
  EXPECT_GE(watcher.waits(), 1) << "the timed-out request was not seen waiting";
  EXPECT_LT(probe.max_ms(), JsonNumber(summary, "blocked_max_ms") + 300) << summary;
  ExpectNoWorkloadErrors(workload);
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

// A run on a table without a primary key sets the replica identity to its
// unique index; when the run is stopped, its cleanup gives the table its
// default back with an ACCESS EXCLUSIVE lock, asked for only once a
// reporting session that holds the table has finished: writers never
// queue behind the request meanwhile.
TEST_F(LockQueueTest, StoppedRunResetsTheReplicaIdentityWithoutQueueing) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 5000, 1000).ok());
  MustExec(db(), "ALTER TABLE orders DROP CONSTRAINT orders_pkey");
  MustExec(db(), "CREATE UNIQUE INDEX orders_id_key ON orders (id)");
  std::string oid = TableOid("orders");
  ProbeWriter probe(Connect());
  LockWatcher watcher(Connect(), oid);
  watcher.Arm(false);
  auto tool = StartHeldRun(MigrateArgs(), "before-batch:2", &watcher, "SELECT id FROM orders WHERE id < 0 FOR SHARE",
                           [&](ShadowcopyProcess& run) {
                             EXPECT_EQ(QueryValue(db(), "SELECT relreplident FROM pg_class "
                                                        "WHERE oid = 'orders'::regclass"), "i");
                             run.Signal(SIGINT);
                           });
  ASSERT_NE(tool, nullptr);
  std::this_thread::sleep_for(milliseconds(2000));
  EXPECT_EQ(QueryValue(db(), "SELECT relreplident FROM pg_class WHERE oid = 'orders'::regclass"), "i");
  watcher.Arm(false);
  MustExec(*holder_, "COMMIT");
  ProcessResult r = tool->Wait(seconds(60));
  watcher.Stop();
  probe.Stop();
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.err.find("removed the replica identity set on"), std::string::npos) << r.err;
  EXPECT_EQ(QueryValue(db(), "SELECT relreplident FROM pg_class WHERE oid = 'orders'::regclass"), "d");
  EXPECT_EQ(watcher.waits(), 0) << "the reset waited in the lock queue: " << watcher.first_wait();
  EXPECT_LT(probe.max_ms(), 1000) << "a writer waited " << probe.max_ms() << " ms";
  EXPECT_EQ(probe.errors(), 0);
  ExpectNothingLeftBehind("orders");
}

// The cutover's LOCK TABLE takes an inheritance parent's children too: a
// reporting session holding a child when the cutover comes makes it wait
// outside the queue (writers to the child go on), and it goes once the
// holder commits.
TEST_F(LockQueueTest, ParentsCutoverNeverQueuesBehindAChildsHolder) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 1000).ok());
  MustExec(db(), "CREATE TABLE orders_child (extra text, PRIMARY KEY (id)) INHERITS (orders);"
                 "INSERT INTO orders_child (id, customer_id, status, amount, note, extra) "
                 "  SELECT -g, g, 'child', g, 'c', 'x' FROM generate_series(1, 50) g");
  ProbeWriter probe(Connect(), "UPDATE orders_child SET extra = extra WHERE id = -1");
  LockWatcher watcher(Connect(), TableOid("orders_child"));
  watcher.Arm(false);
  // A rebuild: a parent's column change would not reach its children.
  auto tool = StartHeldRun(ToolArgs("orders", {"--execute", "--chunk-size", "500", "--socket", socket_,
                                               "--cutover-lock-timeout", "10s"}),
                           "cutover-attempt:1", &watcher, "SELECT id FROM orders_child WHERE id > 0 FOR SHARE");
  ASSERT_NE(tool, nullptr);
  const std::string& holder_pid = holder_pid_;
  ASSERT_TRUE(tool->WaitForStderr("cutover: not asking for ACCESS EXCLUSIVE", seconds(20))) << tool->StderrSoFar();
  std::this_thread::sleep_for(milliseconds(1500));
  watcher.Arm(false);
  MustExec(*holder_, "COMMIT");
  ProcessResult r = tool->Wait(seconds(120));
  watcher.Stop();
  probe.Stop();
  ExpectSucceeded(r);
  EXPECT_NE(r.err.find("pid " + holder_pid + " (application"), std::string::npos) << r.err;
  EXPECT_EQ(watcher.waits(), 0) << "the cutover waited in the child's lock queue: " << watcher.first_wait();
  EXPECT_LT(probe.max_ms(), 1000) << "a writer to the child waited " << probe.max_ms() << " ms";
  EXPECT_EQ(probe.errors(), 0);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders_child"), "50");
  ExpectNothingLeftBehind("orders");
}

// The dry run reads the table and nothing more: under a session holding
// EXCLUSIVE (which lets only ACCESS SHARE through) it neither waits nor
// takes anything stronger.
TEST_F(LockQueueTest, DryRunTakesOnlyAccessShare) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000, 1000).ok());
  std::string oid = TableOid("orders");
  auto holder = Connect();
  ASSERT_NE(holder, nullptr);
  MustExec(*holder, "BEGIN; LOCK TABLE orders IN EXCLUSIVE MODE");
  LockWatcher watcher(Connect(), oid);
  auto started = Clock::now();
  ProcessResult r = RunShadowcopy(ToolArgs("orders", {"--alter", kAlter}), {}, nullptr, seconds(60));
  double took_s = std::chrono::duration<double>(Clock::now() - started).count();
  watcher.Stop();
  MustExec(*holder, "ROLLBACK");
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(watcher.waits(), 0) << watcher.first_wait();
  for (const auto& m : watcher.modes()) EXPECT_EQ(m, "AccessShareLock");
  EXPECT_LT(took_s, 10) << r.Describe();
  ExpectNothingLeftBehind("orders");
}

// A large transaction commits in the instant between the quiet check and the
// lock request: under the lock, replaying its 20,000 changes would take far
// longer than the attempt's budget. The attempt gives up as soon as the
// transaction comes in (writers are not held for a drain that cannot end in
// time), the changes are replayed without the lock, and the next attempt
// succeeds; nothing is lost.
class LargeTxnUnderLockTest : public LockQueueTest,
                                      public ::testing::WithParamInterface<const char*> {};

TEST_P(LargeTxnUnderLockTest, AttemptGivesUpAtOnce) {
  const std::string what = GetParam();  // "cutover" or "verify"
  ASSERT_TRUE(CreateAndLoadOrders(db(), 25000, 1000).ok());
  auto tool = ShadowcopyProcess::Start(MigrateArgs({"--verbose"}), pause_.Env(what + "-lock-checked:1"));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause_.WaitPaused(seconds(90))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(db(), "BEGIN");
  MustExec(db(), "UPDATE orders SET amount = amount + 1 WHERE id <= 20000");
  MustExec(db(), "UPDATE truth SET amount = amount + 1 WHERE id <= 20000");
  MustExec(db(), "COMMIT");
  // The transaction is on its way to the run before the lock is asked for
  // (the walsender has decoded and sent it): on a slow machine its decoding
  // could otherwise outlast the attempt, which then gives up at its deadline
  // having received nothing.
  const std::string commit_lsn = QueryValue(db(), "SELECT pg_current_wal_lsn()");
  EXPECT_TRUE(PollUntilTrue(db(),
                            "SELECT EXISTS (SELECT 1 FROM pg_replication_slots s JOIN pg_stat_replication r "
                            "ON r.pid = s.active_pid WHERE s.database = current_database() AND r.sent_lsn >= '" +
                                commit_lsn + "')",
                            seconds(30)))
      << "the walsender never sent the large transaction";
  std::this_thread::sleep_for(milliseconds(100));
  pause_.Continue();
  ProcessResult r = (*tool)->Wait(seconds(120));
  ExpectSucceeded(r);
  const std::string gave_up = what == "cutover" ? "cutover attempt 1: gave up at once: "
                                                 : "consistency point attempt 1: gave up at once: ";
  EXPECT_NE(r.err.find(gave_up), std::string::npos) << r.err;
  std::string summary = LastLine(r.out);
  if (what == "cutover") {
    EXPECT_EQ(JsonNumber(summary, "cutover_attempts"), 2) << summary;
  } else {
    EXPECT_EQ(JsonNumber(summary, "verify_point_failures"), 1) << summary;
  }
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

INSTANTIATE_TEST_SUITE_P(LockQueue, LargeTxnUnderLockTest, ::testing::Values("cutover", "verify"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace shadowcopy::it
