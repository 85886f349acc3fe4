#include "engine/workflow/rehearsal_server.h"

#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "engine/workflow/conninfo.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

constexpr int kPort = 5432;  // names the socket file only: there is no TCP listener

bool Executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

bool HasTools(const std::string& dir, const std::vector<std::string>& tools) {
  for (const auto& t : tools)
    if (!Executable(dir + "/" + t)) return false;
  return true;
}

// The first line `command` prints, "" when it fails.
std::string CommandLine(const char* command) {
  FILE* p = popen(command, "r");
  if (p == nullptr) return "";
  char buf[4096];
  std::string out;
  if (fgets(buf, sizeof buf, p) != nullptr) out = buf;
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// "PostgreSQL 15.4 (Debian ...)" -> 15; 0 when unreadable.
int MajorOf(const std::string& version) {
  auto pos = version.find_first_of("0123456789");
  return pos == std::string::npos ? 0 : std::atoi(version.c_str() + pos);
}

// Removes the directories of earlier rehearsals under `base` whose process is
// gone (killed before it could clean up; their server died with it).
void RemoveOrphans(const std::string& base) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
    std::string name = e.path().filename().string();
    constexpr std::string_view kPrefix = "shadowcopy-rehearsal-";
    if (name.rfind(kPrefix, 0) != 0) continue;
    long pid = std::strtol(name.c_str() + kPrefix.size(), nullptr, 10);
    if (pid <= 0 || kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::ifstream pidfile(e.path() / "data" / "postmaster.pid");
    long server = 0;
    if (pidfile >> server && server > 0 && kill(static_cast<pid_t>(server), 0) == 0) continue;  // still up
    std::filesystem::remove_all(e.path(), ec);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TempDir>> TempDir::Make(const std::optional<OsUser>& user) {
  // Short, so the socket path stays within the 107 bytes a unix socket allows.
  const char* env = std::getenv("TMPDIR");
  std::string base = env != nullptr && *env == '/' && std::strlen(env) < 60 ? env : "/tmp";
  RemoveOrphans(base);
  // Named after our pid: whose it is, should it ever outlive a killed run.
  std::string pattern = fmt::format("{}/shadowcopy-rehearsal-{}.XXXXXX", base, getpid());
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr)
    return absl::FailedPreconditionError(
        fmt::format("cannot create a temporary directory under {}: {}", base, std::strerror(errno)));
  std::unique_ptr<TempDir> dir(new TempDir(buf.data()));
  if (user && chown(dir->path().c_str(), user->uid, user->gid) != 0)
    return absl::FailedPreconditionError(
        fmt::format("cannot give {} to OS user {}: {}", dir->path(), user->name, std::strerror(errno)));
  return dir;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

absl::StatusOr<std::string> FindBinDir(int major, const std::vector<std::string>& tools, bool or_newer) {
  std::vector<std::string> looked;
  auto try_major = [&](int m) -> std::string {
    for (const auto& dir : {fmt::format("/usr/lib/postgresql/{}/bin", m), fmt::format("/usr/pgsql-{}/bin", m)}) {
      if (m == major) looked.push_back(dir);
      if (HasTools(dir, tools)) return dir;
    }
    return "";
  };
  if (auto dir = try_major(major); !dir.empty()) return dir;
  std::string bindir = CommandLine("pg_config --bindir 2>/dev/null");
  int pg_config_major = MajorOf(CommandLine("pg_config --version 2>/dev/null"));
  if (!bindir.empty()) {
    looked.push_back(bindir + " (pg_config, PostgreSQL " + std::to_string(pg_config_major) + ")");
    if ((pg_config_major == major || (or_newer && pg_config_major > major)) && HasTools(bindir, tools))
      return bindir;
  }
  if (or_newer)
    for (int m = major + 1; m < major + 10; ++m)
      if (auto dir = try_major(m); !dir.empty()) return dir;
  return absl::FailedPreconditionError(fmt::format(
      "the rehearsal needs PostgreSQL {}'s {} (the target's major version{}); not found in {}: install them "
      "(e.g. the postgresql-{} package), or rehearse on a staging server (--rehearsal-dsn) or not at all "
      "(--rehearsal none)",
      major, absl::StrJoin(tools, ", "), or_newer ? " or newer" : "", absl::StrJoin(looked, ", "), major));
}

absl::StatusOr<std::unique_ptr<LocalServer>> LocalServer::Start(const std::string& bindir, const std::string& dir,
                                                                const std::optional<OsUser>& user,
                                                                const std::string& encoding,
                                                                const std::stop_token& stop) {
  using namespace std::chrono_literals;
  ProcessSpec initdb;
  initdb.argv = {bindir + "/initdb", "-D", dir + "/data", "-A", "trust", "-U", "postgres", "-E", encoding,
                 "--locale=C", "--no-sync"};
  initdb.cwd = dir;
  initdb.user = user;
  initdb.output_path = dir + "/initdb.log";
  auto rc = RunProcess(initdb, stop);
  if (!rc.ok()) return rc.status();
  if (*rc != 0)
    return absl::FailedPreconditionError(
        fmt::format("initdb of the rehearsal server failed: {}", ErrorLineOf(initdb.output_path)));

  ProcessSpec server;
  server.argv = {bindir + "/postgres", "-D", dir + "/data"};
  const std::vector<std::string> settings = {
      "listen_addresses=", "unix_socket_directories=" + dir, "unix_socket_permissions=0700",
      "port=" + std::to_string(kPort), "fsync=off", "full_page_writes=off", "synchronous_commit=off",
      "autovacuum=off", "wal_level=minimal", "max_wal_senders=0", "max_connections=20", "shared_buffers=32MB",
      "logging_collector=off", "log_min_messages=warning"};
  for (const auto& setting : settings) {
    server.argv.push_back("-c");
    server.argv.push_back(setting);
  }
  server.cwd = dir;
  server.user = user;
  server.output_path = dir + "/server.log";
  server.death_signal = SIGQUIT;  // the postmaster's immediate shutdown
  auto pid = Spawn(server);
  if (!pid.ok()) return pid.status();
  std::unique_ptr<LocalServer> out(new LocalServer(dir, *pid));
  std::string conninfo = out->Conninfo("postgres");
  auto deadline = std::chrono::steady_clock::now() + 60s;
  auto sleep = 5ms;
  while (PQping(conninfo.c_str()) != PQPING_OK) {
    int status = 0;
    if (waitpid(out->pid_, &status, WNOHANG) == out->pid_) {
      out->pid_ = -1;
      return absl::FailedPreconditionError(
          fmt::format("the rehearsal server did not start: {}", ErrorLineOf(server.output_path)));
    }
    if (stop.stop_requested()) return absl::CancelledError("stopped");
    if (std::chrono::steady_clock::now() > deadline)
      return absl::FailedPreconditionError("the rehearsal server did not accept connections within 60 s");
    std::this_thread::sleep_for(sleep);
    if (sleep < 50ms) sleep *= 2;
  }
  return out;
}

LocalServer::~LocalServer() {
  using namespace std::chrono_literals;
  if (pid_ > 0) StopChild(pid_, SIGQUIT, 10s);
}

std::string LocalServer::Conninfo(const std::string& dbname) const { return LocalConninfo(dir_, kPort, dbname); }

}  // namespace shadowcopy::workflow
