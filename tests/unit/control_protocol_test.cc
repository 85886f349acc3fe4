// The control socket protocol: the pure parser (every command, malformed
// ones), command execution against a real engine::Control (replies, and
// nothing changes on an error), the default socket path, and the server and
// the ctl client end to end over a real Unix socket (mode 0600, several
// clients, stale file replaced, live server refused, file removed on Stop).
#include <csignal>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "cli/control_server.h"
#include "cli/socket_path.h"
#include "cli/ctl.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

ControlCommand MustParse(std::string_view line) {
  auto c = ParseControlCommand(line);
  EXPECT_TRUE(c.ok()) << line << ": " << c.status();
  return c.ok() ? *c : ControlCommand{};
}

TEST(ParseControlCommandTest, EveryCommand) {
  EXPECT_EQ(MustParse("help").verb, ControlVerb::kHelp);
  EXPECT_EQ(MustParse("status").verb, ControlVerb::kStatus);
  EXPECT_FALSE(MustParse("status").json);
  EXPECT_TRUE(MustParse("status --json").json);
  EXPECT_EQ(MustParse("pause").verb, ControlVerb::kPause);
  EXPECT_FALSE(MustParse("pause").replay);
  EXPECT_TRUE(MustParse("pause --replay").replay);
  EXPECT_EQ(MustParse("resume").verb, ControlVerb::kResume);
  EXPECT_EQ(MustParse("cutover").verb, ControlVerb::kCutover);
  EXPECT_EQ(MustParse("abort").verb, ControlVerb::kAbort);
  auto set = MustParse("set chunk-size=500");
  EXPECT_EQ(set.verb, ControlVerb::kSet);
  EXPECT_EQ(set.name, "chunk-size");
  EXPECT_EQ(set.value, "500");
  EXPECT_EQ(MustParse("verify").verb, ControlVerb::kVerify);
  auto vr = MustParse("verify-result 12");
  EXPECT_EQ(vr.verb, ControlVerb::kVerifyResult);
  EXPECT_EQ(vr.request, 12u);
  auto get = MustParse("get max-replica-lag");
  EXPECT_EQ(get.verb, ControlVerb::kGet);
  EXPECT_EQ(get.name, "max-replica-lag");
}

TEST(ParseControlCommandTest, BlanksAndLineEndings) {
  EXPECT_EQ(MustParse("  status \r\n").verb, ControlVerb::kStatus);
  EXPECT_TRUE(MustParse("status\t--json\r").json);
  auto set = MustParse("set   target-chunk-time=2s  ");
  EXPECT_EQ(set.value, "2s");
  EXPECT_EQ(MustParse("set x=a=b").value, "a=b") << "the first = splits";
}

TEST(ParseControlCommandTest, Malformed) {
  for (const char* bad :
       {"", "   ", "\r\n", "stats", "STATUS", "status --yaml", "status --json extra", "pause now",
        "pause --replay x", "resume 1", "help me", "cutover now", "abort!", "abort now", "set",
        "set chunk-size", "set chunk-size=", "set =5", "set chunk-size = 5", "set a=1 b=2", "get",
        "get a b", "rm -rf /", "\x01\x02", "verify now", "verify-result", "verify-result 0",
        "verify-result x", "verify-result 1 2", "verify-result -1"}) {
    auto c = ParseControlCommand(bad);
    EXPECT_FALSE(c.ok()) << "'" << bad << "' parsed";
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  std::string huge(10000, 'x');
  auto c = ParseControlCommand(huge);
  ASSERT_FALSE(c.ok());
  EXPECT_LT(c.status().message().size(), 200u) << "the echo of an unknown verb is bounded";
}

TEST(ExecuteControlCommandTest, RepliesAndChanges) {
  engine::Control c(engine::ControlSettings{});
  EXPECT_THAT(HandleControlLine(c, "help"), HasSubstr("set NAME=VALUE"));
  EXPECT_THAT(HandleControlLine(c, "help"), HasSubstr("chunk-size=10000"));
  EXPECT_EQ(HandleControlLine(c, "pause"), "ok: paused the copy (replay continues)");
  EXPECT_TRUE(c.paused());
  EXPECT_EQ(HandleControlLine(c, "pause"), "ok: already paused");
  EXPECT_THAT(HandleControlLine(c, "status"), HasSubstr("paused by operator"));
  EXPECT_THAT(HandleControlLine(c, "status --json"), HasSubstr("\"paused\":true"));
  EXPECT_EQ(HandleControlLine(c, "resume"), "ok: resumed");
  EXPECT_EQ(HandleControlLine(c, "set chunk-size=500"), "ok: chunk-size=500 (fixed size)");
  EXPECT_TRUE(c.Sizing().fixed);
  EXPECT_EQ(HandleControlLine(c, "get chunk-size"), "chunk-size=500");
  EXPECT_EQ(HandleControlLine(c, "set target-chunk-time=1s"), "ok: target-chunk-time=1s (adaptive sizing)");
  EXPECT_FALSE(c.Sizing().fixed);
  EXPECT_EQ(HandleControlLine(c, "set max-replica-lag=2s"), "ok: max-replica-lag=2s");
  EXPECT_EQ(HandleControlLine(c, "set max-lock-waiters=2"), "ok: max-lock-waiters=2");
  EXPECT_EQ(HandleControlLine(c, "set max-active=30"), "ok: max-active=30");
  EXPECT_THAT(HandleControlLine(c, "cutover"), StartsWith("error: the cutover is not postponed"));
  EXPECT_THAT(HandleControlLine(c, "abort"), StartsWith("ok: aborting"));
  EXPECT_TRUE(c.abort_requested());
}

TEST(ExecuteControlCommandTest, VerifyRequestsAndResults) {
  engine::Control c(engine::ControlSettings{});
  EXPECT_THAT(HandleControlLine(c, "verify-result 1"), StartsWith("error: no verification request 1"));
  EXPECT_EQ(HandleControlLine(c, "verify"), "ok: verification requested (request 1)");
  EXPECT_EQ(c.verify_requested(), 1u);
  EXPECT_THAT(HandleControlLine(c, "verify-result 1"), StartsWith("pending: verification 1 is queued"));
  EXPECT_EQ(HandleControlLine(c, "verify"), "ok: verification requested (request 2)");
  c.VerifyCompleted(1, true, "verified: 3 ranges");
  EXPECT_EQ(HandleControlLine(c, "verify-result 1"), "ok: verified: 3 ranges");
  EXPECT_THAT(HandleControlLine(c, "verify-result 2"), StartsWith("pending:"));
  c.VerifyCompleted(2, false, "range differs");
  EXPECT_EQ(HandleControlLine(c, "verify-result 2"), "error: range differs");
  EXPECT_THAT(HandleControlLine(c, "verify-result 3"), StartsWith("error:"));
}

TEST(ExecuteControlCommandTest, ABackfillHasNothingToVerify) {
  engine::Control c(engine::ControlSettings{}, engine::ControlKind::kBackfill);
  EXPECT_EQ(HandleControlLine(c, "verify"), "error: a backfill has nothing to verify");
  EXPECT_EQ(HandleControlLine(c, "verify-result 1"), "error: a backfill has nothing to verify");
  EXPECT_EQ(c.verify_requested(), 0u);
}

TEST(ExecuteControlCommandTest, StatusShowsVerification) {
  engine::Control c(engine::ControlSettings{});
  engine::Progress p;
  p.verify_state = "running";
  p.verify_ranges_done = 3;
  p.verify_ranges_total = 8;
  p.verify_mismatches = 1;
  p.verify_repaired = 1;
  c.Publish(p);
  EXPECT_THAT(c.StatusText(), HasSubstr("verify running: 3/8 ranges, 1 mismatches, 1 repaired"));
  std::string json = c.StatusJson();
  EXPECT_THAT(json, HasSubstr("\"verify\":\"running\""));
  EXPECT_THAT(json, HasSubstr("\"verify_ranges_done\":3,\"verify_ranges_total\":8"));
  EXPECT_THAT(json, HasSubstr("\"verify_mismatches\":1,\"verify_repaired\":1"));
  p.verify_state = "off";
  c.Publish(p);
  EXPECT_THAT(c.StatusText(), HasSubstr("; verify off;"));
}

TEST(ExecuteControlCommandTest, ErrorsChangeNothing) {
  engine::Control c(engine::ControlSettings{});
  auto before = c.StatusJson();
  for (const char* bad : {"set chunk-size=0", "set chunk-size=ten", "set bogus=1", "get bogus", "stop",
                          "pause please", "set chunk-size", "set max-chunk-size=1"}) {
    EXPECT_THAT(HandleControlLine(c, bad), StartsWith("error: ")) << bad;
  }
  EXPECT_EQ(c.revision(), 0u);
  EXPECT_FALSE(c.paused());
  EXPECT_FALSE(c.abort_requested());
  auto after = c.StatusJson();
  // elapsed_s may differ; everything before it must not.
  EXPECT_EQ(before.substr(0, before.find("\"elapsed_s\"")), after.substr(0, after.find("\"elapsed_s\"")));
}

TEST(ExecuteControlCommandTest, CutoverRelease) {
  engine::ControlSettings s;
  s.postpone_cutover = true;
  engine::Control c(s);
  EXPECT_FALSE(c.CutoverAllowed());
  EXPECT_EQ(HandleControlLine(c, "cutover"), "ok: cutover released");
  EXPECT_TRUE(c.CutoverAllowed());
  EXPECT_EQ(HandleControlLine(c, "cutover"), "ok: cutover already released");
}

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "sc_ctl_" + std::to_string(::getpid()) + ".sock";
    if (path_.size() > 100) path_ = "/tmp/sc_ctl_" + std::to_string(::getpid()) + ".sock";
    ::unlink(path_.c_str());
  }
  void TearDown() override { ::unlink(path_.c_str()); }
  std::string path_;
};

TEST_F(ControlServerTest, ServesSeveralClientsAndCleansUp) {
  engine::Control control(engine::ControlSettings{});
  {
    ControlServer server(&control, path_);
    ASSERT_TRUE(server.Start().ok());
    struct stat st;
    ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    std::vector<std::thread> clients;
    std::atomic<int> good{0};
    for (int i = 0; i < 8; ++i)
      clients.emplace_back([&, i] {
        auto r = SendControlCommand(path_, i % 2 ? "status --json" : "get chunk-size");
        if (r.ok() && (r->front() == '{' || *r == "chunk-size=10000")) ++good;
      });
    for (auto& t : clients) t.join();
    EXPECT_EQ(good.load(), 8);

    auto r = SendControlCommand(path_, "set chunk-size=250");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, "ok: chunk-size=250 (fixed size)");
    EXPECT_EQ(control.Sizing().fixed_size, 250);
    r = SendControlCommand(path_, "frobnicate");
    ASSERT_TRUE(r.ok());
    EXPECT_THAT(*r, StartsWith("error: unknown command"));

    // Exit codes of the ctl client.
    EXPECT_EQ(RunCtl(path_, "pause"), 0);
    EXPECT_TRUE(control.paused());
    EXPECT_EQ(RunCtl(path_, "set chunk-size=abc"), 1);
    EXPECT_EQ(control.Sizing().fixed_size, 250);
    EXPECT_EQ(CtlMain({"--socket", path_, "set", "chunk-size=300"}), 0);
    EXPECT_EQ(control.Sizing().fixed_size, 300);
    EXPECT_EQ(CtlMain({"--socket=" + path_, "status", "--json"}), 0);
    EXPECT_EQ(CtlMain({"status"}), 2);
    EXPECT_EQ(CtlMain({"--socket", path_}), 2);

    // A second server on the same path is refused while the first answers.
    ControlServer second(&control, path_);
    auto st2 = second.Start();
    EXPECT_EQ(st2.code(), absl::StatusCode::kFailedPrecondition) << st2;
    EXPECT_EQ(RunCtl(path_, "resume"), 0) << "the refused server must not disturb the first";
  }
  struct stat st;
  EXPECT_NE(::lstat(path_.c_str(), &st), 0) << "socket file left behind";
  EXPECT_EQ(RunCtl(path_, "status"), 3);
}

TEST_F(ControlServerTest, PipelinedCommandsAndLongLines) {
  engine::Control control(engine::ControlSettings{});
  ControlServer server(&control, path_);
  ASSERT_TRUE(server.Start().ok());
  // Two commands in one write: two replies, in order.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string two = "pause\nget chunk-size\n";
  ASSERT_EQ(::write(fd, two.data(), two.size()), static_cast<ssize_t>(two.size()));
  std::string got;
  char buf[256];
  while (std::count(got.begin(), got.end(), '\n') < 2) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, n);
  }
  EXPECT_EQ(got, "ok: paused the copy (replay continues)\nchunk-size=10000\n");
  ::close(fd);
  // An over-long line gets an error reply and changes nothing.
  auto r = SendControlCommand(path_, "set chunk-size=" + std::string(10000, '9'));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, StartsWith("error:"));
  EXPECT_FALSE(control.Sizing().fixed);
  server.Stop();
  server.Stop();
}

TEST_F(ControlServerTest, StaleSocketReplacedOtherFilesRefused) {
  engine::Control control(engine::ControlSettings{});
  {
    // A socket file nobody listens on (a crashed run).
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  ControlServer server(&control, path_);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(RunCtl(path_, "status"), 0);
  server.Stop();

  std::FILE* f = std::fopen(path_.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  ControlServer refused(&control, path_);
  EXPECT_EQ(refused.Start().code(), absl::StatusCode::kFailedPrecondition);
  struct stat st;
  EXPECT_EQ(::lstat(path_.c_str(), &st), 0) << "a regular file must never be deleted";
  ControlServer too_long(&control, "/tmp/" + std::string(200, 'x'));
  EXPECT_EQ(too_long.Start().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConnectionSlotsTest, CapsAndReleases) {
  ConnectionSlots slots(2);
  EXPECT_TRUE(slots.TryAcquire());
  EXPECT_TRUE(slots.TryAcquire());
  EXPECT_FALSE(slots.TryAcquire());
  EXPECT_EQ(slots.active(), 2);
  slots.Release();
  EXPECT_TRUE(slots.TryAcquire());
  slots.Release();
  slots.Release();
  slots.Release();  // never below zero
  EXPECT_EQ(slots.active(), 0);
}

// Connects to `path`; -1 on failure.
int RawConnect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads one line (up to 2 s); "" on EOF or timeout.
std::string ReadLine(int fd) {
  std::string got;
  char c;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (::read(fd, &c, 1) == 1 && c != '\n') got += c;
  return got;
}

TEST_F(ControlServerTest, CapsConnectionsAndClosesIdleOnes) {
  engine::Control control(engine::ControlSettings{});
  ControlServerOptions options;
  options.max_connections = 3;
  options.idle_timeout = std::chrono::milliseconds(300);
  options.key = 0x1234;
  ControlServer server(&control, path_, options);
  ASSERT_TRUE(server.Start().ok());
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) held.push_back(RawConnect(path_));
  for (int fd : held) ASSERT_GE(fd, 0);
  // Wait until the server has admitted the three (they answer).
  for (int fd : held) {
    ASSERT_EQ(::write(fd, "get chunk-size\n", 15), 15);
    EXPECT_EQ(ReadLine(fd), "chunk-size=10000");
  }
  int extra = RawConnect(path_);
  ASSERT_GE(extra, 0);
  EXPECT_THAT(ReadLine(extra), StartsWith("error: too many control connections"));
  EXPECT_EQ(ReadLine(extra), "") << "the refused connection is closed";
  ::close(extra);
  // Idle ones are closed after the timeout, which frees their slots.
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  for (int fd : held) {
    EXPECT_EQ(ReadLine(fd), "") << "an idle connection stayed open";
    ::close(fd);
  }
  auto r = SendControlCommand(path_, "identify");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, IdentifyReply(0x1234));
  auto id = ConnectToRun(path_, 0x1234, std::chrono::seconds(5));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id->Request("get chunk-size", std::chrono::seconds(5)), "chunk-size=10000");
  EXPECT_EQ(ConnectToRun(path_, 0x9999, std::chrono::seconds(5)).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace shadowcopy::cli

namespace shadowcopy::cli {
namespace {

TEST_F(ControlServerTest, RefusesPeersOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  engine::Control control(engine::ControlSettings{});
  ControlServer server(&control, path_);
  ASSERT_TRUE(server.Start().ok());
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);  // let the other user reach it at all
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipefd[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    int fd = RawConnect(path_);
    if (fd < 0) ::_exit(3);
    // The server may refuse and close before the command is written: a
    // write that fails then must not kill the child.
    ::signal(SIGPIPE, SIG_IGN);
    (void)::write(fd, "abort\n", 6);
    std::string got = ReadLine(fd);
    (void)::write(pipefd[1], got.data(), got.size());
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string reply;
  char buf[256];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) reply.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_THAT(reply, StartsWith("error: permission denied"));
  EXPECT_FALSE(control.abort_requested());
  auto r = SendControlCommand(path_, "get chunk-size");  // ours are still served
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "chunk-size=10000");
}

TEST(BackfillControlProtocolTest, RepliesSpeakOfTheBackfill) {
  engine::Control c(engine::ControlSettings{}, engine::ControlKind::kBackfill);
  EXPECT_THAT(HandleControlLine(c, "help"), ::testing::HasSubstr("batch-size="));
  EXPECT_THAT(HandleControlLine(c, "help"), ::testing::Not(::testing::HasSubstr("cutover")));
  EXPECT_EQ(HandleControlLine(c, "pause"), "ok: paused the backfill (after the batch in flight)");
  EXPECT_EQ(HandleControlLine(c, "pause"), "ok: already paused");
  EXPECT_EQ(HandleControlLine(c, "pause --replay"), "error: a backfill has no replay (use pause)");
  EXPECT_EQ(HandleControlLine(c, "resume"), "ok: resumed");
  EXPECT_EQ(HandleControlLine(c, "set batch-size=300"), "ok: batch-size=300 (fixed size)");
  EXPECT_EQ(HandleControlLine(c, "get batch-size"), "batch-size=300");
  EXPECT_EQ(HandleControlLine(c, "set target-batch-time=100ms"), "ok: target-batch-time=100ms (adaptive sizing)");
  EXPECT_EQ(HandleControlLine(c, "cutover"), "error: a backfill has no cutover");
  EXPECT_THAT(HandleControlLine(c, "abort"), ::testing::HasSubstr("rolled back"));
  EXPECT_TRUE(c.abort_requested());
}

}  // namespace
}  // namespace shadowcopy::cli
