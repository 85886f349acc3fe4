// A physical standby of the test server for one test (see standby.h).
#include "tests/integration/standby.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "fmt/format.h"

namespace shadowcopy::it {
namespace {

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string PgBin(const std::string& program) {
  return Env("SC_PG_BIN", "/usr/lib/postgresql/15/bin") + "/" + program;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A value for a libpq conninfo string: quoted, ' and \ escaped.
std::string QuoteConnValue(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// Gives `path` to the postgres OS user when running as root.
absl::Status GiveToPostgres(const std::string& path) {
  if (::geteuid() != 0) return absl::OkStatus();
  struct passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr) return absl::FailedPreconditionError("running as root but there is no postgres OS user");
  if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    return absl::InternalError(fmt::format("chown {}: {}", path, std::strerror(errno)));
  return absl::OkStatus();
}

}  // namespace

absl::Status LocalStandby::RunTool(const std::vector<std::string>& argv) const {
  std::vector<std::string> full;
  if (::geteuid() == 0) full = {"runuser", "-u", "postgres", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  std::string log = dir_ + "/cmd.log";
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    // The programs fail when the current directory is unreadable to postgres.
    if (::chdir(dir_.c_str()) != 0) ::_exit(126);
    std::vector<char*> args;
    for (auto& a : full) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::InternalError(fmt::format("{} failed (status {}): {}", argv[0], status, ReadFile(log)));
}

absl::StatusOr<std::unique_ptr<LocalStandby>> LocalStandby::Start(const std::string& application_name) {
  char tmpl[] = "/tmp/sc-it-standby.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  std::unique_ptr<LocalStandby> s(new LocalStandby(tmpl, application_name));
  ::chmod(s->dir_.c_str(), 0755);
  std::string sock = s->dir_ + "/sock";
  ::mkdir(sock.c_str(), 0755);
  for (const auto& p : {s->dir_, sock})
    if (absl::Status st = GiveToPostgres(p); !st.ok()) return st;

  std::string host = Env("PGHOST", "/tmp"), port = Env("PGPORT", "5432"), user = Env("PGUSER", "postgres");
  std::string data = s->dir_ + "/data";
  absl::Status st = s->RunTool(
      {PgBin("pg_basebackup"), "-d",
       fmt::format("host={} port={} user={} application_name={}", QuoteConnValue(host), port,
                   QuoteConnValue(user), QuoteConnValue(application_name)),
       "-D", data, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"});
  if (!st.ok()) return st;
  {
    // Appended last, so these win over the primary's settings copied along.
    std::ofstream conf(data + "/postgresql.conf", std::ios::app);
    conf << "\n# ---- test standby ----\n"
         << "unix_socket_directories = '" << sock << "'\n"
         << "hot_standby = on\n"
         << "shared_buffers = 32MB\n"
         // Replies at least every second, so the primary's lag figures move.
         << "wal_receiver_status_interval = 1s\n";
    if (!conf) return absl::InternalError("cannot write the standby's postgresql.conf");
  }
  st = s->RunTool({PgBin("pg_ctl"), "-D", data, "-l", s->dir_ + "/server.log", "-w", "-t", "30", "start"});
  if (!st.ok()) return absl::InternalError(fmt::format("{}\n{}", std::string(st.message()), s->Log()));
  s->started_ = true;

  ConnectOptions co;
  co.dsn = "dbname=postgres";
  co.application_name = "sc_it_admin";
  auto primary = PgConn::Connect(co);
  if (!primary.ok()) return primary.status();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = (*primary)->Query(
        "SELECT count(*) FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'",
        {application_name});
    if (r.ok() && r->GetInt(0, 0) > 0) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(fmt::format("the standby {} does not stream\n{}", application_name, s->Log()));
}

absl::StatusOr<std::unique_ptr<LocalStandby>> LocalStandby::StartFresh(const std::string& name,
                                                                       const std::string& extra_conf) {
  char tmpl[] = "/tmp/sc-it-server.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  std::unique_ptr<LocalStandby> s(new LocalStandby(tmpl, name));
  ::chmod(s->dir_.c_str(), 0755);
  std::string sock = s->dir_ + "/sock";
  ::mkdir(sock.c_str(), 0755);
  for (const auto& p : {s->dir_, sock})
    if (absl::Status st = GiveToPostgres(p); !st.ok()) return st;
  std::string data = s->dir_ + "/data";
  absl::Status st = s->RunTool({PgBin("initdb"), "-D", data, "-A", "trust", "-U", Env("PGUSER", "postgres"),
                                "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"});
  if (!st.ok()) return st;
  {
    std::ofstream conf(data + "/postgresql.conf", std::ios::app);
    conf << "\n# ---- test server ----\n"
         << "listen_addresses = ''\n"
         << "port = " << Env("PGPORT", "5432") << "\n"
         << "unix_socket_directories = '" << sock << "'\n"
         << "shared_buffers = 32MB\n"
         << extra_conf << "\n";
    if (!conf) return absl::InternalError("cannot write the server's postgresql.conf");
  }
  st = s->RunTool({PgBin("pg_ctl"), "-D", data, "-l", s->dir_ + "/server.log", "-w", "-t", "30", "start"});
  if (!st.ok()) return absl::InternalError(fmt::format("{}\n{}", std::string(st.message()), s->Log()));
  s->started_ = true;
  return s;
}

LocalStandby::~LocalStandby() {
  if (started_) {
    (void)RunTool({PgBin("pg_ctl"), "-D", dir_ + "/data", "-m", "immediate", "-w", "-t", "30", "stop"});
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string LocalStandby::Dsn(const std::string& dbname) const {
  return fmt::format("host={} port={} user={} dbname={}", QuoteConnValue(dir_ + "/sock"), Env("PGPORT", "5432"),
                     QuoteConnValue(Env("PGUSER", "postgres")), QuoteConnValue(dbname));
}

absl::StatusOr<std::unique_ptr<PgConn>> LocalStandby::Connect(const std::string& dbname) const {
  ConnectOptions co;
  co.dsn = Dsn(dbname);
  co.application_name = "sc_it";
  return PgConn::Connect(co);
}

std::string LocalStandby::Log() const {
  std::string log = ReadFile(dir_ + "/server.log");
  if (log.size() > 4000) log = log.substr(log.size() - 4000);
  return "standby log:\n" + log;
}

}  // namespace shadowcopy::it
