// Integration-test harness: runs the shadowcopy binary as a child process
// (capturing stdout and stderr, reacting to stderr lines, killing it on
// timeout or on demand) and gives every test a fresh database on the server
// named by the PG* environment variables, dropped again at teardown together
// with any replication slot left in it.
//
// Thread-safety: a ShadowcopyProcess may be signalled and queried from any
// thread; the line callback runs on the process's reader thread and must not
// block. A fixture and its connections belong to the test's thread.
#ifndef SHADOWCOPY_TESTS_INTEGRATION_HARNESS_H_
#define SHADOWCOPY_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "gtest/gtest.h"

namespace shadowcopy::it {

using StderrLineCallback = std::function<void(const std::string& line)>;
using EnvVars = std::map<std::string, std::string>;

// What a finished process left behind.
struct ProcessResult {
  int exit_code = -1;            // exit status, or 128 + signal when killed
  int term_signal = 0;           // the signal that ended it, 0 when it exited
  bool timed_out = false;        // the harness killed it after the timeout
  std::string out;               // everything written to stdout
  std::string err;               // everything written to stderr
  std::string Describe() const;  // exit code plus stdout/stderr, for failure messages
};

// Path of the shadowcopy binary: $SHADOWCOPY_BIN, else the build's target.
std::string ShadowcopyBinary();

// A running shadowcopy child. The destructor kills (SIGKILL) and reaps a
// child that is still running.
class ShadowcopyProcess {
 public:
  // Starts the binary with `args` (without argv[0]) in the current
  // environment plus `env_extra` (which overrides). `on_stderr_line` (may be
  // empty) is called for every complete stderr line, on the reader thread.
  static absl::StatusOr<std::unique_ptr<ShadowcopyProcess>> Start(
      const std::vector<std::string>& args, const EnvVars& env_extra = {},
      StderrLineCallback on_stderr_line = nullptr);
  ~ShadowcopyProcess();
  ShadowcopyProcess(const ShadowcopyProcess&) = delete;
  ShadowcopyProcess& operator=(const ShadowcopyProcess&) = delete;

  pid_t pid() const { return pid_; }
  // True once the child closed its output (it has exited or is exiting).
  bool OutputClosed();
  // Closes the read end of the child's stdout once it has written `lines`
  // complete lines (at once when it has already), like `| head -n LINES`:
  // the child's later writes to stdout fail with EPIPE (or SIGPIPE).
  void CloseStdoutAfterLines(int lines);
  // Everything the child has written to stderr so far (it keeps running).
  std::string StderrSoFar();
  // Sends `sig` to the child unless it has been reaped already.
  void Signal(int sig);
  // Waits until a stderr line containing `needle` has been seen (including
  // lines seen before the call). False on timeout or when the process ended
  // without printing it.
  bool WaitForStderr(std::string_view needle, std::chrono::milliseconds timeout);
  // Waits for the child to end; after `timeout` it is killed with SIGKILL and
  // the result says timed_out. Later calls return the same result.
  ProcessResult Wait(std::chrono::milliseconds timeout = std::chrono::seconds(180));

 private:
  ShadowcopyProcess(pid_t pid, int out_fd, int err_fd, StderrLineCallback cb);
  void ReadPipes();  // reader thread body
  void HandleStderrBytes(std::string_view bytes);

  const pid_t pid_;
  const int out_fd_;
  const int err_fd_;
  const StderrLineCallback on_line_;
  std::thread reader_;
  std::atomic<bool> abandon_{false};  // the reader stops without EOF
  std::atomic<int> close_stdout_after_{0};  // > 0: CloseStdoutAfterLines
  std::atomic<bool> stdout_closed_{false};  // out_fd_ closed by the reader

  std::mutex mu_;
  std::condition_variable cv_;
  std::string out_;                      // guarded by mu_
  std::string err_;                      // guarded by mu_
  std::string partial_line_;             // reader thread only
  std::vector<std::string> err_lines_;   // guarded by mu_
  bool pipes_closed_ = false;            // guarded by mu_
  bool reaped_ = false;                  // guarded by mu_
  std::optional<ProcessResult> result_;  // guarded by mu_
};

// Runs the binary to completion (see ShadowcopyProcess::Start and Wait).
ProcessResult RunShadowcopy(const std::vector<std::string>& args, const EnvVars& env_extra = {},
                            StderrLineCallback on_stderr_line = nullptr,
                            std::chrono::milliseconds timeout = std::chrono::seconds(180));

// The last non-empty line of `text`.
std::string LastLine(std::string_view text);
// Lines of `text` that start with `prefix`.
std::vector<std::string> LinesStartingWith(std::string_view text, std::string_view prefix);
// Extracts `"key":<number>` from the summary JSON line; nullopt when absent.
std::optional<double> SummaryNumber(std::string_view json_line, std::string_view key);

// Expects exit code 0 and a `{"summary":...}` JSON object as the last line of
// stdout, with the whole output in the failure message.
void ExpectSucceeded(const ProcessResult& result);
// Expects exit code 1 and exactly one stderr line starting with
// "shadowcopy: error:".
void ExpectFailedWithOneErrorLine(const ProcessResult& result);

// A test-only pause point of the tool (SHADOWCOPY_TEST_PAUSE_DIR/_AT): a
// fresh directory in which the tool creates `paused` and waits for
// `continue`. Removed with its content on destruction.
class PausePoint {
 public:
  PausePoint();
  ~PausePoint();
  PausePoint(const PausePoint&) = delete;
  PausePoint& operator=(const PausePoint&) = delete;

  // Environment for the tool: pause at `at` ("before-commit:3").
  EnvVars Env(const std::string& at) const;
  // Waits until the tool has created `paused` (or `process` has ended).
  bool WaitPaused(std::chrono::milliseconds timeout) const;
  // Lets the tool go on.
  void Continue() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// Connection options for the test database `dbname`; `settings` are sent
// as -c options.
ConnectOptions TestConnectOptions(const std::string& dbname,
                                  std::vector<std::pair<std::string, std::string>> settings = {});

// Runs `sql`, failing the test with the error (and returning an empty
// result) when it fails. Use for the harness's own fixed SQL.
PgResult MustExec(PgConn& conn, std::string_view sql);
// Single value of a one-row, one-column query ("" when NULL or no row).
std::string QueryValue(PgConn& conn, std::string_view sql);

// pg_ctl restart -m `mode` ("fast"; "immediate": a crash, recovered at the
// start) of the server `conn` is on, as the server's OS user (pg_ctl from
// $SC_PG_BIN, log to $SC_PG_LOG, as scripts/lib/pg.sh sets them). Every
// session of the server ends: run it in a test that has the server to
// itself. A fast shutdown waits for every walsender's client to confirm the
// WAL sent: a tool paused in a test does not, use "immediate" then. An
// error when the data directory is not reachable from here or pg_ctl
// fails; `conn` must be reset afterwards.
absl::Status RestartServerFast(PgConn& conn, const std::string& mode = "fast");

// Fixture base: a fresh database per test, dropped at teardown.
class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  const std::string& dbname() const { return dbname_; }
  std::string dsn() const { return "dbname=" + dbname_; }
  PgConn& db() { return *conn_; }  // the fixture's own session; REQUIRES: HasDb()
  bool HasDb() const { return conn_ != nullptr; }
  // A new session on the test database.
  std::unique_ptr<PgConn> Connect(std::vector<std::pair<std::string, std::string>> settings = {});
  // --table T --dsn <test db> followed by `extra`.
  std::vector<std::string> ToolArgs(const std::string& table,
                                    std::vector<std::string> extra = {}) const;
  // OID of `table` as text.
  std::string TableOid(const std::string& table);
  // Fails the test if a shadowcopy% slot or publication or a _T_shadow
  // table remains in this database.
  void ExpectNothingLeftBehind(const std::string& table);
  bool TableExists(const std::string& table);
  // The suffix the latest run on `table` recorded for its old objects
  // ("_old_<UTC yyyymmddhhmmss>"); fails the test when no run is recorded.
  std::string OldSuffixOf(const std::string& table);
  // The name the latest run on `table` gave (or gives, at its swap) the
  // original: _<table><OldSuffixOf(table)>, cut to 63 bytes as the run cut it.
  std::string OldTableOf(const std::string& table);
  // Whether an old table of `table` exists, whichever run kept it: a
  // relation named _<table>_old or _<table>_old_<14 digits> in any schema,
  // or the original of a recorded run under a name that is not the table's.
  bool AnyOldTableOf(const std::string& table);

  // Set false in a test that deliberately leaves leftovers (kill -9).
  bool expect_clean_at_teardown_ = true;
  // Set true (in the fixture's constructor, see CurrentTestIsOneOf) by tests
  // that must have the server to themselves while other tests (in other
  // processes, ctest -j) share it: tests that change server-wide settings
  // (synchronous_standby_names, a restart, every free replication slot), and
  // tests that keep a transaction with an xid open for more than a moment (an
  // application's row or ACCESS EXCLUSIVE lock, nextval, the tool paused
  // inside its batch): creating a logical slot waits for every such
  // transaction on the server, so it would stall the neighbours' runs.
  // An exclusive test waiting for the server goes before tests that arrive
  // after it. See tests/integration/README.md.
  bool exclusive_server_ = false;

 private:
  std::string dbname_;
  std::unique_ptr<PgConn> conn_;
  int server_lock_fd_ = -1;  // flock()ed file named after PGHOST/PGPORT
};

// True when the running test's name (without its suite) is one of `names`;
// for a fixture's constructor: `exclusive_server_ = CurrentTestIsOneOf({...})`.
bool CurrentTestIsOneOf(std::initializer_list<std::string_view> names);

// Database name for the running test: "it_" + suite + "_" + name, lower
// case, non-alphanumerics as '_', at most 63 bytes.
std::string DatabaseNameForCurrentTest();

// Polls `sql` (a boolean query) every 50 ms until it returns true or
// `timeout` passes; returns whether it became true.
bool PollUntilTrue(PgConn& conn, std::string_view sql, std::chrono::milliseconds timeout);

}  // namespace shadowcopy::it

#endif  // SHADOWCOPY_TESTS_INTEGRATION_HARNESS_H_
