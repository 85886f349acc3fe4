// The command line against an unlucky or hostile environment: SIGHUP (a
// dropped SSH session) and a closed stdout (`--progress json | head -1`) end
// or continue a run cleanly; the default control socket is private to the
// user and unique per database and table, so two tables whose names sanitise
// alike, a squatter at the default path and unsafe socket directories are
// told apart; a missing postpone flag file is an error; hundreds of control
// connections are capped without hurting the run.
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string MakeTempDir(const std::string& tag) {
  std::string tmpl = "/tmp/sc-it-" + tag + "-XXXXXX";
  char* made = ::mkdtemp(tmpl.data());
  return made != nullptr ? std::string(made) : std::string();
}

int ConnectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads what arrives on `fd` within `timeout` (until EOF).
std::string ReadFor(int fd, milliseconds timeout) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[512];
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return got;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return got;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
}

// A process of ours listening at `path` that answers every line with a
// forged "ok: tables match" and records what it was sent.
class Squatter {
 public:
  explicit Squatter(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(fd_, 16) == 0;
    if (ok_) thread_ = std::thread([this] { Serve(); });
  }
  ~Squatter() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  std::string received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string got = ReadFor(c, milliseconds(300));
      {
        std::lock_guard<std::mutex> lock(mu_);
        received_ += got;
      }
      std::string forged = "ok: tables match\n";
      (void)::send(c, forged.data(), forged.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::string received_;
};

class HostileCliTest : public DatabaseTest {
 protected:
  void SetUp() override {
    DatabaseTest::SetUp();
    if (HasFatalFailure()) return;
    runtime_ = MakeTempDir("rt");
    tmp_ = MakeTempDir("tmp");
    ASSERT_FALSE(runtime_.empty());
    ASSERT_FALSE(tmp_.empty());
    ASSERT_EQ(::chmod(runtime_.c_str(), 0700), 0);
  }
  void TearDown() override {
    std::error_code ec;
    for (const auto& d : {runtime_, tmp_}) {
      if (d.empty()) continue;
      ::chmod(d.c_str(), 0700);
      std::filesystem::remove_all(d, ec);
    }
    DatabaseTest::TearDown();
  }

  // The tool's environment: a private runtime directory of the test's own.
  EnvVars Env() const { return {{"XDG_RUNTIME_DIR", runtime_}, {"TMPDIR", tmp_}}; }

  ProcessResult Ctl(std::vector<std::string> args, const EnvVars& env) {
    args.insert(args.begin(), "ctl");
    return RunShadowcopy(args, env, nullptr, seconds(20));
  }
  ProcessResult CtlTable(const std::string& table, std::vector<std::string> words) {
    std::vector<std::string> args = {"--table", table, "--dsn", dsn()};
    args.insert(args.end(), words.begin(), words.end());
    return Ctl(args, Env());
  }

  // The "control socket: PATH (...)" path a run printed.
  static std::string SocketOf(const std::string& err) {
    static constexpr std::string_view kTag = "control socket: ";
    auto at = err.find(kTag);
    if (at == std::string::npos) return "";
    at += kTag.size();
    return err.substr(at, err.find(' ', at) - at);
  }

  void CreateKeyed(const std::string& quoted, int rows) {
    MustExec(db(), "CREATE TABLE " + quoted + " (id int PRIMARY KEY, v text NOT NULL); INSERT INTO " + quoted +
                       " SELECT g, 'v' || g FROM generate_series(1, " + std::to_string(rows) + ") g");
  }

  std::string runtime_, tmp_;
};

TEST_F(HostileCliTest, SighupDuringCopyCleansUpAndListsIt) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 30000, 300).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(
      ToolArgs("orders", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute", "--chunk-size", "200"}), Env());
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("phase=copy", seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  (*tool)->Signal(SIGHUP);
  ProcessResult result = (*tool)->Wait(seconds(60));
  workload.Stop();
  EXPECT_FALSE(result.timed_out) << result.Describe();
  EXPECT_EQ(result.term_signal, 0) << "killed by the signal, no cleanup\n" << result.Describe();
  EXPECT_EQ(result.exit_code, 130) << result.Describe();
  EXPECT_THAT(result.err, HasSubstr("received SIGHUP"));
  EXPECT_THAT(result.err, HasSubstr("removed"));
  EXPECT_THAT(result.err, HasSubstr("shadowcopy_" + oid)) << "the removed slot is listed";
  ExpectNoWorkloadErrors(workload);
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(TableOid("orders"), oid);
  ExpectMirrorEqual(db(), "orders", "truth");
  // No socket file is left in the runtime directory.
  EXPECT_TRUE(std::filesystem::is_empty(runtime_)) << "socket file left in " << runtime_;
}

TEST_F(HostileCliTest, SighupStopsABackfillCleanly) {
  MustExec(db(), "CREATE TABLE items (id bigint PRIMARY KEY, flag text); "
                 "INSERT INTO items SELECT 10 * g, NULL FROM generate_series(1, 5000) g");
  PausePoint pause;
  EnvVars env = Env();
  for (const auto& [k, v] : pause.Env("before-commit:3")) env[k] = v;
  auto tool = ShadowcopyProcess::Start({"backfill", "--table", "items", "--dsn", dsn(), "--max-lock-waiters", "-1",
                                        "--set", "flag = 'done'", "--where", "true", "--batch-size", "500",
                                        "--execute"},
                                       env);
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE(pause.WaitPaused(seconds(30))) << (*tool)->Wait(seconds(5)).Describe();
  (*tool)->Signal(SIGHUP);
  ProcessResult r = (*tool)->Wait(seconds(30));
  EXPECT_EQ(r.term_signal, 0) << r.Describe();
  EXPECT_EQ(r.exit_code, 130) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("continue with --resume"));
  EXPECT_TRUE(std::filesystem::is_empty(runtime_)) << "socket file left in " << runtime_;
  // Batches 1-2 committed, the third rolled back.
  PollUntilTrue(db(), "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = current_database() "
                      "AND pid <> pg_backend_pid() AND backend_type = 'client backend'", seconds(10));
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM items WHERE flag = 'done'"), "1000");
  ProcessResult c = RunShadowcopy({"cleanup", "--table", "items", "--dsn", dsn(), "--execute"}, Env());
  EXPECT_EQ(c.exit_code, 0) << c.Describe();
}

TEST_F(HostileCliTest, ClosedStdoutDoesNotKillTheRun) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 400).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{.writers = 2});
  ASSERT_TRUE(workload.Start().ok());
  auto tool = ShadowcopyProcess::Start(
      ToolArgs("orders", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute", "--chunk-size", "300",
                          "--progress", "json", "--progress-interval", "100ms"}),
      Env());
  ASSERT_TRUE(tool.ok()) << tool.status();
  (*tool)->CloseStdoutAfterLines(1);  // `| head -1`
  ASSERT_TRUE((*tool)->WaitForStderr("stdout is closed", seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  ProcessResult result = (*tool)->Wait(seconds(120));
  workload.Stop();
  EXPECT_FALSE(result.timed_out) << result.Describe();
  EXPECT_EQ(result.term_signal, 0) << result.Describe();
  EXPECT_EQ(result.exit_code, 0) << result.Describe();
  EXPECT_THAT(result.out, StartsWith("{\"phase\"")) << "the one line read";
  ExpectNoWorkloadErrors(workload);
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(QueryValue(db(), "SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                             "AND attname = 'id'"),
            "bigint");
  ExpectMirrorEqual(db(), "orders", "truth");
}

TEST_F(HostileCliTest, TablesThatSanitiseAlikeGetTheirOwnSockets) {
  CreateKeyed("\"a b\"", 2000);
  CreateKeyed("a_b", 2000);
  std::vector<std::string> extra = {"--execute", "--postpone-cutover"};
  // One after the other: two runs creating the state schema at the same
  // moment in a fresh database collide.
  auto spaced = ShadowcopyProcess::Start(ToolArgs("a b", extra), Env());
  ASSERT_TRUE(spaced.ok());
  ASSERT_TRUE((*spaced)->WaitForStderr("phase=postponed", seconds(60))) << (*spaced)->Wait(seconds(5)).Describe();
  auto plain = ShadowcopyProcess::Start(ToolArgs("a_b", extra), Env());
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE((*plain)->WaitForStderr("phase=postponed", seconds(60))) << (*plain)->Wait(seconds(5)).Describe();

  ProcessResult abort = CtlTable("a_b", {"abort"});
  EXPECT_EQ(abort.exit_code, 0) << abort.Describe();
  ProcessResult plain_result = (*plain)->Wait(seconds(60));
  EXPECT_EQ(plain_result.exit_code, 130) << plain_result.Describe();
  std::string spaced_socket = SocketOf((*spaced)->StderrSoFar());
  EXPECT_NE(SocketOf(plain_result.err), spaced_socket);
  EXPECT_THAT(plain_result.err, Not(HasSubstr("in use by another process")));

  // The other run was not touched and still answers at its own socket.
  ProcessResult status = CtlTable("a b", {"status"});
  EXPECT_EQ(status.exit_code, 0) << status.Describe();
  EXPECT_THAT(status.out, HasSubstr("cutover postponed"));
  EXPECT_EQ(CtlTable("a b", {"cutover"}).exit_code, 0);
  ExpectSucceeded((*spaced)->Wait(seconds(60)));
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM \"a b\""), "2000");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM a_b"), "2000");
  ExpectNothingLeftBehind("a b");
  ExpectNothingLeftBehind("a_b");
}

TEST_F(HostileCliTest, SquatterAtTheDefaultPathIsNeverObeyed) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
  ProcessResult where = Ctl({"--table", "orders", "--dsn", dsn(), "--print-socket"}, Env());
  ASSERT_EQ(where.exit_code, 0) << where.Describe();
  std::string default_path = where.out.substr(0, where.out.find('\n'));
  EXPECT_THAT(default_path, StartsWith(runtime_ + "/shadowcopy-orders-"));
  Squatter squatter(default_path);
  ASSERT_TRUE(squatter.ok());

  auto tool = ShadowcopyProcess::Start(ToolArgs("orders", {"--execute", "--postpone-cutover"}), Env());
  ASSERT_TRUE(tool.ok());
  ASSERT_TRUE((*tool)->WaitForStderr("phase=postponed", seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  std::string err = (*tool)->StderrSoFar();
  std::string used = SocketOf(err);
  EXPECT_NE(used, default_path);
  EXPECT_THAT(err, HasSubstr(default_path + " is in use by another process; using " + used));
  EXPECT_THAT(err, HasSubstr("shadowcopy ctl --socket " + used + " cutover")) << "the hint names the path used";

  // ctl and verify by table find the run, never obey the squatter.
  ProcessResult status = CtlTable("orders", {"status"});
  EXPECT_EQ(status.exit_code, 0) << status.Describe();
  EXPECT_THAT(status.out, HasSubstr("cutover postponed"));
  ProcessResult verify = RunShadowcopy({"verify", "--table", "orders", "--dsn", dsn()}, Env(), nullptr, seconds(60));
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  EXPECT_THAT(verify.err, HasSubstr("verification requested"));
  // A socket that is not ours is not talked to at all.
  ASSERT_EQ(::chown(default_path.c_str(), 65534, 65534), 0);
  std::string before = squatter.received();
  ProcessResult foreign = Ctl({"--socket", default_path, "abort"}, Env());
  EXPECT_EQ(foreign.exit_code, 3) << foreign.Describe();
  EXPECT_THAT(foreign.err, HasSubstr("belongs to uid 65534"));
  EXPECT_EQ(squatter.received(), before);
  for (std::string_view word : {"status", "verify", "abort", "cutover"})
    EXPECT_THAT(squatter.received(), Not(HasSubstr(word))) << "the squatter was sent a command";

  EXPECT_EQ(CtlTable("orders", {"cutover"}).exit_code, 0);
  ExpectSucceeded((*tool)->Wait(seconds(60)));
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

TEST_F(HostileCliTest, UnsafeSocketDirectoriesAreRefused) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 500, 1000).ok());
  std::string oid = TableOid("orders");
  // An $XDG_RUNTIME_DIR open to others is passed over for $TMPDIR/shadowcopy-<uid>.
  ASSERT_EQ(::chmod(runtime_.c_str(), 0777), 0);
  std::string own = tmp_ + "/shadowcopy-" + std::to_string(::geteuid());
  ProcessResult where = Ctl({"--table", "orders", "--dsn", dsn(), "--print-socket"}, Env());
  ASSERT_EQ(where.exit_code, 0) << where.Describe();
  EXPECT_THAT(where.out, StartsWith(own + "/shadowcopy-orders-"));
  struct stat st;
  ASSERT_EQ(::lstat(own.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto refused = [&](const std::string& why) {
    ProcessResult r = RunShadowcopy(ToolArgs("orders", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute"}),
                                    Env(), nullptr, seconds(60));
    ExpectFailedWithOneErrorLine(r);
    EXPECT_THAT(r.err, HasSubstr(why)) << r.Describe();
    ExpectNothingLeftBehind("orders");
    EXPECT_EQ(TableOid("orders"), oid);
    ProcessResult ctl = CtlTable("orders", {"status"});
    EXPECT_NE(ctl.exit_code, 0) << ctl.Describe();
  };
  ASSERT_EQ(::chmod(own.c_str(), 0777), 0);  // writable by anyone
  refused("mode 0777");
  ASSERT_EQ(::chmod(own.c_str(), 0700), 0);
  ASSERT_EQ(::chown(own.c_str(), 65534, 65534), 0);  // someone else's
  refused("belongs to uid 65534");
  ASSERT_EQ(::rmdir(own.c_str()), 0);
  std::string elsewhere = MakeTempDir("elsewhere");
  ASSERT_EQ(::symlink(elsewhere.c_str(), own.c_str()), 0);  // a symlink
  refused("symbolic link");
  ::unlink(own.c_str());
  ::rmdir(elsewhere.c_str());
}

TEST_F(HostileCliTest, MissingPostponeFlagFileIsAnError) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 500, 1000).ok());
  std::string oid = TableOid("orders");
  ProcessResult r = RunShadowcopy(
      ToolArgs("orders", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute", "--postpone-cutover-flag-file",
                          tmp_ + "/no-such-flag"}),
      Env(), nullptr, seconds(60));
  ExpectFailedWithOneErrorLine(r);
  EXPECT_THAT(r.err, HasSubstr("no-such-flag"));
  ExpectNothingLeftBehind("orders");
  EXPECT_EQ(TableOid("orders"), oid);
  EXPECT_FALSE(AnyOldTableOf("orders"));
  EXPECT_TRUE(std::filesystem::is_empty(runtime_)) << "a socket was created";
}

TEST_F(HostileCliTest, ManyControlConnectionsAreCapped) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000, 1000).ok());
  auto tool = ShadowcopyProcess::Start(ToolArgs("orders", {"--execute", "--postpone-cutover"}), Env());
  ASSERT_TRUE(tool.ok());
  ASSERT_TRUE((*tool)->WaitForStderr("phase=postponed", seconds(60))) << (*tool)->Wait(seconds(5)).Describe();
  std::string socket = SocketOf((*tool)->StderrSoFar());
  ASSERT_FALSE(socket.empty());
  std::vector<int> fds;
  for (int i = 0; i < 200; ++i) {
    int fd = ConnectUnix(socket);
    if (fd >= 0) fds.push_back(fd);
  }
  EXPECT_GE(fds.size(), 190u) << "the listen backlog refused connections";
  int refused = 0, held = 0;
  std::vector<int> silent;
  for (int fd : fds) {
    std::string got = ReadFor(fd, milliseconds(10));
    if (got.find("error: too many control connections") != std::string::npos) ++refused;
    else silent.push_back(fd);
  }
  for (int fd : silent) {  // a second look at those not reached yet
    std::string got = ReadFor(fd, milliseconds(100));
    if (got.find("error: too many control connections") != std::string::npos) ++refused;
    else ++held;
  }
  for (int fd : fds) ::close(fd);
  EXPECT_LE(held, 16) << refused << " refused";
  EXPECT_EQ(refused + held, static_cast<int>(fds.size()));
  // The run goes on and answers as soon as the connections are gone.
  ProcessResult status;
  for (int attempt = 0; attempt < 50; ++attempt) {
    status = CtlTable("orders", {"status"});
    if (status.exit_code == 0) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(status.exit_code, 0) << status.Describe();
  EXPECT_THAT(status.out, HasSubstr("cutover postponed"));
  EXPECT_EQ(CtlTable("orders", {"cutover"}).exit_code, 0);
  ExpectSucceeded((*tool)->Wait(seconds(60)));
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

}  // namespace
}  // namespace shadowcopy::it
