// The new table's physical order: the copy inserts each batch in key order,
// whatever plan reads it, so a rebuild lays the copied rows out in key order
// (as pg_repack does for a table clustered on its key) even when the
// original's rows lie in another order.
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace shadowcopy::it {
namespace {

class PhysicalOrderTest : public DatabaseTest {
 protected:
  // Rows whose key is lower than the key of the row before them in ctid order.
  std::string OutOfOrder(const std::string& table) {
    return QueryValue(db(), "SELECT count(*) FROM (SELECT id < lag(id) OVER (ORDER BY ctid) AS back FROM " +
                                table + ") s WHERE back");
  }
};

TEST_F(PhysicalOrderTest, RebuildLaysRowsOutInKeyOrder) {
  // Stored in descending key order, clustered (marked only) on the key.
  MustExec(db(),
           "CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);"
           "INSERT INTO t SELECT g, repeat(md5(g::text), 3) FROM generate_series(20000, 1, -1) g;"
           "ALTER TABLE t CLUSTER ON t_pkey; ANALYZE t;");
  ASSERT_NE(OutOfOrder("t"), "0");
  std::string digest = QueryValue(db(), "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM t");
  for (const char* chunk : {"100000", "3000"}) {
    ProcessResult r = RunShadowcopy(ToolArgs("t", {"--execute", "--drop-old-table", "--chunk-size", chunk}));
    ExpectSucceeded(r);
    EXPECT_EQ(OutOfOrder("t"), "0") << "chunk size " << chunk;
    EXPECT_EQ(QueryValue(db(), "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM t"), digest);
    ExpectNothingLeftBehind("t");
    // Back to descending order for the next run.
    MustExec(db(), "CREATE TEMP TABLE d AS SELECT * FROM t; TRUNCATE t;"
                   "INSERT INTO t SELECT * FROM d ORDER BY id DESC; DROP TABLE d; ANALYZE t;");
  }
}

}  // namespace
}  // namespace shadowcopy::it
