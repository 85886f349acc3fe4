// Fault matrix (crash safety): the tool killed with SIGKILL in
// each phase and resumed with --resume; a PostgreSQL fast restart and a
// terminated replication connection survived inside the run; a transaction
// holding the table through several cutover attempts; TRUNCATE and ALTER of
// the original mid-run; `shadowcopy cleanup` after an abandoned run;
// --keep-on-error; the --max-retained-wal guard.
//
// Every case runs the mirror workload (except where the case forbids it),
// ends with a full comparison of orders with the truth table (transformed by
// the ALTER when the run swapped), checks that no slot, publication or shadow
// table is left, and that the run's row in shadowcopy.runs is finished.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "common/quote.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kAlter[] = "ALTER COLUMN id TYPE bigint";
constexpr char kRestartTest[] = "PostgresFastRestartDuringCopySurvives";

// Remembers the last `phase=` the tool logged and keeps the workload's
// copy-phase flag (TrackCopyPhase). With KillAt(), sends SIGKILL from the
// reader thread the moment a line contains the needle (no wake-up delay).
class ToolLog {
 public:
  explicit ToolLog(MirrorWorkload* workload = nullptr)
      : track_(workload ? TrackCopyPhase(workload) : nullptr) {}

  // Kill `pid` when a line containing any of `needles` appears.
  void KillAt(pid_t pid, std::vector<std::string> needles) {
    std::lock_guard<std::mutex> lock(mu_);
    kill_needles_ = std::move(needles);
    kill_pid_ = pid;
  }
  // The line that triggered the kill ("" when none did).
  std::string killed_at() const {
    std::lock_guard<std::mutex> lock(mu_);
    return killed_at_;
  }

  StderrLineCallback Callback() {
    return [this](const std::string& line) {
      if (track_) track_(line);
      std::lock_guard<std::mutex> lock(mu_);
      auto at = line.find("phase=");
      if (at != std::string::npos) {
        auto end = line.find_first_of(" \t", at);
        phase_ = line.substr(at + 6, end == std::string::npos ? std::string::npos : end - at - 6);
      }
      if (kill_pid_ > 0 && killed_at_.empty()) {
        for (const auto& needle : kill_needles_) {
          if (line.find(needle) == std::string::npos) continue;
          ::kill(kill_pid_, SIGKILL);
          killed_at_ = line;
          break;
        }
      }
    };
  }
  std::string phase() const {
    std::lock_guard<std::mutex> lock(mu_);
    return phase_;
  }

 private:
  StderrLineCallback track_;
  mutable std::mutex mu_;
  std::string phase_;                      // guarded by mu_
  std::vector<std::string> kill_needles_;  // guarded by mu_
  pid_t kill_pid_ = 0;                     // guarded by mu_
  std::string killed_at_;                  // guarded by mu_
};

class FaultTest : public DatabaseTest {
 protected:
  FaultTest() {
    // A server restart disturbs every test sharing the server, and an
    // application holding nextval (an xid) across the cutover stalls their
    // slot creation: run alone (see exclusive_server_).
    exclusive_server_ = CurrentTestIsOneOf({kRestartTest, "KillAfterSwapCommittedThenResumeFinishes"});
  }

  std::vector<std::string> MigrateArgs(std::vector<std::string> extra = {},
                                       const std::string& chunk = "2000") const {
    // Cases that act during the copy pass --nice-ratio so that it lasts a few
    // seconds on a fast machine too.
    // A control socket of its own: the default path is named after the
    // table only, and other runs on this machine migrate an `orders` too.
    // After a kill -9 the resumed run finds the dead run's socket file there.
    std::vector<std::string> args{"--alter",
                                  kAlter,
                                  "--execute",
                                  "--chunk-size",
                                  chunk,
                                  "--socket",
                                  "/tmp/sc_" + dbname() + ".sock"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ToolArgs("orders", args);
  }

  std::unique_ptr<ShadowcopyProcess> Start(const std::vector<std::string>& args,
                                           const EnvVars& env = {},
                                           StderrLineCallback cb = nullptr) {
    auto tool = ShadowcopyProcess::Start(args, env, std::move(cb));
    EXPECT_TRUE(tool.ok()) << tool.status();
    return tool.ok() ? std::move(*tool) : nullptr;
  }

  // SIGKILL, then reap. The run's leftovers stay (for --resume or cleanup).
  ProcessResult KillHard(ShadowcopyProcess& tool) {
    tool.Signal(SIGKILL);
    ProcessResult r = tool.Wait(seconds(30));
    EXPECT_EQ(r.term_signal, SIGKILL) << "the tool ended before it was killed\n" << r.Describe();
    return r;
  }

  std::string Slot(const std::string& oid) const { return "shadowcopy_" + oid; }

  std::string UnfinishedRuns() {
    if (QueryValue(db(), "SELECT to_regclass('shadowcopy.runs') IS NOT NULL") != "t") return "0";
    return QueryValue(db(),
                      "SELECT count(*) FROM shadowcopy.runs WHERE table_name = 'orders' AND "
                      "finished_at IS NULL");
  }

  // What a killed run leaves: slot, publication, shadow table, an unfinished
  // state row.
  void ExpectLeftoversOf(const std::string& oid) {
    EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" +
                                   Slot(oid) + "'"),
              "1")
        << "the slot is gone";
    EXPECT_EQ(
        QueryValue(db(), "SELECT count(*) FROM pg_publication WHERE pubname = '" + Slot(oid) + "'"),
        "1")
        << "the publication is gone";
    EXPECT_TRUE(TableExists("_orders_shadow"));
    EXPECT_EQ(UnfinishedRuns(), "1") << "the run's state row is not unfinished";
  }

  // The run's row is finished (no unfinished row for orders), with at least
  // one row recorded; returns the latest outcome.
  std::string ExpectStateFinished() {
    EXPECT_EQ(QueryValue(db(), "SELECT to_regclass('shadowcopy.runs') IS NOT NULL"), "t")
        << "no state table";
    EXPECT_EQ(UnfinishedRuns(), "0") << "a state row is still unfinished";
    return QueryValue(db(),
                      "SELECT coalesce(outcome, '<null>') FROM shadowcopy.runs WHERE table_name = "
                      "'orders' ORDER BY started_at DESC LIMIT 1");
  }

  // After a successful (resumed) run: orders is the transformed truth.
  void ExpectMigrated() {
    ASSERT_TRUE(TransformTruth(db(), "truth", kAlter).ok());
    ExpectMirrorEqual(db(), "orders", "truth");
    EXPECT_EQ(QueryValue(db(),
                         "SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = "
                         "'orders'::regclass AND attname = 'id'"),
              "bigint");
    EXPECT_TRUE(TableExists(OldTableOf("orders")));
    ExpectNothingLeftBehind("orders");
    std::string outcome = ExpectStateFinished();
    EXPECT_NE(outcome.find("success"), std::string::npos) << "outcome: " << outcome;
  }

  // After a failed run: orders is still the original table and equals the
  // untransformed truth.
  void ExpectOriginalUntouched(const std::string& oid) {
    EXPECT_EQ(TableOid("orders"), oid) << "orders was replaced";
    EXPECT_EQ(QueryValue(db(),
                         "SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = "
                         "'orders'::regclass AND attname = 'id'"),
              "integer");
    EXPECT_FALSE(AnyOldTableOf("orders"));
    ExpectMirrorEqual(db(), "orders", "truth");
  }

  ProcessResult Resume(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), "--resume");
    return RunShadowcopy(MigrateArgs(extra), {}, nullptr, seconds(180));
  }

  // Stops the workload a little after the run so writes go on past it.
  static void StopSoon(MirrorWorkload& workload) {
    std::this_thread::sleep_for(milliseconds(500));
    workload.Stop();
    std::cout << "workload events:\n" << workload.CountsReport();
  }

  // A session holding ACCESS SHARE on orders in an open transaction.
  std::unique_ptr<PgConn> StartBlocker() {
    auto blocker = Connect();
    if (blocker != nullptr) MustExec(*blocker, "BEGIN; LOCK TABLE orders IN ACCESS SHARE MODE");
    return blocker;
  }

  // Case 2's body: SIGKILL at the line `phase=<phase>`, then --resume.
  void KillAtPhaseThenResume(const std::string& phase);

  // The first number after `key` in the summary line of a result, or -1.
  static double Summary(const ProcessResult& r, std::string_view key) {
    return SummaryNumber(LastLine(r.out), key).value_or(-1);
  }
};

// An attempt of the cutover that waited its whole time for a holder to go.
constexpr char kCutoverStillWaiting[] = "cutover: still not asking after ";
// Requests for a lock on orders waiting in the queue (after "SELECT ...").
constexpr char kOrdersLockWaiters[] =
    "FROM pg_locks WHERE database = (SELECT oid FROM pg_database WHERE datname = "
    "current_database()) AND relation = 'orders'::regclass AND NOT granted";

// Waits until `needle` has appeared `n` times on the tool's stderr.
bool WaitForStderrCount(ShadowcopyProcess& p, std::string_view needle, int n,
                        std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::string err = p.StderrSoFar();
    int seen = 0;
    for (size_t at = err.find(needle); at != std::string::npos; at = err.find(needle, at + 1))
      ++seen;
    if (seen >= n) return true;
    if (p.OutputClosed() || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(100));
  }
}

// Prints the tool's notable stderr lines (what a
// fault looked like from the tool's side, for the test log).
void PrintToolLines(const std::string& label, const ProcessResult& r) {
  static constexpr std::string_view needles[] = {
      "reconnecting", "resuming run", "cutover attempt", "cutover done", "already committed",
      "still not asking",
      "kept ",        "error",        "removed",         "truncat",      "throttled"};
  size_t start = 0;
  while (start < r.err.size()) {
    size_t end = r.err.find('\n', start);
    if (end == std::string::npos) end = r.err.size();
    std::string_view line(r.err.data() + start, end - start);
    for (auto needle : needles) {
      if (line.find(needle) != std::string_view::npos) {
        std::cout << label << ": " << line << "\n";
        break;
      }
    }
    start = end + 1;
  }
}

// 1. SIGKILL during the copy, then --resume with the same --alter. The copy
// (at --nice-ratio 3) lasts some 20 batches: killed after the second.
constexpr int kKillDuringCopyRows = 40000;
TEST_F(FaultTest, KillDuringCopyThenResume) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kKillDuringCopyRows, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  ToolLog log(&workload);
  auto tool = Start(MigrateArgs({"--nice-ratio", "3"}), {}, log.Callback());
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(tool->WaitForStderr("phase=copy", seconds(60))) << tool->Wait(seconds(5)).Describe();
  // The resume below must have more than one batch's rows behind it.
  EXPECT_TRUE(PollUntilTrue(db(),
                            "SELECT coalesce((SELECT copy_high_water[1]::bigint >= 4000 FROM "
                            "shadowcopy.runs WHERE finished_at IS NULL), false)",
                            seconds(60)));
  ASSERT_EQ(log.phase(), "copy") << "the copy ended within a second; the case needs a longer one";
  KillHard(*tool);
  workload.SetCopyPhaseActive(false);

  ExpectLeftoversOf(oid);
  EXPECT_EQ(QueryValue(db(), "SELECT phase FROM shadowcopy.runs WHERE finished_at IS NULL"),
            "copy");
  EXPECT_EQ(QueryValue(db(),
                       "SELECT copy_high_water IS NOT NULL AND NOT copy_done FROM shadowcopy.runs "
                       "WHERE finished_at IS NULL"),
            "t")
      << "no copy progress was recorded before the kill";

  // A plain run refuses and points at --resume (and cleanup).
  ProcessResult plain = RunShadowcopy(MigrateArgs());
  ExpectFailedWithOneErrorLine(plain);
  EXPECT_NE(plain.err.find("--resume"), std::string::npos) << plain.Describe();
  EXPECT_NE(plain.err.find("cleanup"), std::string::npos) << plain.Describe();
  ExpectLeftoversOf(oid);

  // A different --alter is refused by --resume.
  ProcessResult other =
      RunShadowcopy(ToolArgs("orders", {"--alter", "ALTER COLUMN customer_id TYPE bigint",
                                        "--execute", "--resume", "--socket", "none"}));
  ExpectFailedWithOneErrorLine(other);
  EXPECT_NE(other.err.find("same --alter"), std::string::npos) << other.Describe();
  ExpectLeftoversOf(oid);

  std::this_thread::sleep_for(milliseconds(500));  // writes while nobody decodes
  ProcessResult resumed = Resume();
  PrintToolLines("resumed", resumed);
  StopSoon(workload);
  ExpectSucceeded(resumed);
  EXPECT_NE(resumed.err.find("resuming run"), std::string::npos) << resumed.Describe();
  // Finished ranges are not copied again.
  double copied = Summary(resumed, "rows_copied");
  EXPECT_GE(copied, 0) << resumed.Describe();
  EXPECT_LT(copied, kKillDuringCopyRows - 2000) << "the resumed run copied everything again\n"
                                   << resumed.Describe();
  ExpectNoWorkloadErrors(workload);
  ExpectMigrated();
}

// 2. SIGKILL right after the copy: at the start of the index build, and at
// the start of the catch-up.
void FaultTest::KillAtPhaseThenResume(const std::string& phase) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 30000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  ToolLog log(&workload);
  auto tool = Start(MigrateArgs({}, "1000"), {}, log.Callback());
  ASSERT_NE(tool, nullptr);
  log.KillAt(tool->pid(), {"phase=" + phase});
  ASSERT_TRUE(tool->WaitForStderr("phase=" + phase, seconds(90)))
      << tool->Wait(seconds(5)).Describe();
  ProcessResult killed = KillHard(*tool);
  PrintToolLines("killed", killed);
  std::cout << "killed at: " << log.killed_at() << "\n";
  EXPECT_NE(log.killed_at(), "") << killed.Describe();
  EXPECT_EQ(killed.err.find("phase=cutover"), std::string::npos) << "the kill came too late\n"
                                                                 << killed.Describe();
  ExpectLeftoversOf(oid);
  EXPECT_EQ(QueryValue(db(), "SELECT copy_done FROM shadowcopy.runs WHERE finished_at IS NULL"),
            "t")
      << "the copy's end was not recorded";
  EXPECT_EQ(TableOid("orders"), oid);

  std::this_thread::sleep_for(milliseconds(500));  // writes while nobody decodes
  ProcessResult resumed = Resume();
  PrintToolLines("resumed", resumed);
  StopSoon(workload);
  ExpectSucceeded(resumed);
  EXPECT_EQ(Summary(resumed, "rows_copied"), 0) << "the resumed run copied again\n"
                                                << resumed.Describe();
  ExpectNoWorkloadErrors(workload);
  ExpectMigrated();
}

TEST_F(FaultTest, KillAtIndexBuildThenResume) { KillAtPhaseThenResume("indexes"); }

TEST_F(FaultTest, KillAtCatchupThenResume) { KillAtPhaseThenResume("catchup"); }

// 3. SIGKILL while the cutover waits for its lock, then --resume.
TEST_F(FaultTest, KillWhileWaitingForCutoverLockThenResume) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  auto tool =
      Start(MigrateArgs({"--cutover-lock-timeout", "500ms", "--cutover-retries", "50"}, "1000"));
  ASSERT_NE(tool, nullptr);
  // The blocker comes once the copy runs (the run rehearses the swap under
  // the lock before it creates anything, and would give up there).
  ASSERT_TRUE(tool->WaitForStderr("phase=copy", seconds(60))) << tool->Wait(seconds(5)).Describe();
  auto blocker = StartBlocker();
  ASSERT_NE(blocker, nullptr);
  // Kill once an attempt has waited its whole time for the holder to go
  // (the next one is waiting or about to): the cutover waits outside the
  // lock queue, so nothing of ours stands in it.
  ASSERT_TRUE(tool->WaitForStderr(kCutoverStillWaiting, seconds(90)))
      << tool->Wait(seconds(5)).Describe();
  EXPECT_EQ(QueryValue(db(), std::string("SELECT count(*) ") + kOrdersLockWaiters), "0")
      << "a lock request of the cutover stands in the queue";
  KillHard(*tool);
  ExpectLeftoversOf(oid);
  std::cout << "state phase at the kill: "
            << QueryValue(db(), "SELECT phase FROM shadowcopy.runs WHERE finished_at IS NULL")
            << "\n";
  EXPECT_EQ(TableOid("orders"), oid) << "the killed cutover swapped";

  std::this_thread::sleep_for(milliseconds(300));
  MustExec(*blocker, "COMMIT");
  ProcessResult resumed = Resume();
  PrintToolLines("resumed", resumed);
  StopSoon(workload);
  ExpectSucceeded(resumed);
  ExpectNoWorkloadErrors(workload);
  ExpectMigrated();
}

// 4. PostgreSQL fast restart during the copy: survived inside the run.
TEST_F(FaultTest, PostgresFastRestartDuringCopySurvives) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 100000, 1000).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  ToolLog log(&workload);
  auto tool = Start(MigrateArgs({"--nice-ratio", "3"}), {}, log.Callback());
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(tool->WaitForStderr("phase=copy", seconds(60))) << tool->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(seconds(1));
  std::string phase = log.phase();
  std::string started = QueryValue(db(), "SELECT pg_postmaster_start_time()");
  absl::Status restart = RestartServerFast(db());
  ASSERT_TRUE(restart.ok()) << restart;
  EXPECT_EQ(phase, "copy") << "the copy had ended before the restart";
  PQreset(db().raw());  // the fixture's session died with the server
  ASSERT_TRUE(db().Healthy());
  EXPECT_NE(QueryValue(db(), "SELECT pg_postmaster_start_time()"), started) << "no restart";
  ProcessResult r = tool->Wait(seconds(180));
  PrintToolLines("tool", r);
  StopSoon(workload);
  ExpectSucceeded(r);
  EXPECT_NE(r.err.find("reconnecting and continuing from the recorded state"), std::string::npos)
      << r.Describe();
  // The writers lose their sessions in the restart: errors are expected
  // here, and the mirror stays exact (both tables change in one transaction).
  std::cout << workload.Errors().size() << " writer errors across the restart\n";
  ExpectMigrated();
}

// 5. The replication connection terminated during the copy: survived. The
// copy is held at a batch boundary while the stream is cut and comes back
// (the stream is read beside the copy), then goes on under the writers.
TEST_F(FaultTest, ReplicationConnectionTerminatedDuringCopySurvives) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  ToolLog log(&workload);
  PausePoint pause;
  auto tool = Start(MigrateArgs(), pause.Env("before-batch:3"), log.Callback());
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << tool->Wait(seconds(5)).Describe();
  // Our run's walsender: the slot's active pid, also listed by
  // pg_stat_replication (other tests' walsenders share the server).
  ASSERT_TRUE(PollUntilTrue(db(),
                            "SELECT EXISTS (SELECT 1 FROM pg_replication_slots s JOIN "
                            "pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = '" +
                                Slot(oid) + "' AND r.application_name LIKE 'shadowcopy%')",
                            seconds(10)))
      << "no shadowcopy walsender on slot " << Slot(oid);
  std::string pid = QueryValue(
      db(), "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '" + Slot(oid) + "'");
  ASSERT_NE(pid, "") << "no shadowcopy walsender in pg_stat_replication";
  EXPECT_EQ(log.phase(), "copy");
  EXPECT_EQ(QueryValue(db(), "SELECT pg_terminate_backend(" + pid + ")"), "t");
  bool replaced =
      PollUntilTrue(db(),
                    "SELECT coalesce(active_pid <> " + pid +
                        ", false) FROM pg_replication_slots WHERE slot_name = '" + Slot(oid) + "'",
                    seconds(30));
  pause.Continue();
  ProcessResult r = tool->Wait(seconds(180));
  PrintToolLines("tool", r);
  StopSoon(workload);
  EXPECT_TRUE(replaced) << "the stream never came back\n" << r.Describe();
  ExpectSucceeded(r);
  EXPECT_NE(r.err.find("reconnecting and continuing from the recorded state"), std::string::npos)
      << r.Describe();
  ExpectNoWorkloadErrors(workload);
  ExpectMigrated();
}

// 6. A transaction holds the table through 3 cutover attempts, then ends.
TEST_F(FaultTest, LockHeldThroughThreeCutoverAttemptsThenReleased) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  auto tool =
      Start(MigrateArgs({"--cutover-lock-timeout", "200ms", "--cutover-retries", "30"}, "1000"));
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(tool->WaitForStderr("phase=copy", seconds(60))) << tool->Wait(seconds(5)).Describe();
  auto blocker = StartBlocker();
  ASSERT_NE(blocker, nullptr);
  // Each attempt waits outside the lock queue until no conflicting holder
  // is left, and gives up after --cutover-lock-timeout without asking.
  bool third = WaitForStderrCount(*tool, kCutoverStillWaiting, 3, seconds(120));
  bool never_queued =
      QueryValue(db(), std::string("SELECT count(*) ") + kOrdersLockWaiters) == "0";
  MustExec(*blocker, "COMMIT");
  ProcessResult r = tool->Wait(seconds(120));
  PrintToolLines("tool", r);
  StopSoon(workload);
  EXPECT_TRUE(third) << r.Describe();
  EXPECT_TRUE(never_queued) << "a lock request of the cutover stood in the queue";
  ExpectSucceeded(r);
  EXPECT_NE(r.err.find("cutover: not asking for ACCESS EXCLUSIVE on \"public\".\"orders\" yet: pid "),
            std::string::npos)
      << r.Describe();
  double attempts = Summary(r, "cutover_attempts");
  EXPECT_GE(attempts, 4) << r.Describe();
  ExpectNoWorkloadErrors(workload);
  EXPECT_LT(workload.MaxTransactionTime(), milliseconds(1000)) << workload.CountsReport();
  ExpectMigrated();
}

// 7. TRUNCATE of the original mid-run (mirrored on truth in the same
// transaction), then new rows: replayed in order.
TEST_F(FaultTest, TruncateMidRunIsReplayed) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000).ok());
  auto before = std::make_unique<MirrorWorkload>(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(before->Start().ok());
  PausePoint pause;
  auto tool = Start(MigrateArgs({}, "1000"), pause.Env("before-batch:4"));
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << tool->Wait(seconds(5)).Describe();
  // The writers own keys the TRUNCATE removes: stop them, and start new
  // ones on the rows inserted after it.
  before->Stop();
  ExpectNoWorkloadErrors(*before);
  MustExec(db(),
           "BEGIN; TRUNCATE orders; TRUNCATE truth;"
           "INSERT INTO orders (id, customer_id, status, amount, note, created_at) "
           "SELECT g, g, 'after truncate', g, CASE WHEN g % 50 = 0 THEN repeat(md5(g::text), 4000) "
           "END, now() FROM generate_series(30001, 30400) g;"
           "INSERT INTO truth SELECT * FROM orders; COMMIT");
  MirrorWorkload after(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(after.Start().ok());
  std::this_thread::sleep_for(milliseconds(300));
  pause.Continue();
  ProcessResult r = tool->Wait(seconds(120));
  PrintToolLines("tool", r);
  StopSoon(after);
  ExpectSucceeded(r);
  ExpectNoWorkloadErrors(after);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE id <= 20000"), "0")
      << "rows from before the TRUNCATE came back";
  ExpectMigrated();
}

// 8. ALTER TABLE of the original mid-run stops the run with a clear error.
TEST_F(FaultTest, AlterOfOriginalMidRunStopsTheRun) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  PausePoint pause;
  auto tool = Start(MigrateArgs({}, "1000"), pause.Env("before-batch:3"));
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << tool->Wait(seconds(5)).Describe();
  MustExec(db(),
           "SET lock_timeout = '10s'; BEGIN; ALTER TABLE orders ADD COLUMN x int;"
           "ALTER TABLE truth ADD COLUMN x int; COMMIT");
  pause.Continue();
  ProcessResult r = tool->Wait(seconds(120));
  PrintToolLines("tool", r);
  StopSoon(workload);
  ExpectFailedWithOneErrorLine(r);
  EXPECT_NE(r.err.find("altered"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("orders"), std::string::npos) << r.Describe();
  ExpectNoWorkloadErrors(workload);
  ExpectNothingLeftBehind("orders");
  ExpectOriginalUntouched(oid);
  std::string outcome = ExpectStateFinished();
  EXPECT_NE(outcome.find("fail"), std::string::npos) << outcome;
}

// 9. cleanup after an abandoned (killed) run: the dry run lists and keeps,
// --execute removes; a fresh run then succeeds.
TEST_F(FaultTest, CleanupAfterAbandonedRun) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 30000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = Start(MigrateArgs({"--nice-ratio", "3"}, "500"));
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(tool->WaitForStderr("phase=copy", seconds(60))) << tool->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(500));
  KillHard(*tool);
  ExpectLeftoversOf(oid);
  std::string run_id =
      QueryValue(db(), "SELECT run_id FROM shadowcopy.runs WHERE finished_at IS NULL");

  ProcessResult dry = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn()});
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  for (const std::string& name : {Slot(oid), std::string("_orders_shadow"), run_id})
    EXPECT_NE(dry.out.find(name), std::string::npos) << "the dry run does not list " << name << "\n"
                                                     << dry.Describe();
  ExpectLeftoversOf(oid);  // the dry run changed nothing

  ProcessResult done = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn(), "--execute"});
  EXPECT_EQ(done.exit_code, 0) << done.Describe();
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(UnfinishedRuns(), "0");
  ExpectMirrorEqual(db(), "orders", "truth");  // still the original, under load
  ProcessResult nothing = Resume();
  ExpectFailedWithOneErrorLine(nothing);
  EXPECT_NE(nothing.err.find("no unfinished run"), std::string::npos) << nothing.Describe();

  ProcessResult fresh = RunShadowcopy(MigrateArgs({}, "1000"), {}, nullptr, seconds(180));
  StopSoon(workload);
  ExpectSucceeded(fresh);
  ExpectNoWorkloadErrors(workload);
  ExpectMigrated();
}

// 10. --keep-on-error keeps slot, publication, shadow and an unfinished
// state row; cleanup --execute removes them.
TEST_F(FaultTest, KeepOnErrorKeepsLeftoversForCleanup) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  PausePoint pause;
  auto tool = Start(MigrateArgs({"--keep-on-error"}, "1000"), pause.Env("before-batch:3"));
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << tool->Wait(seconds(5)).Describe();
  MustExec(db(),
           "SET lock_timeout = '10s'; BEGIN; ALTER TABLE orders ADD COLUMN x int;"
           "ALTER TABLE truth ADD COLUMN x int; COMMIT");
  pause.Continue();
  ProcessResult r = tool->Wait(seconds(120));
  PrintToolLines("tool", r);
  StopSoon(workload);
  ExpectFailedWithOneErrorLine(r);
  EXPECT_NE(r.err.find("altered"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("--keep-on-error"), std::string::npos) << r.Describe();
  ExpectNoWorkloadErrors(workload);
  ExpectLeftoversOf(oid);
  EXPECT_EQ(QueryValue(db(), "SELECT active FROM pg_replication_slots WHERE slot_name = '" +
                                 Slot(oid) + "'"),
            "f");

  ProcessResult done = RunShadowcopy({"cleanup", "--table", "orders", "--dsn", dsn(), "--execute"});
  EXPECT_EQ(done.exit_code, 0) << done.Describe();
  ExpectNothingLeftBehind("orders");
  ExpectStateFinished();
  ExpectOriginalUntouched(oid);
}

// 11. --max-retained-wal: crossing it stops the run and drops the slot.
TEST_F(FaultTest, MaxRetainedWalStopsTheRun) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4, .big_note_percent = 20});
  ASSERT_TRUE(workload.Start().ok());
  PausePoint pause;
  auto tool =
      Start(MigrateArgs({"--max-retained-wal", "1MB"}, "1000"), pause.Env("before-batch:3"));
  ASSERT_NE(tool, nullptr);
  // The guard may stop the run at its first look, at the copy's start (the
  // workload writes WAL fast). If the copy reaches its third batch instead,
  // the guard's next look (every 5 s) must see the WAL written meanwhile.
  bool paused = false;
  for (auto until = std::chrono::steady_clock::now() + seconds(60);
       std::chrono::steady_clock::now() < until;) {
    if (access((pause.dir() + "/paused").c_str(), F_OK) == 0) {
      paused = true;
      break;
    }
    if (tool->WaitForStderr("shadowcopy: error", milliseconds(50))) break;
  }
  std::cout << (paused ? "the copy paused at batch 3" : "the guard stopped the run at once")
            << "\n";
  if (paused) {
    std::this_thread::sleep_for(milliseconds(5500));
    MustExec(db(),
             "CREATE TABLE wal_filler AS SELECT g, md5(g::text) || md5((g + 1)::text) AS t "
             "FROM generate_series(1, 100000) g");
    pause.Continue();
  }
  ProcessResult r = tool->Wait(seconds(120));
  PrintToolLines("tool", r);
  StopSoon(workload);
  ExpectFailedWithOneErrorLine(r);
  EXPECT_NE(r.err.find("--max-retained-wal"), std::string::npos) << r.Describe();
  ExpectNoWorkloadErrors(workload);
  ExpectNothingLeftBehind("orders");
  ExpectOriginalUntouched(oid);
  std::string outcome = ExpectStateFinished();
  EXPECT_NE(outcome.find("fail"), std::string::npos) << outcome;
}

// 11b. The limit crossed in the middle of the copy (not at its start): the
// guard's periodic look stops the run and drops the slot.
TEST_F(FaultTest, MaxRetainedWalCrossedMidCopyStopsTheRun) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  PausePoint pause;
  auto tool =
      Start(MigrateArgs({"--max-retained-wal", "160MB"}, "1000"), pause.Env("before-batch:3"));
  ASSERT_NE(tool, nullptr);
  // The limit leaves room for the WAL the other tests of the server write
  // meanwhile: it is the whole server's WAL that the slot retains.
  ASSERT_TRUE(pause.WaitPaused(seconds(60))) << tool->Wait(seconds(5)).Describe();
  // Past the guard's 5 s interval, 320 MB of WAL right before the copy goes
  // on: 32 logical messages of 10 MB, written in a moment.
  std::this_thread::sleep_for(milliseconds(5500));
  MustExec(db(),
           "SELECT pg_logical_emit_message(false, 'wal_filler', repeat('x', 10000000)) "
           "FROM generate_series(1, 32)");
  pause.Continue();
  ProcessResult r = tool->Wait(seconds(120));
  PrintToolLines("tool", r);
  StopSoon(workload);
  ExpectFailedWithOneErrorLine(r);
  EXPECT_NE(r.err.find("--max-retained-wal"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("removed replication slot"), std::string::npos) << r.Describe();
  ExpectNoWorkloadErrors(workload);
  ExpectNothingLeftBehind("orders");
  ExpectOriginalUntouched(oid);
  std::string outcome = ExpectStateFinished();
  EXPECT_NE(outcome.find("fail"), std::string::npos) << outcome;
}

// 3b. SIGKILL after the swap committed but before the statements that
// follow it (the serial sequence is re-owned by the new table right after the
// commit): an application transaction that took an id holds the sequence, so
// the re-own waits and the kill lands there. --resume must see that the swap
// happened, never swap again, and finish the job: afterwards the sequence
// belongs to the new orders, and dropping the old table does not take it along.
TEST_F(FaultTest, KillAfterSwapCommittedThenResumeFinishes) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 4});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = Start(MigrateArgs({}, "1000"));
  ASSERT_NE(tool, nullptr);
  ASSERT_TRUE(tool->WaitForStderr("phase=copy", seconds(60))) << tool->Wait(seconds(5)).Describe();
  auto app = Connect();
  ASSERT_NE(app, nullptr);
  MustExec(*app, "BEGIN; SELECT nextval('orders_id_seq')");
  ASSERT_TRUE(tool->WaitForStderr("cutover done", seconds(90)))
      << tool->Wait(seconds(5)).Describe();
  bool waiting =
      PollUntilTrue(db(),
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE database = (SELECT oid FROM "
                    "pg_database WHERE datname = current_database()) AND relation = "
                    "'orders_id_seq'::regclass AND NOT granted)",
                    seconds(10));
  ProcessResult killed = KillHard(*tool);
  PrintToolLines("killed", killed);
  // The dead tool's backend still waits for the sequence: let its lock
  // timeout end that statement before the application lets go.
  EXPECT_TRUE(
      PollUntilTrue(db(),
                    "SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE database = (SELECT oid FROM "
                    "pg_database WHERE datname = current_database()) AND relation = "
                    "'orders_id_seq'::regclass AND NOT granted)",
                    seconds(10)));
  MustExec(*app, "COMMIT");
  EXPECT_TRUE(waiting) << "the tool never waited for the sequence\n" << killed.Describe();
  EXPECT_NE(TableOid("orders"), oid) << "the swap had not committed";
  EXPECT_EQ(TableOid(OldTableOf("orders")), oid);
  std::cout << "serial sequence of orders.id after the kill: '"
            << QueryValue(db(), "SELECT pg_get_serial_sequence('orders', 'id')") << "'\n";

  std::this_thread::sleep_for(milliseconds(300));
  ProcessResult resumed = Resume();
  PrintToolLines("resumed", resumed);
  StopSoon(workload);
  ExpectSucceeded(resumed);
  EXPECT_NE(resumed.err.find("the swap had already committed"), std::string::npos)
      << resumed.Describe();
  ExpectNoWorkloadErrors(workload);
  ExpectMigrated();
  EXPECT_EQ(QueryValue(db(), "SELECT pg_get_serial_sequence('orders', 'id')"),
            "public.orders_id_seq")
      << "the resumed run left the sequence owned by the old table";
  auto dropped = db().Exec("DROP TABLE " + QuoteIdent(OldTableOf("orders")));
  EXPECT_TRUE(dropped.ok()) << "dropping the old table: " << dropped.status();
  auto inserted =
      db().Exec("INSERT INTO orders (customer_id, status, amount) VALUES (1, 'after', 1.00)");
  EXPECT_TRUE(inserted.ok()) << "insert with the serial default: " << inserted.status();
}

}  // namespace
}  // namespace shadowcopy::it
