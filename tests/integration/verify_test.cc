// Verification before the cutover, end to end through the binary: a clean
// run under the mirror workload finds no mismatch and reports the writers'
// block of its consistency point; values of types with odd text forms hash
// alike on both sides after an ALTER, and values equal but not the same do
// not; a shadow corrupted once (test hook) is detected, repaired and ends
// exact; a corruption re-injected every time stops the run before the
// cutover with the original untouched; --verify=off skips it; `shadowcopy
// verify` verifies a migration whose cutover waits.
#include <unistd.h>

#include <fstream>
#include <thread>

#include "common/quote.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr int kRows = 12000;

class VerifyTest : public DatabaseTest {
 protected:
  void TearDown() override {
    if (!socket_.empty()) ::unlink(socket_.c_str());
    DatabaseTest::TearDown();
  }

  // Runs the tool on `orders` while the mirror workload writes.
  ProcessResult RunUnderLoad(std::vector<std::string> args, MirrorWorkload* workload, const EnvVars& env = {}) {
    auto st = workload->Start();
    EXPECT_TRUE(st.ok()) << st;
    std::this_thread::sleep_for(milliseconds(300));
    ProcessResult result = RunShadowcopy(ToolArgs("orders", args), env, nullptr, seconds(120));
    std::this_thread::sleep_for(milliseconds(300));
    workload->Stop();
    return result;
  }

  static double Summary(const ProcessResult& r, const std::string& key) {
    return SummaryNumber(LastLine(r.out), key).value_or(-1);
  }
  static bool Verified(const ProcessResult& r) {
    return LastLine(r.out).find("\"verified\":true") != std::string::npos;
  }

  std::string socket_;
};

TEST_F(VerifyTest, CleanRunUnderLoadFindsNoMismatchAndReportsTheBlock) {
  const std::string alter = "ALTER COLUMN id TYPE bigint";
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ProcessResult r = RunUnderLoad(
      {"--alter", alter, "--execute", "--chunk-size", "2000", "--verify-range-rows", "1500"}, &workload);
  ExpectSucceeded(r);
  ExpectNoWorkloadErrors(workload);
  EXPECT_TRUE(Verified(r)) << r.Describe();
  EXPECT_EQ(Summary(r, "verify_mismatches"), 0) << r.Describe();
  EXPECT_GE(Summary(r, "verify_ranges"), 8) << r.Describe();
  EXPECT_GE(Summary(r, "verify_points"), 1);
  EXPECT_GT(Summary(r, "verify_blocked_ms"), 0) << "the consistency point's block is reported";
  EXPECT_NE(r.err.find("verify: consistency point taken: writers were blocked for"), std::string::npos)
      << r.Describe();
  EXPECT_NE(r.out.find("verify lock:        writers blocked"), std::string::npos) << r.out;
  ASSERT_TRUE(TransformTruth(db(), "truth", alter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

// Values whose text forms are easy to get wrong: NULLs and empty strings,
// numeric scale, timestamptz, arrays, json vs jsonb, bytea, floats,
// intervals, collations, casts that depend on the session's TimeZone and
// bytea_output, a key whose collation the ALTER changes (one range), a
// column the ALTER adds (not compared, and said so).
TEST_F(VerifyTest, OddTypesHashAlikeAfterAnAlter) {
  MustExec(db(), R"(
    SET TimeZone = 'America/New_York';
    CREATE TABLE odd (k text COLLATE "POSIX" PRIMARY KEY, n numeric, n2 numeric(10,3), ts timestamptz,
      arr int[], tarr text[], j json, jb jsonb, b bytea, f float8, r real, txt text COLLATE "C",
      iv interval, nul text, d date, big bigint);
    INSERT INTO odd SELECT 'k' || g, g / 7.0, g / 3.0, now() - g * interval '1 min 1.5 s',
      ARRAY[g, NULL, g + 1], ARRAY['a,b', NULL, '"q"', ''],
      ('{"a": ' || g || ',  "b": [1, 2]}')::json, ('{"b": [1, 2], "a": ' || g || '}')::jsonb,
      decode(md5(g::text), 'hex'), g / 3.0, g / 7.0, 'x' || g, g * interval '1 sec 7 ms',
      CASE WHEN g % 3 = 0 THEN NULL WHEN g % 3 = 1 THEN '' ELSE 'NULL' END, date '2020-01-01' + g,
      g::bigint * 1000000007 FROM generate_series(1, 3000) g;
    INSERT INTO odd (k, n, f, r) VALUES ('neg zero', -0.0, '-0', '-0'), ('inf', 'NaN', 'Infinity', '-Infinity');
  )");
  const std::string alter =
      "ALTER COLUMN k TYPE text COLLATE \"C\", ALTER COLUMN n TYPE numeric(20,4), ALTER COLUMN f TYPE real, "
      "ALTER COLUMN ts TYPE timestamp, ALTER COLUMN b TYPE text, "
      "ALTER COLUMN big TYPE numeric, ALTER COLUMN jb TYPE json, ADD COLUMN added text DEFAULT random()::text";
  MustExec(db(), "CREATE TABLE odd_truth AS SELECT * FROM odd");
  ProcessResult r = RunShadowcopy(ToolArgs("odd", {"--alter", alter, "--execute", "--verify-range-rows", "500"}),
                                  {{"PGTZ", "Asia/Kolkata"}}, nullptr, seconds(60));
  ExpectSucceeded(r);
  EXPECT_TRUE(Verified(r)) << r.Describe();
  EXPECT_EQ(Summary(r, "verify_mismatches"), 0) << r.Describe();
  EXPECT_NE(r.err.find("(the new key orders rows differently: one range)"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("not compared:       \"added\" (no source in the original)"), std::string::npos) << r.out;
  // The same table with an ALTER that keeps the key order: several ranges.
  MustExec(db(), "DROP TABLE " + OldTableOf("odd"));
  ProcessResult again = RunShadowcopy(
      ToolArgs("odd", {"--alter", "ALTER COLUMN n2 TYPE numeric(12,1), DROP COLUMN added", "--execute",
                       "--verify-range-rows", "500"}),
      {}, nullptr, seconds(60));
  ExpectSucceeded(again);
  EXPECT_TRUE(Verified(again));
  EXPECT_EQ(Summary(again, "verify_mismatches"), 0) << again.Describe();
  EXPECT_GE(Summary(again, "verify_ranges"), 6) << again.Describe();
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM (SELECT k COLLATE \"C\", n2::numeric(12,1) FROM odd_truth "
                             "EXCEPT SELECT k, n2 FROM odd) x"), "0");
  ExpectNothingLeftBehind("odd");
}

// Values equal under `=` but not the same are told apart: numeric scale,
// float -0, interval, json spacing, a bpchar's trailing space, NULL vs '',
// bigints and timestamps whose types' own hashes fold them together, and
// (where ICU is built in) text differing in case only under a
// case-insensitive collation. Each is written into the shadow of a
// postponed migration, one per range; `shadowcopy verify` finds and repairs
// every one.
TEST_F(VerifyTest, EqualButNotIdenticalValuesAreToldApart) {
  const bool icu =
      QueryValue(db(), "SELECT count(*) FROM pg_collation WHERE collprovider = 'i'") != "0";
  if (icu)
    MustExec(
        db(),
        "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)");
  // 2024-01-01 00:00 UTC and its twin: the microseconds since 2000 XOR
  // 2^32 + 1, equal halves folded.
  const std::string twin_ts =
      "timestamptz '2000-01-01 00:00:00+00' + (757382400000000 # 4294967297) * interval '1 us'";
  MustExec(db(), fmt::format(R"(
    CREATE TABLE twins (id int PRIMARY KEY, n numeric, f float8, iv interval, j json, c bpchar, s text,
      big bigint, ts timestamptz, t text COLLATE {});
    INSERT INTO twins SELECT g, 1.0, 0, '1 day', '{{"a": 1}}', 'a ', NULL, 1, '2024-01-01 00:00:00+00', 'Abc'
      FROM generate_series(1, 100) g;
    CREATE TABLE twins_truth AS SELECT * FROM twins;
  )",
                             icu ? "ci" : "\"C\""));
  // What the shadow gets instead, each value equal to the original's.
  std::vector<std::pair<int, std::string>> twins = {
      {5, "n = 1.00"}, {15, "f = '-0'"}, {25, "iv = '24 hours'"},  {35, R"(j = '{"a":1}')"},
      {45, "c = 'a'"}, {55, "s = ''"},   {65, "big = 4294967296"}, {75, "ts = " + twin_ts}};
  if (icu) twins.emplace_back(85, "t = 'abc'");
  EXPECT_EQ(
      QueryValue(
          db(),
          fmt::format("SELECT 1.0 = 1.00 AND 0::float8 = '-0' AND interval '1 day' = '24 hours' "
                      "AND 'a '::bpchar = 'a' AND hashint8extended(1, 0) = "
                      "hashint8extended(4294967296, 0) AND hash_record_extended(ROW(timestamptz "
                      "'2024-01-01 00:00:00+00'), 0) = hash_record_extended(ROW({}), 0)",
                      twin_ts)),
      "t");
  socket_ = fmt::format("/tmp/sc-it-verify-twins-{}.sock", ::getpid());
  ::unlink(socket_.c_str());
  auto tool = ShadowcopyProcess::Start(
      ToolArgs("twins", {"--alter", "ALTER COLUMN id TYPE bigint", "--execute",
                         "--postpone-cutover", "--socket", socket_, "--verify-range-rows", "10"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("phase=postponed", seconds(30)))
      << (*tool)->Wait(seconds(5)).Describe();
  for (const auto& [id, set] : twins)
    MustExec(db(), fmt::format("UPDATE _twins_shadow SET {} WHERE id = {}", set, id));
  ProcessResult v = RunShadowcopy({"verify", "--socket", socket_}, {}, nullptr, seconds(30));
  EXPECT_EQ(v.exit_code, 0) << v.Describe();
  EXPECT_NE(
      LastLine(v.out).find(fmt::format(" rows, {} mismatches found and repaired", twins.size())),
      std::string::npos)
      << v.Describe();
  EXPECT_EQ(
      RunShadowcopy({"ctl", "--socket", socket_, "cutover"}, {}, nullptr, seconds(10)).exit_code,
      0);
  ProcessResult r = (*tool)->Wait(seconds(60));
  ExpectSucceeded(r);
  for (const auto& [id, set] : twins)
    EXPECT_NE(r.err.find(fmt::format("first differing keys: ({}) (differs)", id)),
              std::string::npos)
        << set << "\n"
        << r.err;
  EXPECT_EQ(QueryValue(db(),
                       "SELECT count(*) FROM (SELECT ROW(t.*)::text FROM twins t EXCEPT "
                       "SELECT ROW(u.*)::text FROM twins_truth u) x"),
            "0");
  ExpectNothingLeftBehind("twins");
}

TEST_F(VerifyTest, CorruptedOnceIsDetectedRepairedAndEndsExact) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ProcessResult r = RunUnderLoad({"--execute", "--chunk-size", "2000", "--verify-range-rows", "3000"}, &workload,
                                 {{"SHADOWCOPY_TEST_CORRUPT", "once"}});
  ExpectSucceeded(r);
  ExpectNoWorkloadErrors(workload);
  EXPECT_NE(r.err.find("test hook: corrupted 1 row(s)"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("differs (1 of 3)"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("first differing keys: ("), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("verify: repaired range"), std::string::npos) << r.Describe();
  EXPECT_EQ(Summary(r, "verify_mismatches"), 1) << r.Describe();
  EXPECT_EQ(Summary(r, "verify_repaired"), 1);
  EXPECT_GE(Summary(r, "verify_points"), 2) << "the repaired range is verified again at a new point";
  EXPECT_TRUE(Verified(r));
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

TEST_F(VerifyTest, CorruptionEveryTimeStopsBeforeTheCutover) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  std::string oid = TableOid("orders");
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ProcessResult r = RunUnderLoad({"--alter", "ALTER COLUMN id TYPE bigint", "--execute", "--chunk-size", "2000",
                                  "--verify-range-rows", "3000"},
                                 &workload, {{"SHADOWCOPY_TEST_CORRUPT", "always"}});
  ExpectFailedWithOneErrorLine(r);
  EXPECT_NE(r.err.find("still differs after 2 repairs"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("the original table is untouched"), std::string::npos) << r.Describe();
  EXPECT_EQ(r.err.find("phase=cutover"), std::string::npos) << "no cutover was attempted";
  ExpectNoWorkloadErrors(workload);
  EXPECT_EQ(TableOid("orders"), oid) << "the original was replaced";
  EXPECT_FALSE(AnyOldTableOf("orders"));
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

// Ranges not started before the snapshot is too old get a fresh
// consistency point.
TEST_F(VerifyTest, OldSnapshotsAreReplacedForTheRangesLeft) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000).ok());
  ProcessResult r = RunShadowcopy(ToolArgs("orders", {"--execute", "--verify-range-rows", "400",
                                                      "--verify-max-snapshot-age", "1ms"}),
                                  {}, nullptr, seconds(60));
  ExpectSucceeded(r);
  EXPECT_TRUE(Verified(r)) << r.Describe();
  EXPECT_EQ(Summary(r, "verify_ranges"), 8) << r.Describe();
  EXPECT_GE(Summary(r, "verify_points"), 2) << r.Describe();
  EXPECT_NE(r.err.find("ranges left for a new consistency point"), std::string::npos) << r.err;
  ExpectMirrorEqual(db(), "orders", "truth");
}

// --verify-after compares the new table with the old one as they were at
// the swap: writes made to the new table afterwards are not differences.
TEST_F(VerifyTest, VerifyAfterComparesTheTablesAtTheSwap) {
  const std::string alter = "ALTER COLUMN id TYPE bigint";
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ProcessResult r = RunUnderLoad({"--alter", alter, "--execute", "--chunk-size", "2000", "--verify-range-rows",
                                  "3000", "--verify-after", "--drop-old-table"},
                                 &workload);
  ExpectSucceeded(r);
  ExpectNoWorkloadErrors(workload);
  EXPECT_NE(LastLine(r.out).find("\"verified_after\":true"), std::string::npos) << r.Describe();
  EXPECT_EQ(Summary(r, "verify_after_mismatches"), 0) << r.Describe();
  EXPECT_GE(Summary(r, "verify_after_ranges"), 4) << r.Describe();
  EXPECT_NE(r.out.find("verified after:"), std::string::npos) << r.out;
  EXPECT_FALSE(AnyOldTableOf("orders")) << "dropped once compared";
  ASSERT_TRUE(TransformTruth(db(), "truth", alter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

TEST_F(VerifyTest, OffSkipsItAndTheDryRunSaysSo) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 2000).ok());
  ProcessResult dry = RunShadowcopy(ToolArgs("orders", {}), {}, nullptr, seconds(30));
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_NE(dry.out.find("  verify:      yes, before the cutover"), std::string::npos) << dry.out;
  ProcessResult dry_off = RunShadowcopy(ToolArgs("orders", {"--verify=off"}), {}, nullptr, seconds(30));
  EXPECT_NE(dry_off.out.find("  verify:      no (--verify=off)"), std::string::npos) << dry_off.out;
  ProcessResult r = RunShadowcopy(ToolArgs("orders", {"--execute", "--verify=off"}), {}, nullptr, seconds(60));
  ExpectSucceeded(r);
  EXPECT_EQ(r.err.find("phase=verify"), std::string::npos) << r.err;
  EXPECT_NE(LastLine(r.out).find("\"verified\":false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("verified:           no (--verify=off)"), std::string::npos) << r.out;
  ExpectMirrorEqual(db(), "orders", "truth");
}

TEST_F(VerifyTest, VerifyCommandChecksAPostponedMigration) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 4000).ok());
  socket_ = fmt::format("/tmp/sc-it-verify-{}.sock", ::getpid());
  ::unlink(socket_.c_str());
  auto tool = ShadowcopyProcess::Start(ToolArgs(
      "orders", {"--execute", "--postpone-cutover", "--socket", socket_, "--verify-range-rows", "1000"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("phase=postponed", seconds(30))) << (*tool)->Wait(seconds(5)).Describe();
  MustExec(db(), "UPDATE orders SET status = 'late' WHERE id % 10 = 0");
  ProcessResult v = RunShadowcopy({"verify", "--socket", socket_}, {}, nullptr, seconds(30));
  EXPECT_EQ(v.exit_code, 0) << v.Describe();
  EXPECT_EQ(LastLine(v.out).rfind("ok: verified \"public\".\"orders\": 5 ranges, 4000 rows, no mismatch", 0), 0u)
      << v.Describe();
  ProcessResult status = RunShadowcopy({"ctl", "--socket", socket_, "status", "--json"}, {}, nullptr, seconds(10));
  EXPECT_NE(status.out.find("\"verify\":\"clean\""), std::string::npos) << status.out;
  ProcessResult bad = RunShadowcopy({"verify", "--socket", socket_, "now"}, {}, nullptr, seconds(10));
  EXPECT_EQ(bad.exit_code, 2) << bad.Describe();
  ProcessResult released = RunShadowcopy({"ctl", "--socket", socket_, "cutover"}, {}, nullptr, seconds(10));
  EXPECT_EQ(released.exit_code, 0) << released.Describe();
  ProcessResult r = (*tool)->Wait(seconds(60));
  ExpectSucceeded(r);
  EXPECT_GE(Summary(r, "verify_points"), 2) << "the pre-cutover verification, then the requested one";
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders WHERE status = 'late'"), "400");
  ProcessResult gone = RunShadowcopy({"verify", "--socket", socket_}, {}, nullptr, seconds(10));
  EXPECT_EQ(gone.exit_code, 3) << gone.Describe();
}

// The operator's pause holds the verification workers, as it holds the copy.
TEST_F(VerifyTest, PauseHoldsTheVerification) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 3000).ok());
  socket_ = fmt::format("/tmp/sc-it-verify-pause-{}.sock", ::getpid());
  ::unlink(socket_.c_str());
  auto tool = ShadowcopyProcess::Start(ToolArgs(
      "orders", {"--execute", "--postpone-cutover", "--socket", socket_, "--verify-range-rows", "1000"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("phase=postponed", seconds(30))) << (*tool)->Wait(seconds(5)).Describe();
  auto ctl = [&](std::vector<std::string> words) {
    std::vector<std::string> args = {"ctl", "--socket", socket_};
    args.insert(args.end(), words.begin(), words.end());
    return RunShadowcopy(args, {}, nullptr, seconds(10));
  };
  EXPECT_EQ(ctl({"pause"}).exit_code, 0);
  ProcessResult requested = ctl({"verify"});
  EXPECT_EQ(LastLine(requested.out), "ok: verification requested (request 1)") << requested.Describe();
  // Taken the consistency point, the workers wait: no range gets done.
  auto running = Clock::now() + seconds(20);
  std::string status;
  while (Clock::now() < running && status.find("verify running: 0/4 ranges") == std::string::npos) {
    status = ctl({"status"}).out;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_NE(status.find("verify running: 0/4 ranges"), std::string::npos) << status;
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_NE(ctl({"status"}).out.find("verify running: 0/4 ranges"), std::string::npos);
  ProcessResult pending = ctl({"verify-result", "1"});
  EXPECT_EQ(LastLine(pending.out), "pending: verification 1 is running") << pending.Describe();
  EXPECT_EQ(ctl({"resume"}).exit_code, 0);
  auto deadline = Clock::now() + seconds(20);
  std::string result;
  while (Clock::now() < deadline) {
    result = LastLine(ctl({"verify-result", "1"}).out);
    if (result.rfind("pending:", 0) != 0) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(result.rfind("ok: verified", 0), 0u) << result;
  EXPECT_EQ(ctl({"cutover"}).exit_code, 0);
  ExpectSucceeded((*tool)->Wait(seconds(60)));
}

}  // namespace
}  // namespace shadowcopy::it
