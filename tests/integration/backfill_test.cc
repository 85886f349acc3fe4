// `shadowcopy backfill` end to end through the binary, under writers that
// keep updating the same table and inserting rows beyond the key span:
// an UPDATE changes exactly the matching rows of the span fixed at the start
// (not the rows inserted behind the cursor or beyond the span), once each (a
// trigger counts every update of the column into a side table); a DELETE
// purge removes exactly the matching rows; the socket's pause holds the
// changed-row count still and resume finishes; --resume after kill -9 redoes
// no committed batch; a row lock held by another session makes the batch
// retry and never blocks that session beyond the lock_timeout; the dry run
// changes nothing; a constraint violation stops with the key range; a
// composite key with odd identifiers; SIGINT rolls back the batch in flight;
// bad input gets one error line.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr int kRows = 10000;  // ids 10, 20, ..., 100000

// Writers that update `payload` of random rows of the span and, once
// AllowLateInserts() was called (after the run fixed its span), insert rows
// beyond it (ids from 10,000,000, grp 0: they match every test's WHERE and
// must stay untouched). Every error they see is kept: the application must
// see none.
class Writers {
 public:
  Writers(std::string dbname, int threads) : dbname_(std::move(dbname)), threads_(threads) {}
  ~Writers() { Stop(); }

  void Start() {
    for (int t = 0; t < threads_; ++t) {
      threads_v_.emplace_back([this, t] {
        auto conn = PgConn::Connect(TestConnectOptions(dbname_));
        if (!conn.ok()) {
          Error(std::string(conn.status().message()));
          return;
        }
        std::mt19937 rng(t + 1);
        for (int64_t n = 0; !stop_; ++n) {
          std::string sql =
              n % 10 == 9 && late_inserts_ ? fmt::format("INSERT INTO items VALUES ({}, 0, NULL, 'late')", 10000000 + next_id_++)
                          : fmt::format("UPDATE items SET payload = md5(random()::text) WHERE id = {}",
                                        10 * (1 + rng() % kRows));
          auto r = (*conn)->Exec(sql);
          if (!r.ok()) Error(std::string(r.status().message()));
          else ++statements_;
          std::this_thread::sleep_for(milliseconds(2));
        }
      });
    }
  }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_v_) t.join();
    threads_v_.clear();
  }
  void AllowLateInserts() { late_inserts_ = true; }
  int64_t statements() const { return statements_; }
  std::vector<std::string> errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }

 private:
  void Error(std::string e) {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.push_back(std::move(e));
  }
  const std::string dbname_;
  const int threads_;
  std::vector<std::thread> threads_v_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> late_inserts_{false};
  std::atomic<int64_t> next_id_{0}, statements_{0};
  std::mutex mu_;
  std::vector<std::string> errors_;
};

class BackfillTest : public DatabaseTest {
 protected:
  // Holds a row lock (an xid) for seconds: see exclusive_server_.
  BackfillTest() {
    exclusive_server_ = CurrentTestIsOneOf({"LockedRowMakesTheBatchRetryWithoutBlockingItsHolder"});
  }

  void SetUp() override {
    DatabaseTest::SetUp();
    if (HasFatalFailure()) return;
    socket_ = fmt::format("/tmp/sc-it-bf-{}-{}.sock", ::getpid(), counter_++);
    ::unlink(socket_.c_str());
  }
  void TearDown() override {
    tool_.reset();
    ::unlink(socket_.c_str());
    DatabaseTest::TearDown();
  }

  // items(id bigint primary key, grp, flag, payload): ids 10..100000 step
  // 10, grp = id/10 % 10. A trigger records every update of `flag` in hits.
  void CreateItems() {
    MustExec(db(),
             "CREATE TABLE items (id bigint PRIMARY KEY, grp int NOT NULL, flag text, payload text); "
             "INSERT INTO items SELECT 10 * g, g % 10, NULL, 'p' FROM generate_series(1, 10000) g; "
             "CREATE TABLE hits (id bigint NOT NULL); "
             "CREATE FUNCTION count_hit() RETURNS trigger LANGUAGE plpgsql AS "
             "$$BEGIN INSERT INTO hits VALUES (NEW.id); RETURN NEW; END$$; "
             "CREATE TRIGGER items_hit AFTER UPDATE OF flag ON items FOR EACH ROW EXECUTE FUNCTION count_hit(); "
             "ANALYZE items");
  }

  std::vector<std::string> Args(std::vector<std::string> extra) {
    std::vector<std::string> args = {"backfill", "--table", "items", "--dsn", dsn(), "--max-lock-waiters", "-1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void StartTool(std::vector<std::string> extra, const EnvVars& env = {}) {
    extra.insert(extra.end(), {"--execute", "--socket", socket_});
    auto tool = ShadowcopyProcess::Start(Args(extra), env);
    ASSERT_TRUE(tool.ok()) << tool.status();
    tool_ = std::move(*tool);
  }

  ProcessResult Ctl(std::vector<std::string> words) {
    std::vector<std::string> args = {"ctl", "--socket", socket_};
    args.insert(args.end(), words.begin(), words.end());
    return RunShadowcopy(args, {}, nullptr, seconds(10));
  }

  int64_t Count(const std::string& sql) { return std::stoll("0" + QueryValue(db(), sql)); }

  // The rows loaded before the run (ids multiple of 10 up to 100000) that
  // match grp % 3 = 0: 4 in 10.
  static constexpr const char* kMatchingInSpan = "id <= 100000 AND id % 10 = 0 AND grp % 3 = 0";

  // The update's exact effect: every matching row of the span flagged and
  // counted once by the trigger, every other row untouched.
  void ExpectUpdatedExactlyOnce() {
    EXPECT_EQ(Count(fmt::format("SELECT count(*) FROM items WHERE {} AND flag IS DISTINCT FROM 'done'",
                                kMatchingInSpan)), 0) << "matching rows of the span left unchanged";
    EXPECT_EQ(Count(fmt::format("SELECT count(*) FROM items WHERE NOT ({}) AND flag IS NOT NULL",
                                kMatchingInSpan)), 0) << "rows outside the span or not matching were changed";
    EXPECT_EQ(Count("SELECT count(*) FROM (SELECT id FROM hits GROUP BY id HAVING count(*) > 1) s"), 0)
        << "rows updated more than once";
    EXPECT_EQ(Count("SELECT count(DISTINCT id) FROM hits"),
              Count(fmt::format("SELECT count(*) FROM items WHERE {}", kMatchingInSpan)));
  }

  // A killed or finished tool's sessions end asynchronously on the server
  // (and with them its advisory lock).
  void WaitForToolSessionsToEnd() {
    EXPECT_TRUE(PollUntilTrue(db(),
                              "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                              "AND application_name = 'shadowcopy_backfill')",
                              seconds(10)));
  }

  std::string Cursor() {
    return QueryValue(db(), "SELECT cursor_key[1] FROM shadowcopy.backfills WHERE finished_at IS NULL");
  }

  std::string socket_;
  std::unique_ptr<ShadowcopyProcess> tool_;
  static inline int counter_ = 0;
};

TEST_F(BackfillTest, UpdateChangesExactlyTheMatchingRowsOfTheSpan) {
  CreateItems();
  Writers writers(dbname(), 2);
  writers.Start();
  PausePoint pause;
  StartTool({"--set", "flag = 'done'", "--where", "grp % 3 = 0", "--batch-size", "50"},
            pause.Env("before-batch:77"));
  ASSERT_TRUE(pause.WaitPaused(seconds(30))) << tool_->Wait(seconds(5)).Describe();
  // 76 batches committed: ids up to 38000. Rows inserted behind the cursor
  // (and beyond the span, by the writers from now on) match the WHERE and
  // must stay untouched.
  ASSERT_EQ(Cursor(), "38000");
  writers.AllowLateInserts();
  MustExec(db(), "INSERT INTO items SELECT 10 * g + 5, 0, NULL, 'behind' FROM generate_series(1, 3799) g");
  MustExec(db(), "INSERT INTO items VALUES (100010, 0, NULL, 'late')");  // right after the span's end
  EXPECT_TRUE(PollUntilTrue(db(), "SELECT count(*) > 1 FROM items WHERE payload = 'late'", seconds(10)));
  pause.Continue();
  ProcessResult r = tool_->Wait(seconds(60));
  writers.Stop();
  ExpectSucceeded(r);
  EXPECT_GT(writers.statements(), 0);
  EXPECT_TRUE(writers.errors().empty()) << writers.errors()[0];
  ExpectUpdatedExactlyOnce();
  EXPECT_EQ(Count("SELECT count(*) FROM items WHERE payload = 'behind' AND flag IS NULL"), 3799);
  EXPECT_GT(Count("SELECT count(*) FROM items WHERE id > 100000 AND payload = 'late' AND flag IS NULL"), 0);
  EXPECT_EQ(QueryValue(db(), "SELECT outcome FROM shadowcopy.backfills"), "success");
  EXPECT_EQ(SummaryNumber(LastLine(r.out), "rows_changed").value_or(-1), 4000);
}

TEST_F(BackfillTest, DeletePurgeRemovesExactlyTheMatchingRows) {
  CreateItems();
  Writers writers(dbname(), 2);
  writers.AllowLateInserts();  // rows beyond the span (grp 0) do not match
  writers.Start();
  ProcessResult r = RunShadowcopy(Args({"--delete", "--where", "grp IN (1, 4) OR payload = 'gone'",
                                        "--target-batch-time", "20ms", "--execute", "--socket", "none"}));
  writers.Stop();
  ExpectSucceeded(r);
  EXPECT_TRUE(writers.errors().empty()) << writers.errors()[0];
  EXPECT_EQ(Count("SELECT count(*) FROM items WHERE id <= 100000 AND grp IN (1, 4)"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM items WHERE id <= 100000"), 8000);
  EXPECT_EQ(SummaryNumber(LastLine(r.out), "rows_changed").value_or(-1), 2000);
}

TEST_F(BackfillTest, PauseHoldsTheCountAndResumeFinishes) {
  CreateItems();
  PausePoint pause;
  StartTool({"--set", "flag = 'done'", "--where", "grp % 3 = 0", "--batch-size", "100"},
            pause.Env("before-batch:5"));
  ASSERT_TRUE(pause.WaitPaused(seconds(30))) << tool_->Wait(seconds(5)).Describe();
  ProcessResult p = Ctl({"pause"});
  EXPECT_EQ(p.exit_code, 0) << p.Describe();
  EXPECT_EQ(LastLine(p.out), "ok: paused the backfill (after the batch in flight)");
  pause.Continue();
  int64_t held = Count("SELECT count(*) FROM hits");
  EXPECT_GT(held, 0);
  ProcessResult status = Ctl({"status", "--json"});
  EXPECT_NE(status.out.find("\"paused\":true"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("paused by operator"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\"key_span\":\"(10) .. (100000)\""), std::string::npos) << status.out;
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    ASSERT_EQ(Count("SELECT count(*) FROM hits"), held) << "rows changed while paused";
  }
  // One shadowcopy run per table at a time.
  ProcessResult second = RunShadowcopy(Args({"--delete", "--where", "true", "--execute", "--socket", "none"}));
  ExpectFailedWithOneErrorLine(second);
  EXPECT_NE(second.err.find("already working on"), std::string::npos) << second.Describe();
  ProcessResult set = Ctl({"set", "batch-size=1000"});
  EXPECT_EQ(LastLine(set.out), "ok: batch-size=1000 (fixed size)") << set.Describe();
  EXPECT_EQ(Ctl({"resume"}).exit_code, 0);
  ProcessResult r = tool_->Wait(seconds(60));
  ExpectSucceeded(r);
  ExpectUpdatedExactlyOnce();
}

TEST_F(BackfillTest, ThrottleFlagFileHoldsTheBackfillWithItsReason) {
  CreateItems();
  std::string flag = socket_ + ".flag";
  { FILE* f = std::fopen(flag.c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  StartTool({"--set", "flag = 'done'", "--where", "grp % 3 = 0", "--throttle-flag-file", flag});
  ASSERT_TRUE(tool_->WaitForStderr("throttled:", seconds(30))) << tool_->Wait(seconds(5)).Describe();
  ProcessResult status = Ctl({"status"});
  EXPECT_NE(status.out.find("throttled:"), std::string::npos) << status.Describe();
  EXPECT_NE(status.out.find(flag), std::string::npos) << status.Describe();
  EXPECT_NE(status.out.find("0 rows changed"), std::string::npos) << status.Describe();
  EXPECT_EQ(Count("SELECT count(*) FROM hits"), 0);
  ::unlink(flag.c_str());
  ExpectSucceeded(tool_->Wait(seconds(60)));
  ExpectUpdatedExactlyOnce();
}

TEST_F(BackfillTest, ResumeAfterKill9RedoesNoCommittedBatch) {
  CreateItems();
  Writers writers(dbname(), 2);
  writers.Start();
  PausePoint pause;
  // Killed inside batch 6's transaction, after its UPDATE: that batch rolls
  // back with the crash; batches 1-5 (ids up to 15000) are committed.
  StartTool({"--set", "flag = 'done'", "--where", "grp % 3 = 0", "--batch-size", "300"},
            pause.Env("before-commit:6"));
  ASSERT_TRUE(pause.WaitPaused(seconds(30))) << tool_->Wait(seconds(5)).Describe();
  writers.AllowLateInserts();  // the span is fixed: rows beyond it from now on
  tool_->Signal(SIGKILL);
  tool_->Wait(seconds(10));
  WaitForToolSessionsToEnd();
  EXPECT_EQ(Cursor(), "15000");
  EXPECT_EQ(Count("SELECT count(*) FROM hits"), Count("SELECT count(*) FROM items WHERE id <= 15000 AND grp % 3 = 0"));
  // A new backfill is refused while this one is unfinished.
  ProcessResult again = RunShadowcopy(Args({"--set", "flag = 'done'", "--where", "grp % 3 = 0", "--execute",
                                            "--socket", "none"}));
  ExpectFailedWithOneErrorLine(again);
  EXPECT_NE(again.err.find("continue it with --resume"), std::string::npos) << again.Describe();
  ProcessResult listed = RunShadowcopy({"cleanup", "--table", "items", "--dsn", dsn()});
  EXPECT_NE(listed.out.find("would remove state of backfill"), std::string::npos) << listed.Describe();
  ProcessResult all = RunShadowcopy({"cleanup", "--all", "--dsn", dsn()});
  EXPECT_NE(all.out.find("would remove state of backfill"), std::string::npos) << all.Describe();
  ProcessResult other = RunShadowcopy(Args({"--set", "flag = 'x'", "--where", "grp % 3 = 0", "--execute",
                                            "--resume", "--socket", "none"}));
  ExpectFailedWithOneErrorLine(other);
  EXPECT_NE(other.err.find("resume with the same expressions"), std::string::npos) << other.Describe();
  WaitForToolSessionsToEnd();
  ProcessResult r = RunShadowcopy(Args({"--set", "flag = 'done'", "--where", "grp % 3 = 0", "--execute",
                                        "--resume", "--socket", "none", "--batch-size", "700"}));
  writers.Stop();
  ExpectSucceeded(r);
  EXPECT_TRUE(writers.errors().empty()) << writers.errors()[0];
  EXPECT_EQ(SummaryNumber(LastLine(r.out), "total_rows_changed").value_or(-1), 4000);
  ExpectUpdatedExactlyOnce();
}

TEST_F(BackfillTest, LockedRowMakesTheBatchRetryWithoutBlockingItsHolder) {
  CreateItems();
  auto holder = Connect();
  MustExec(*holder, "BEGIN");
  MustExec(*holder, "SELECT * FROM items WHERE id = 5010 FOR UPDATE");  // in the first batch
  StartTool({"--set", "flag = 'done'", "--where", "grp % 3 = 0 OR id = 5010", "--batch-size", "1000",
             "--lock-timeout", "200ms"});
  ASSERT_TRUE(tool_->WaitForStderr("lock timeout", seconds(30))) << tool_->Wait(seconds(5)).Describe();
  // The holder's own later statements on rows the batch may hold wait at
  // most about the batch's lock_timeout (never the deadlock timeout, 1 s).
  for (int id = 4980; id < 5010; id += 10) {
    auto t = Clock::now();
    MustExec(*holder, fmt::format("UPDATE items SET payload = 'holder' WHERE id = {}", id));
    EXPECT_LT(Clock::now() - t, milliseconds(900)) << "the holder waited behind the backfill";
  }
  MustExec(*holder, "COMMIT");
  ProcessResult r = tool_->Wait(seconds(60));
  ExpectSucceeded(r);
  EXPECT_NE(r.err.find("retrying in"), std::string::npos) << r.Describe();
  EXPECT_GT(SummaryNumber(LastLine(r.out), "lock_retries").value_or(0), 0);
  EXPECT_EQ(QueryValue(db(), "SELECT flag FROM items WHERE id = 5010"), "done");
  EXPECT_EQ(Count("SELECT count(*) FROM items WHERE id < 5010 AND payload = 'holder'"), 3);
}

TEST_F(BackfillTest, DryRunChangesNothing) {
  CreateItems();
  std::string before = QueryValue(db(), "SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM items i");
  ProcessResult r = RunShadowcopy(Args({"--set", "flag = 'done'", "--where", "grp % 3 = 0"}));
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.out.find("dry run: nothing was changed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("key span:    (10) .. (100000)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rows would change"), std::string::npos) << r.out;
  ProcessResult bad = RunShadowcopy(Args({"--set", "flag = nosuchcolumn", "--where", "grp % 3 = 0"}));
  ExpectFailedWithOneErrorLine(bad);
  EXPECT_NE(bad.err.find("nosuchcolumn"), std::string::npos) << bad.Describe();
  ProcessResult bad_exec = RunShadowcopy(Args({"--set", "flag = 'x'", "--where", "grp %% 3", "--execute"}));
  ExpectFailedWithOneErrorLine(bad_exec);
  EXPECT_EQ(QueryValue(db(), "SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM items i"), before);
  EXPECT_EQ(Count("SELECT count(*) FROM hits"), 0);
  EXPECT_EQ(QueryValue(db(), "SELECT to_regclass('shadowcopy.backfills') IS NULL"), "t");
}

TEST_F(BackfillTest, ConstraintViolationStopsWithTheKeyRange) {
  CreateItems();
  MustExec(db(), "UPDATE items SET payload = 'bad' WHERE id = 7010; "
                 "ALTER TABLE items ADD CONSTRAINT no_bad_done CHECK (flag IS NULL OR payload <> 'bad')");
  ProcessResult r = RunShadowcopy(Args({"--set", "flag = 'done'", "--where", "true", "--batch-size", "500",
                                        "--execute", "--socket", "none"}));
  ExpectFailedWithOneErrorLine(r);
  EXPECT_NE(r.err.find("batch over keys ((5000) .. (10000)]"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("no_bad_done"), std::string::npos) << r.Describe();
  EXPECT_EQ(Count("SELECT count(*) FROM items WHERE flag = 'done'"), 500);
  EXPECT_EQ(Count("SELECT max(id) FROM items WHERE flag = 'done'"), 5000);
  EXPECT_EQ(Cursor(), "5000");
}

TEST_F(BackfillTest, SigintRollsBackTheBatchInFlight) {
  CreateItems();
  PausePoint pause;
  StartTool({"--set", "flag = 'done'", "--where", "grp % 3 = 0", "--batch-size", "500"},
            pause.Env("before-commit:3"));
  ASSERT_TRUE(pause.WaitPaused(seconds(30))) << tool_->Wait(seconds(5)).Describe();
  tool_->Signal(SIGINT);
  ProcessResult r = tool_->Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 130) << r.Describe();
  EXPECT_NE(r.err.find("continue with --resume"), std::string::npos) << r.Describe();
  WaitForToolSessionsToEnd();
  EXPECT_EQ(Count("SELECT max(id) FROM hits"), 10000);  // batches 1-2: ids up to 10000
  EXPECT_EQ(Count("SELECT count(*) FROM hits"), 400);
  EXPECT_EQ(Cursor(), "10000");
  // cleanup discards the record; a new backfill may then start.
  ProcessResult c = RunShadowcopy({"cleanup", "--table", "items", "--dsn", dsn(), "--execute"});
  EXPECT_EQ(c.exit_code, 0) << c.Describe();
  EXPECT_EQ(Count("SELECT count(*) FROM shadowcopy.backfills WHERE finished_at IS NULL"), 0);
}

TEST_F(BackfillTest, CtlAbortStopsAndKeepsTheCheckpoint) {
  CreateItems();
  PausePoint pause;
  StartTool({"--delete", "--where", "grp = 7", "--batch-size", "1000"}, pause.Env("before-commit:2"));
  ASSERT_TRUE(pause.WaitPaused(seconds(30))) << tool_->Wait(seconds(5)).Describe();
  ProcessResult a = Ctl({"abort"});
  EXPECT_NE(a.out.find("ok: aborting"), std::string::npos) << a.Describe();
  ProcessResult r = tool_->Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 130) << r.Describe();
  EXPECT_EQ(Count("SELECT count(*) FROM items WHERE grp = 7"), 900);  // batch 1 committed, batch 2 rolled back
  EXPECT_EQ(Cursor(), "10000");
  EXPECT_EQ(QueryValue(db(), "SELECT last_error FROM shadowcopy.backfills"), "interrupted");
}

TEST_F(BackfillTest, LostConnectionContinuesFromTheCheckpoint) {
  CreateItems();
  PausePoint pause;
  StartTool({"--set", "flag = 'done'", "--where", "grp % 3 = 0", "--batch-size", "500"},
            pause.Env("before-commit:4"));
  ASSERT_TRUE(pause.WaitPaused(seconds(30))) << tool_->Wait(seconds(5)).Describe();
  // The session dies inside batch 4's transaction: the batch rolls back and
  // the run reconnects and continues after batch 3's checkpoint.
  MustExec(db(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                 "AND application_name = 'shadowcopy_backfill'");
  pause.Continue();
  ProcessResult r = tool_->Wait(seconds(60));
  ExpectSucceeded(r);
  EXPECT_NE(r.err.find("reconnecting"), std::string::npos) << r.Describe();
  ExpectUpdatedExactlyOnce();
}

TEST_F(BackfillTest, CompositeKeyAndOddIdentifiers) {
  MustExec(db(),
           "CREATE SCHEMA \"Odd Schema\"; "
           "CREATE TABLE \"Odd Schema\".\"Order \"\"Lines\"\"\" (\"Region\" text NOT NULL, \"line no\" int NOT NULL, "
           "\"Note\" text, PRIMARY KEY (\"Region\", \"line no\")); "
           "INSERT INTO \"Odd Schema\".\"Order \"\"Lines\"\"\" SELECT r, n, NULL FROM unnest(ARRAY['eu', 'us', "
           "'ap''s']) r, generate_series(1, 700) n");
  ProcessResult r = RunShadowcopy({"backfill", "--schema", "Odd Schema", "--table", "Order \"Lines\"", "--dsn",
                                   dsn(), "--set", "\"Note\" = \"Region\" || '-' || \"line no\"", "--where",
                                   "\"line no\" % 2 = 0", "--batch-size", "37", "--execute", "--socket", "none"});
  ExpectSucceeded(r);
  EXPECT_EQ(SummaryNumber(LastLine(r.out), "rows_changed").value_or(-1), 1050);
  EXPECT_EQ(Count("SELECT count(*) FROM \"Odd Schema\".\"Order \"\"Lines\"\"\" WHERE \"Note\" IS DISTINCT FROM "
                  "CASE WHEN \"line no\" % 2 = 0 THEN \"Region\" || '-' || \"line no\" END"), 0);
}

TEST_F(BackfillTest, BadInputGetsOneErrorLine) {
  CreateItems();
  MustExec(db(), "CREATE TABLE nokey (a int, b text); INSERT INTO nokey VALUES (1, 'x')");
  ExpectFailedWithOneErrorLine(RunShadowcopy(Args({"--table", "missing", "--delete", "--where", "true"})));
  ProcessResult nokey = RunShadowcopy({"backfill", "--table", "nokey", "--dsn", dsn(), "--delete", "--where", "true"});
  ExpectFailedWithOneErrorLine(nokey);
  EXPECT_NE(nokey.err.find("no usable key"), std::string::npos) << nokey.Describe();
  ProcessResult escape = RunShadowcopy(Args({"--delete", "--where", "false) OR (true", "--execute"}));
  ExpectFailedWithOneErrorLine(escape);
  ProcessResult usage = RunShadowcopy(Args({"--delete"}));
  EXPECT_EQ(usage.exit_code, 2) << usage.Describe();
  EXPECT_EQ(Count("SELECT count(*) FROM items"), kRows);
  EXPECT_EQ(Count("SELECT count(*) FROM nokey"), 1);
}

}  // namespace
}  // namespace shadowcopy::it
