#include "tests/rehearsal/rehearsal_fixture.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>

#include "common/log.h"
#include "common/quote.h"
#include "common/sql_lexer.h"
#include "engine/workflow/statement_kind.h"

namespace shadowcopy::rehearsal_test {
namespace {

std::unique_ptr<PgConn> Connect(const std::string& dbname) {
  ConnectOptions o;
  o.dsn = "dbname=" + dbname;
  o.application_name = "sc_rehearsal_test";
  auto c = PgConn::Connect(o);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(*c) : nullptr;
}

std::string TestDatabaseName() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string raw = std::string("rh_") + info->test_suite_name() + "_" + info->name();
  std::string out;
  for (char c : raw) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '_');
  }
  if (out.size() > 63) out.resize(63);
  return out;
}

}  // namespace

std::string ReadProcFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

void RehearsalTest::SetUp() {
  SetLogLevel(LogLevel::kDebug);  // the rehearsal's phases and their times
  db_ = TestDatabaseName();
  auto admin = Connect("postgres");
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(admin->Exec("DROP DATABASE IF EXISTS " + QuoteIdent(db_) + " WITH (FORCE)").ok());
  ASSERT_TRUE(admin->Exec("CREATE DATABASE " + QuoteIdent(db_)).ok());
  conn_ = Connect(db_);
  ASSERT_NE(conn_, nullptr);
}

void RehearsalTest::TearDown() {
  ExpectNothingLeft();
  conn_.reset();
  auto admin = Connect("postgres");
  if (admin) {
    EXPECT_TRUE(admin->Exec("DROP DATABASE IF EXISTS " + QuoteIdent(db_) + " WITH (FORCE)").ok());
  }
}

void RehearsalTest::Exec(std::string_view sql) {
  auto r = conn_->Exec(sql);
  ASSERT_TRUE(r.ok()) << r.status() << "\n  in: " << sql;
}

std::string RehearsalTest::Value(std::string_view sql) {
  auto r = conn_->Exec(sql);
  EXPECT_TRUE(r.ok()) << r.status() << "\n  in: " << sql;
  if (!r.ok() || r->Rows() == 0 || r->IsNull(0, 0)) return "";
  return r->GetString(0, 0);
}

void RehearsalTest::ExpectNothingLeft() {
  std::string pid = std::to_string(getpid());
  auto admin = Connect("postgres");
  ASSERT_NE(admin, nullptr);
  auto dbs = admin->Exec("SELECT string_agg(datname, ', ') FROM pg_database WHERE datname LIKE "
                         "'shadowcopy\\_rehearsal\\_" + pid + "\\_%'");
  ASSERT_TRUE(dbs.ok()) << dbs.status();
  EXPECT_TRUE(dbs->IsNull(0, 0)) << "scratch databases left: " << dbs->GetString(0, 0);
  std::string prefix = "shadowcopy-rehearsal-" + pid + ".";
  for (const auto& base : {std::string("/tmp"), std::string(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp")}) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(base, ec))
      EXPECT_EQ(e.path().filename().string().rfind(prefix, 0), std::string::npos)
          << "temporary directory left: " << e.path();
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::string cmdline = ReadProcFile(e.path() / "cmdline");
    EXPECT_EQ(cmdline.find(prefix), std::string::npos) << "process left: " << e.path() << " " << cmdline;
  }
}

std::vector<workflow::PlannedStatement> RehearsalTest::Statements(std::string_view script, const std::string& file) {
  std::vector<workflow::PlannedStatement> out;
  auto split = sql::SplitStatements(script);
  EXPECT_TRUE(split.ok()) << split.status();
  if (!split.ok()) return out;
  bool in_block = false;
  for (const auto& s : *split) {
    workflow::PlannedStatement p;
    p.file = file;
    p.line = s.line;
    p.sql = s.text;
    auto kind = workflow::ClassifyForRehearsal(s.text);
    if (kind.control == workflow::RehearsalTxnControl::kBegin) in_block = true;
    p.in_transaction_block = in_block;
    if (kind.control == workflow::RehearsalTxnControl::kCommit ||
        kind.control == workflow::RehearsalTxnControl::kRollback)
      in_block = false;
    out.push_back(std::move(p));
  }
  return out;
}

std::string SchemaFingerprint(PgConn& conn) {
  auto r = conn.Exec(
      "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM ("
      " SELECT c.oid::regclass::text || ':' || c.relkind::text || ':' || c.relfilenode AS x FROM pg_class c"
      "  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
      "  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
      " UNION ALL SELECT a.attrelid::regclass::text || '.' || a.attname || ':' || a.atttypid::regtype || ':'"
      "  || a.atttypmod || ':' || a.attnotnull || ':' || a.attisdropped FROM pg_attribute a"
      "  JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
      "  WHERE a.attnum > 0 AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
      "  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
      " UNION ALL SELECT conrelid::regclass::text || '.' || conname || ':' || convalidated FROM pg_constraint"
      "  WHERE conrelid <> 0 AND connamespace NOT IN ('pg_catalog'::regnamespace)) s");
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->GetString(0, 0) : "";
}

}  // namespace shadowcopy::rehearsal_test
