// `shadowcopy plan --rehearsal none` against a real server: production's
// sizes scale the findings (a table of a few MB vs an empty one), the JSON
// report has its documented shape, exit statuses 0/1/2/3, one error line
// for a missing file, an unterminated dollar quote, a psql meta-command and
// an unreachable target; the database is only read.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "common/json.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace shadowcopy::it {
namespace {

class PlanCliTest : public DatabaseTest {
 protected:
  void SetUp() override {
    DatabaseTest::SetUp();
    if (HasFatalFailure()) return;
    MustExec(db(),
             "CREATE TABLE big (id int PRIMARY KEY, status text, payload text);"
             "CREATE TABLE empty_t (id int PRIMARY KEY, status text);");
    char tmpl[] = "/tmp/sc_it_plan.XXXXXX";
    const char* made = mkdtemp(tmpl);
    ASSERT_NE(made, nullptr);
    dir_ = made;
  }
  void TearDown() override {
    for (const auto& f : files_) std::remove(f.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
    DatabaseTest::TearDown();
  }

  // big: ~20 MB, above the tiny-table threshold (8 MB); empty_t stays empty.
  void LoadBig() {
    MustExec(db(),
             "INSERT INTO big SELECT i, 'new', repeat(md5(i::text), 6) FROM generate_series(1, 80000) i;"
             "ANALYZE big;");
  }

  std::string File(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }

  ProcessResult Plan(std::vector<std::string> extra) {
    std::vector<std::string> args = {"plan", "--dsn", dsn(), "--rehearsal", "none"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunShadowcopy(args, {}, nullptr, std::chrono::seconds(60));
  }

  std::string Relations() {
    return QueryValue(db(), "SELECT string_agg(oid::text || ':' || relname || ':' || relfilenode, ',' ORDER BY oid) "
                            "FROM pg_class");
  }

  Json ParseJson(const ProcessResult& r) {
    Json j = Json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.Describe();
    return j;
  }

  static std::string Severity(const Json& statement, const std::string& rule) {
    for (const Json& f : statement["findings"])
      if (f["rule"] == rule) return f["severity"];
    return "";
  }

  void ExpectUsageError(const ProcessResult& r, const std::vector<std::string>& needles) {
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    auto lines = LinesStartingWith(r.err, "shadowcopy: error:");
    ASSERT_EQ(lines.size(), 1u) << r.Describe();
    for (const auto& n : needles) EXPECT_NE(lines[0].find(n), std::string::npos) << n << "\n" << r.Describe();
    EXPECT_TRUE(r.out.empty()) << r.Describe();
  }

  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(PlanCliTest, SizesScaleTheSeverityAndTheJsonHasItsShape) {
  LoadBig();
  std::string before = Relations();
  std::string file = File("V2__indexes.sql",
                          "-- the same statement on two tables\n"
                          "CREATE INDEX big_status_idx ON big (status);\n"
                          "CREATE INDEX empty_status_idx ON empty_t (status);\n"
                          "ALTER TABLE big ALTER COLUMN id TYPE bigint;\n"
                          "ALTER TABLE empty_t ALTER COLUMN id TYPE bigint;\n");
  ProcessResult r = Plan({"--format", "json", file});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();  // warnings only; --fail-on error
  Json j = ParseJson(r);
  EXPECT_EQ(j["target"], dbname());
  EXPECT_EQ(j["rehearsal"], "none");
  ASSERT_EQ(j["statements"].size(), 4u) << r.out;
  const Json& big = j["statements"][0];
  for (const char* key :
       {"file", "line", "sql", "locks", "rewrites", "findings", "safe_path", "estimated_lock_s", "commands"})
    EXPECT_TRUE(big.contains(key)) << key << "\n" << r.out;
  EXPECT_EQ(big["file"], file);
  EXPECT_EQ(big["line"], 2);
  EXPECT_EQ(big["sql"], "CREATE INDEX big_status_idx ON big (status)");
  ASSERT_EQ(big["locks"].size(), 1u);
  EXPECT_EQ(big["locks"][0]["relation"], "public.big");
  EXPECT_EQ(big["locks"][0]["mode"], "ShareLock");
  EXPECT_EQ(big["safe_path"], "concurrent-index");
  EXPECT_EQ(big["commands"][0], "CREATE INDEX CONCURRENTLY big_status_idx ON big (status)");
  EXPECT_GT(big["estimated_lock_s"].get<double>(), 0.0);
  // The same statements on the empty table: information only.
  EXPECT_EQ(Severity(big, "create-index-not-concurrently"), "warning") << r.out;
  EXPECT_EQ(Severity(j["statements"][1], "create-index-not-concurrently"), "info") << r.out;
  EXPECT_EQ(Severity(j["statements"][2], "rewrite-under-access-exclusive"), "warning") << r.out;
  EXPECT_EQ(j["statements"][2]["rewrites"][0], "public.big");
  EXPECT_EQ(j["statements"][2]["safe_path"], "online-rewrite");
  EXPECT_EQ(j["statements"][2]["commands"][0],
            "shadowcopy --table big --alter \"ALTER COLUMN id TYPE bigint\" --execute");
  EXPECT_EQ(Severity(j["statements"][3], "rewrite-under-access-exclusive"), "info") << r.out;
  // --fail-on warning turns the warnings into exit 1; nothing was changed.
  EXPECT_EQ(Plan({"--fail-on", "warning", file}).exit_code, 1);
  EXPECT_EQ(Relations(), before);
}

TEST_F(PlanCliTest, TextSaysStaticRulesOnly) {
  std::string file = File("V1__t.sql", "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n");
  ProcessResult r = Plan({file});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.out.find("static rules only"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("plan for database " + dbname()), std::string::npos) << r.out;
  EXPECT_EQ(Plan({"--fail-on", "info", file}).exit_code, 0);
}

TEST_F(PlanCliTest, ErrorsExitOneAndFailOnSetsTheLevel) {
  LoadBig();
  std::string update = File("V3__update.sql", "UPDATE big SET status = 'old';\n");
  ProcessResult r = Plan({"--format", "json", update});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  Json j = ParseJson(r);
  EXPECT_EQ(Severity(j["statements"][0], "large-update-delete"), "warning") << r.out;
  EXPECT_EQ(j["statements"][0]["safe_path"], "backfill");
  EXPECT_EQ(j["statements"][0]["commands"][0],
            "shadowcopy backfill --table big --set \"status = 'old'\" --where true --execute");
  EXPECT_EQ(Plan({"--fail-on", "warning", update}).exit_code, 1);
  // The same UPDATE of the empty table: nothing to say.
  std::string small = File("V4__small.sql", "UPDATE empty_t SET status = 'old';\n");
  EXPECT_EQ(Plan({"--fail-on", "info", small}).exit_code, 0);
  // An error whatever the size: exit 1 at the default --fail-on error.
  std::string txn = File("V5__txn.sql", "BEGIN;\nCREATE INDEX CONCURRENTLY e_s ON empty_t (status);\nCOMMIT;\n");
  r = Plan({"--format", "json", txn});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_EQ(Severity(ParseJson(r)["statements"][1], "concurrently-in-transaction"), "error") << r.out;
}

TEST_F(PlanCliTest, MissingFile) {
  ExpectUsageError(Plan({dir_ + "/V9__missing.sql"}), {"V9__missing.sql", "No such file"});
}

TEST_F(PlanCliTest, UnterminatedDollarQuoteNamesItsLine) {
  std::string file = File("V5__fn.sql",
                          "SELECT 1;\n"
                          "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$\n"
                          "  SELECT 1;\n");
  ExpectUsageError(Plan({file}), {"V5__fn.sql", "dollar", "line 2"});
}

TEST_F(PlanCliTest, MetaCommandRefusedWithItsLine) {
  std::string file = File("V6__psql.sql", "SELECT 1;\n\\set ON_ERROR_STOP on\nSELECT 2;\n");
  ExpectUsageError(Plan({file}), {"V6__psql.sql", "line 2", "\\set"});
}

TEST_F(PlanCliTest, UnreachableTargetExitsThree) {
  std::string file = File("V7__x.sql", "ALTER TABLE big ADD COLUMN x int;\n");
  ProcessResult r = RunShadowcopy(
      {"plan", "--dsn", "host=/nonexistent-socket-dir port=1 dbname=x connect_timeout=2", "--rehearsal", "none", file},
      {}, nullptr, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 3) << r.Describe();
  EXPECT_EQ(LinesStartingWith(r.err, "shadowcopy: error:").size(), 1u) << r.Describe();
  EXPECT_TRUE(r.out.empty()) << r.Describe();
}

TEST_F(PlanCliTest, BadUsage) {
  std::string file = File("V8__x.sql", "SELECT 1;\n");
  ExpectUsageError(Plan({"--format", "yaml", file}), {"--format"});
  ExpectUsageError(Plan({"--fail-on", "fatal", file}), {"--fail-on"});
  ExpectUsageError(Plan({}), {"migration files"});
}

}  // namespace
}  // namespace shadowcopy::it
