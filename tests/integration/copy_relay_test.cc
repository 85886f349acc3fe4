// The copy relay (COPY TO STDOUT from the original into COPY FROM STDIN on
// the shadow, engine/rewrite/copy_relay.h) under the mirror workload: a
// plain rebuild (deferred key index), replay running between the batches
// (ranges the replay wrote into stay on INSERT ... ON CONFLICT), an ALTER
// whose new type is reached by a cast (bigint to numeric), and one that is
// not relayed (varchar(n), whose explicit cast would truncate). Values that
// are equal but not identical come through byte for byte.
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kRows = 20000;

class CopyRelayTest : public DatabaseTest {
 protected:
  ProcessResult RunUnderLoad(const std::vector<std::string>& tool_args) {
    MirrorWorkload workload(dbname(), WorkloadOptions{});
    auto st = workload.Start();
    EXPECT_TRUE(st.ok()) << st;
    std::this_thread::sleep_for(milliseconds(500));
    ProcessResult result = RunShadowcopy(ToolArgs("orders", tool_args), {}, TrackCopyPhase(&workload), seconds(240));
    workload.SetCopyPhaseActive(false);
    std::this_thread::sleep_for(milliseconds(500));
    workload.Stop();
    ExpectSucceeded(result);
    ExpectNoWorkloadErrors(workload);
    return result;
  }

  double Summary(const ProcessResult& result, const char* key) {
    auto v = SummaryNumber(LastLine(result.out), key);
    EXPECT_TRUE(v.has_value()) << "no " << key << " in: " << LastLine(result.out);
    return v.value_or(-1);
  }
};

TEST_F(CopyRelayTest, RebuildIsRelayedAndExact) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  ProcessResult result = RunUnderLoad({"--execute", "--copy-relay", "--chunk-size", "1000"});
  EXPECT_GT(Summary(result, "relayed_batches"), 0) << "no batch went through the relay";
  EXPECT_EQ(Summary(result, "verify_mismatches"), 0);
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

TEST_F(CopyRelayTest, ReplayBetweenBatchesKeepsItsRows) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  ProcessResult result = RunUnderLoad({"--execute", "--copy-relay", "--chunk-size", "500", "--replay-during-copy"});
  EXPECT_GT(Summary(result, "relayed_batches"), 0) << "no batch went through the relay";
  EXPECT_EQ(Summary(result, "verify_mismatches"), 0);
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

TEST_F(CopyRelayTest, CastToTheNewTypeIsRelayedAndExact) {
  const std::string alter = "ALTER COLUMN customer_id TYPE numeric, ALTER COLUMN id TYPE bigint";
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows).ok());
  ProcessResult result = RunUnderLoad({"--alter", alter, "--execute", "--copy-relay", "--chunk-size", "1000"});
  EXPECT_GT(Summary(result, "relayed_batches"), 0) << "no batch went through the relay";
  EXPECT_EQ(Summary(result, "verify_mismatches"), 0);
  ASSERT_TRUE(TransformTruth(db(), "truth", alter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  EXPECT_EQ(QueryValue(db(), "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = 'orders'::regclass AND attname = 'customer_id'"),
            "numeric");
  ExpectNothingLeftBehind("orders");
}

TEST_F(CopyRelayTest, LengthLimitedTypeIsNotRelayed) {
  const std::string alter = "ALTER COLUMN status TYPE varchar(20)";
  ASSERT_TRUE(CreateAndLoadOrders(db(), kRows / 2).ok());
  ProcessResult result = RunUnderLoad({"--alter", alter, "--execute", "--copy-relay", "--chunk-size", "1000"});
  EXPECT_EQ(Summary(result, "relayed_batches"), 0);
  ASSERT_TRUE(TransformTruth(db(), "truth", alter).ok());
  ExpectMirrorEqual(db(), "orders", "truth");
  ExpectNothingLeftBehind("orders");
}

// Values equal under '=' but not identical, NULL against '', a TOASTed
// value, arrays, an enum, a domain: the relayed copy holds them byte for
// byte (compared by their text, which tells them apart).
TEST_F(CopyRelayTest, OddValuesComeThroughIdentical) {
  ASSERT_TRUE(db().Exec(
      "CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE DOMAIN posint AS int CHECK (VALUE > 0);"
      "CREATE TABLE odd (id int PRIMARY KEY, f float8, n numeric, t text, b bytea, a int[], j jsonb, js json, "
      "  m mood, d posint, i interval, ts timestamptz, big text);"
      "INSERT INTO odd VALUES (1, '-0', 1.0, '', '\\x00ff', '{1,NULL}', '{\"a\": 1}', '{ \"a\" : 1 }', 'ok', 1, "
      "  '1 day', '2024-01-01 00:00:00.123456+00', repeat(md5('x'), 5000)),"
      "(2, 0, 1.00, NULL, NULL, '{}', 'null', 'null', 'sad', 2, '24 hours', NULL, NULL),"
      "(3, 'NaN', 'NaN', 'a ', '\\x', NULL, '[1.50]', '[1.50]', NULL, NULL, NULL, 'infinity', ''),"
      "(4, '-Infinity', -0.000, E'\\u00e9', '\\x01', '{{1,2},{3,4}}', '{}', '{}', 'ok', 3, '-1 mon', '-infinity', 'x');"
      "INSERT INTO odd SELECT g, g / 7.0, g / 3.0, 'row ' || g, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
      "FROM generate_series(5, 3000) g;"
      "CREATE TABLE odd_before AS SELECT id, odd::text AS r FROM odd;")
                  .ok());
  ProcessResult result = RunShadowcopy(ToolArgs("odd", {"--execute", "--copy-relay", "--chunk-size", "700"}), {}, nullptr, seconds(120));
  ExpectSucceeded(result);
  EXPECT_GT(Summary(result, "relayed_batches"), 0) << "no batch went through the relay";
  EXPECT_EQ(Summary(result, "verify_mismatches"), 0);
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM ((SELECT id, odd::text FROM odd EXCEPT ALL SELECT id, r FROM odd_before) "
                             "UNION ALL (SELECT id, r FROM odd_before EXCEPT ALL SELECT id, odd::text FROM odd)) x"),
            "0");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM odd"), "3000");
  ExpectNothingLeftBehind("odd");
}

}  // namespace
}  // namespace shadowcopy::it
