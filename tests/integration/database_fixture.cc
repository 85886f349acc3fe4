// Integration-test harness: the per-test database fixture and small query
// helpers (see harness.h).
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include "absl/status/status.h"
#include "common/quote.h"
#include "fmt/format.h"
#include "tests/integration/harness.h"

namespace shadowcopy::it {
namespace {

// A session on the maintenance database, for CREATE/DROP DATABASE.
std::unique_ptr<PgConn> ConnectMaintenance() {
  ConnectOptions options;
  options.dsn = "dbname=postgres";
  options.application_name = "sc_it_admin";
  auto conn = PgConn::Connect(options);
  if (!conn.ok()) {
    ADD_FAILURE() << "cannot connect to the maintenance database: " << conn.status();
    return nullptr;
  }
  return std::move(*conn);
}

// Terminates every other session of `dbname` (walsenders included) and drops
// the replication slots that live in it.
void ReleaseDatabase(PgConn& admin, const std::string& dbname) {
  std::string lit = QuoteLiteral(dbname);
  for (int attempt = 0; attempt < 50; ++attempt) {
    MustExec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " +
                        lit + " AND pid <> pg_backend_pid()");
    MustExec(admin,
             "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
             "WHERE database = " +
                 lit + " AND active_pid IS NOT NULL");
    auto dropped = admin.Exec(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = " +
        lit + " AND NOT active");
    std::string left =
        QueryValue(admin, "SELECT count(*) FROM pg_replication_slots WHERE database = " + lit);
    if (dropped.ok() && left == "0") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "could not drop the replication slots of " << dbname;
}

// Takes a shared (or exclusive) lock on a file named after the server, so
// that tests needing the server to themselves run alone. Returns the fd.
// A second file is the queue's turnstile: every test passes it before it
// waits for the server, and an exclusive test keeps it until it has the
// server, so that tests arriving later cannot keep the shared lock taken
// forever (flock itself prefers no one).
int LockServer(bool exclusive) {
  const char* host = std::getenv("PGHOST");
  const char* port = std::getenv("PGPORT");
  std::string key = std::string(host ? host : "") + ":" + (port ? port : "");
  std::string path = "/tmp/sc_it_server_" + std::to_string(std::hash<std::string>{}(key)) + ".lock";
  auto lock = [](int fd, int op) {
    while (flock(fd, op) != 0 && errno == EINTR) {
    }
  };
  int turnstile = open((path + ".queue").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (turnstile >= 0) lock(turnstile, LOCK_EX);
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd >= 0) lock(fd, exclusive ? LOCK_EX : LOCK_SH);
  if (turnstile >= 0) close(turnstile);  // releases the turnstile
  return fd;
}

}  // namespace

ConnectOptions TestConnectOptions(const std::string& dbname,
                                  std::vector<std::pair<std::string, std::string>> settings) {
  ConnectOptions options;
  options.dsn = "dbname=" + dbname;
  options.application_name = "sc_it";
  options.settings = std::move(settings);
  return options;
}

PgResult MustExec(PgConn& conn, std::string_view sql) {
  auto res = conn.Exec(sql);
  if (!res.ok()) {
    ADD_FAILURE() << "SQL failed: " << res.status() << "\n  in: " << sql.substr(0, 500);
    return PgResult();
  }
  return *std::move(res);
}

std::string QueryValue(PgConn& conn, std::string_view sql) {
  PgResult res = MustExec(conn, sql);
  if (res.Rows() < 1 || res.Cols() < 1 || res.IsNull(0, 0)) return "";
  return res.GetString(0, 0);
}

absl::Status RestartServerFast(PgConn& conn, const std::string& mode) {
  std::string dir = QueryValue(conn, "SHOW data_directory");
  // As root the directory (0700, owned by postgres) is reachable; as
  // another user only when it is ours.
  if (dir.empty() || access((dir + "/postmaster.pid").c_str(), F_OK) != 0)
    return absl::FailedPreconditionError("the server's data directory " + dir + " is not reachable from the test");
  const char* bin = std::getenv("SC_PG_BIN");
  std::string pg_ctl = std::string(bin ? bin : "/usr/lib/postgresql/15/bin") + "/pg_ctl";
  const char* log = std::getenv("SC_PG_LOG");
  std::string cmd = fmt::format("cd /tmp && {}'{}' -D '{}' -l '{}' -w -t 60 -m {} restart </dev/null 2>&1",
                                geteuid() == 0 ? "runuser -u postgres -- " : "", pg_ctl, dir,
                                log ? log : "/dev/null", mode);
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return absl::InternalError("popen failed");
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  int rc = pclose(p);
  if (rc != 0) return absl::InternalError(fmt::format("`{}` exited {}: {}", cmd, rc, out));
  return absl::OkStatus();
}

bool PollUntilTrue(PgConn& conn, std::string_view sql, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (QueryValue(conn, sql) == "t") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool CurrentTestIsOneOf(std::initializer_list<std::string_view> names) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return false;
  return std::find(names.begin(), names.end(), std::string_view(info->name())) != names.end();
}

std::string DatabaseNameForCurrentTest() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string raw = std::string("it_") + info->test_suite_name() + "_" + info->name();
  std::string out;
  for (char c : raw) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '_');
  }
  // Too long for a name: cut, with a hash of the whole so that tests whose
  // names differ only at the end (parameters) do not share a database.
  if (out.size() > 63) out = fmt::format("{}_{:08x}", out.substr(0, 54), std::hash<std::string>{}(raw) & 0xffffffffu);
  return out;
}

void DatabaseTest::SetUp() {
  server_lock_fd_ = LockServer(exclusive_server_);
  dbname_ = DatabaseNameForCurrentTest();
  auto admin = ConnectMaintenance();
  ASSERT_NE(admin, nullptr);
  ReleaseDatabase(*admin, dbname_);
  MustExec(*admin, "DROP DATABASE IF EXISTS " + QuoteIdent(dbname_) + " WITH (FORCE)");
  MustExec(*admin, "CREATE DATABASE " + QuoteIdent(dbname_));
  conn_ = Connect();
  ASSERT_NE(conn_, nullptr);
}

void DatabaseTest::TearDown() {
  if (conn_ != nullptr && expect_clean_at_teardown_) {
    std::string leftovers =
        QueryValue(*conn_,
                   "SELECT string_agg(n, ', ') FROM ("
                   " SELECT 'slot ' || slot_name AS n FROM pg_replication_slots"
                   "  WHERE slot_name LIKE 'shadowcopy%' AND database = current_database()"
                   " UNION ALL SELECT 'publication ' || pubname FROM pg_publication"
                   "  WHERE pubname LIKE 'shadowcopy%'"
                   " UNION ALL SELECT 'table ' || relname FROM pg_class"
                   "  WHERE relname LIKE '\\_%\\_shadow' AND relkind = 'r') s");
    EXPECT_EQ(leftovers, "") << "left behind after the test";
  }
  conn_.reset();
  auto admin = ConnectMaintenance();
  if (admin == nullptr) return;
  ReleaseDatabase(*admin, dbname_);
  MustExec(*admin, "DROP DATABASE IF EXISTS " + QuoteIdent(dbname_) + " WITH (FORCE)");
  if (server_lock_fd_ >= 0) close(server_lock_fd_);  // releases the flock
  server_lock_fd_ = -1;
}

std::unique_ptr<PgConn> DatabaseTest::Connect(
    std::vector<std::pair<std::string, std::string>> settings) {
  auto conn = PgConn::Connect(TestConnectOptions(dbname_, std::move(settings)));
  if (!conn.ok()) {
    ADD_FAILURE() << "cannot connect to " << dbname_ << ": " << conn.status();
    return nullptr;
  }
  return std::move(*conn);
}

std::vector<std::string> DatabaseTest::ToolArgs(const std::string& table,
                                                std::vector<std::string> extra) const {
  std::vector<std::string> args{"--table", table, "--dsn", dsn()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string DatabaseTest::TableOid(const std::string& table) {
  return QueryValue(db(), "SELECT " + QuoteLiteral(table) + "::regclass::oid");
}

bool DatabaseTest::TableExists(const std::string& table) {
  return QueryValue(db(), "SELECT to_regclass(" + QuoteLiteral(QuoteIdent(table)) +
                              ") IS NOT NULL") == "t";
}

std::string DatabaseTest::OldSuffixOf(const std::string& table) {
  std::string suffix;
  if (QueryValue(db(), "SELECT to_regclass('shadowcopy.runs') IS NOT NULL") == "t")
    suffix = QueryValue(db(), "SELECT coalesce(to_jsonb(r)->>'old_suffix', '_old') FROM shadowcopy.runs r "
                              "WHERE table_name = " + QuoteLiteral(table) + " ORDER BY started_at DESC LIMIT 1");
  if (suffix.empty()) ADD_FAILURE() << "no run on " << table << " is recorded";
  return suffix;
}

std::string DatabaseTest::OldTableOf(const std::string& table) {
  std::string suffix = OldSuffixOf(table);
  std::string plain = "_" + table + suffix;
  if (suffix.empty() || plain.size() < 63) return plain;
  // Cut to fit (with a hash of the whole name): the run's original, found by
  // its oid, under a name ending in the suffix.
  std::string cut = QueryValue(db(), "SELECT c.relname FROM shadowcopy.runs r JOIN pg_class c ON c.oid = r.table_oid "
                                     "WHERE r.table_name = " + QuoteLiteral(table) + " AND right(c.relname, " +
                                         std::to_string(suffix.size()) + ") = " + QuoteLiteral(suffix) +
                                         " ORDER BY r.started_at DESC LIMIT 1");
  if (cut.empty()) ADD_FAILURE() << "the old table of " << table << " (" << suffix << ") is not found";
  return cut;
}

bool DatabaseTest::AnyOldTableOf(const std::string& table) {
  const std::string prefix = QuoteLiteral("_" + table + "_old");
  if (QueryValue(db(), "SELECT EXISTS (SELECT 1 FROM pg_class WHERE starts_with(relname::text, " + prefix +
                           ") AND (relname::text = " + prefix + " OR substr(relname::text, length(" + prefix +
                           ") + 1) ~ '^_[0-9]{14}$'))") == "t")
    return true;
  if (QueryValue(db(), "SELECT to_regclass('shadowcopy.runs') IS NOT NULL") != "t") return false;
  return QueryValue(db(), "SELECT EXISTS (SELECT 1 FROM shadowcopy.runs r JOIN pg_class c ON c.oid = r.table_oid "
                          "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE r.table_name = " +
                              QuoteLiteral(table) + " AND (n.nspname, c.relname) <> (r.schema_name, r.table_name))") ==
         "t";
}

void DatabaseTest::ExpectNothingLeftBehind(const std::string& table) {
  EXPECT_EQ(QueryValue(db(),
                       "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE "
                       "'shadowcopy%' AND database = current_database()"),
            "0")
      << "a shadowcopy replication slot is left";
  EXPECT_EQ(QueryValue(db(),
                       "SELECT count(*) FROM pg_publication WHERE pubname LIKE "
                       "'shadowcopy%'"),
            "0")
      << "a shadowcopy publication is left";
  EXPECT_FALSE(TableExists("_" + table + "_shadow")) << "the shadow table is left";
}

}  // namespace shadowcopy::it
