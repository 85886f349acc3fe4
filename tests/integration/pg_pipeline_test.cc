// PgPipeline (common/pg_pipeline.h), which the replay's groups go through:
// statements sent together are applied in order, a failure reports its
// SQLSTATE and skips the rest of the batch, and the connection is usable by
// synchronous calls afterwards.
#include "common/pg_pipeline.h"

#include "common/status.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace shadowcopy::it {
namespace {

class PgPipelineTest : public DatabaseTest {
 protected:
  void SetUp() override {
    DatabaseTest::SetUp();
    if (!HasDb()) return;
    MustExec(db(), "CREATE TABLE p (id int PRIMARY KEY, v text)");
  }
};

TEST_F(PgPipelineTest, StatementsRunInOrderInOneTransaction) {
  auto conn = Connect();
  PgPipeline pipe(conn.get());
  ASSERT_TRUE(pipe.Send("BEGIN").ok());
  ASSERT_TRUE(pipe.Send("INSERT INTO p SELECT unnest($1::int[]), 'a'", {"{1,2,3}"}).ok());
  ASSERT_TRUE(pipe.Send("UPDATE p SET v = $1 WHERE id = ANY($2::int[])", {"b", "{2,3}"}).ok());
  ASSERT_TRUE(pipe.Send("DELETE FROM p WHERE id = $1", {"3"}).ok());
  EXPECT_EQ(pipe.pending(), 4);
  ASSERT_TRUE(pipe.Finish().ok());
  EXPECT_TRUE(conn->InTransaction());
  ASSERT_TRUE(conn->Exec("COMMIT").ok());
  EXPECT_EQ(QueryValue(db(), "SELECT string_agg(id || v, ',' ORDER BY id) FROM p"), "1a,2b");
}

TEST_F(PgPipelineTest, FailureReportsSqlStateAndSkipsTheRest) {
  MustExec(db(), "INSERT INTO p VALUES (1, 'a')");
  auto conn = Connect();
  {
    PgPipeline pipe(conn.get());
    ASSERT_TRUE(pipe.Send("BEGIN").ok());
    ASSERT_TRUE(pipe.Send("INSERT INTO p VALUES (2, 'x')").ok());
    ASSERT_TRUE(pipe.Send("INSERT INTO p VALUES (1, 'dup')").ok());
    ASSERT_TRUE(pipe.Send("INSERT INTO p VALUES (3, 'skipped')").ok());
    absl::Status st = pipe.Finish();
    EXPECT_EQ(SqlStateOf(st), "23505") << st;
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  }
  conn->RollbackQuietly();
  EXPECT_FALSE(conn->InTransaction());
  // Synchronous calls work again, and nothing of the failed batch stayed.
  auto r = conn->Query("SELECT count(*) FROM p WHERE id > $1", {"0"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->Get(0, 0), "1");
}

TEST_F(PgPipelineTest, UnfinishedBatchIsDrainedByTheDestructor) {
  auto conn = Connect();
  {
    PgPipeline pipe(conn.get());
    ASSERT_TRUE(pipe.Send("SELECT 1").ok());
    ASSERT_TRUE(pipe.Send("SELECT 2").ok());
  }
  auto r = conn->Exec("SELECT 3");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->Get(0, 0), "3");
  PgPipeline empty(conn.get());
  EXPECT_TRUE(empty.Finish().ok());  // nothing sent: no round trip, no error
}

}  // namespace
}  // namespace shadowcopy::it
