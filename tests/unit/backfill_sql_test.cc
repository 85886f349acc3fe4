// Tests of the backfill's statements and of the checks on the user's SET and
// WHERE text (engine/backfill/backfill_sql.h), on hand-made key models.
#include "engine/backfill/backfill_sql.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/backfill/backfill_plan.h"
#include "engine/table/table_model.h"
#include "tests/unit/model_builders.h"

namespace shadowcopy::engine::backfill_sql {
namespace {

using ::testing::HasSubstr;

using test_models::Col;
TableModel Model(std::string schema, std::string table, std::vector<MappedColumn> columns) {
  return test_models::Model(std::move(columns), std::move(schema), std::move(table));
}

TableModel Simple() { return Model("public", "users", {Col("id", "bigint", 0), Col("name", "text")}); }

// Key ("Region", "order no") declared in that order, stored the other way.
TableModel Composite() {
  return Model("Sales", "Orders", {Col("order no", "integer", 1), Col("note", "text"), Col("Region", "text", 0)});
}

BatchSpec Update(std::string set, std::string where) { return {false, std::move(set), std::move(where)}; }

// ---- statements ----

TEST(BackfillBatchSqlTest, FirstBatchHasOnlyTheUpperBound) {
  EXPECT_EQ(BatchSql(Simple(), Update("name = upper(name)", "name IS NULL"), false),
            "UPDATE ONLY \"public\".\"users\" SET name = upper(name)\n"
            "WHERE (\"public\".\"users\".\"id\") <= (CAST($1 AS bigint)) AND (name IS NULL\n)");
}

TEST(BackfillBatchSqlTest, LaterBatchesTakeTheRangeAfterTheCursor) {
  EXPECT_THAT(BatchSql(Simple(), Update("name = 'x'", "true"), true),
              HasSubstr("WHERE (\"public\".\"users\".\"id\") > (CAST($1 AS bigint)) AND "
                        "(\"public\".\"users\".\"id\") <= (CAST($2 AS bigint)) AND (true\n)"));
}

TEST(BackfillBatchSqlTest, DeleteUsesTheSameRange) {
  BatchSpec del{true, "", "created < now() - interval '1 year'"};
  EXPECT_EQ(BatchSql(Simple(), del, true),
            "DELETE FROM ONLY \"public\".\"users\" WHERE (\"public\".\"users\".\"id\") > (CAST($1 AS bigint)) AND "
            "(\"public\".\"users\".\"id\") <= (CAST($2 AS bigint)) AND (created < now() - interval '1 year'\n)");
}

TEST(BackfillBatchSqlTest, CompositeKeyComparesRowsInKeyOrder) {
  std::string sql = BatchSql(Composite(), Update("note = ''", "true"), true);
  EXPECT_THAT(sql, HasSubstr("UPDATE ONLY \"Sales\".\"Orders\" SET note = ''\n"));
  EXPECT_THAT(sql, HasSubstr("(\"Sales\".\"Orders\".\"Region\", \"Sales\".\"Orders\".\"order no\") > "
                             "(CAST($1 AS text), CAST($2 AS integer)) AND "
                             "(\"Sales\".\"Orders\".\"Region\", \"Sales\".\"Orders\".\"order no\") <= "
                             "(CAST($3 AS text), CAST($4 AS integer))"));
}

TEST(BackfillBatchSqlTest, TrailingLineCommentCannotSwallowTheStatement) {
  std::string sql = BatchSql(Simple(), Update("name = 'x' -- why", "id > 0 -- note"), false);
  EXPECT_THAT(sql, HasSubstr("-- why\nWHERE"));
  EXPECT_THAT(sql, HasSubstr("-- note\n)"));
}

TEST(BackfillBoundarySqlTest, BoundedBySpanEndAndLimitedToN) {
  EXPECT_EQ(BoundarySql(Simple(), true),
            "WITH k AS (SELECT o.\"id\" FROM ONLY \"public\".\"users\" AS o WHERE (o.\"id\") > (CAST($1 AS bigint)) "
            "AND (o.\"id\") <= (CAST($2 AS bigint)) ORDER BY o.\"id\" LIMIT $3) "
            "SELECT k.\"id\"::text, (SELECT count(*) FROM k) FROM k ORDER BY k.\"id\" DESC LIMIT 1");
}

TEST(BackfillBoundarySqlTest, FirstBatchStartsAtParameterOne) {
  std::string sql = BoundarySql(Composite(), false);
  EXPECT_THAT(sql, HasSubstr("WHERE (o.\"Region\", o.\"order no\") <= (CAST($1 AS text), CAST($2 AS integer)) "
                             "ORDER BY o.\"Region\", o.\"order no\" LIMIT $3"));
  EXPECT_THAT(sql, HasSubstr("SELECT k.\"Region\"::text, k.\"order no\"::text, (SELECT count(*) FROM k)"));
  EXPECT_THAT(sql, HasSubstr("ORDER BY k.\"Region\" DESC, k.\"order no\" DESC LIMIT 1"));
}

TEST(BackfillSpanSqlTest, FirstAndLastKey) {
  EXPECT_EQ(SpanEndSql(Simple(), false),
            "SELECT o.\"id\"::text FROM ONLY \"public\".\"users\" AS o ORDER BY o.\"id\" LIMIT 1");
  EXPECT_THAT(SpanEndSql(Composite(), true), HasSubstr("ORDER BY o.\"Region\" DESC, o.\"order no\" DESC LIMIT 1"));
}

TEST(BackfillEstimateTest, ExplainAndPlanRows) {
  EXPECT_EQ(EstimateSql(Simple(), "name IS NULL"),
            "EXPLAIN SELECT 1 FROM ONLY \"public\".\"users\" WHERE (name IS NULL\n)");
  EXPECT_EQ(PlanRows("Seq Scan on users  (cost=0.00..35.50 rows=2550 width=4)"), 2550);
  EXPECT_EQ(PlanRows("Result  (cost=0.00..0.01 rows=1 width=4)"), 1);
  EXPECT_EQ(PlanRows("no estimate here"), -1);
}

TEST(BackfillFormatKeyTest, Tuples) {
  EXPECT_EQ(FormatKey({"17"}), "(17)");
  EXPECT_EQ(FormatKey({"eu", "3"}), "(eu, 3)");
}

// ---- expression checks ----

absl::Status Where(std::string_view text) { return CheckExpression(text, ExpressionKind::kWhere); }
absl::Status Set(std::string_view text) { return CheckExpression(text, ExpressionKind::kSet); }

TEST(BackfillExpressionTest, AcceptsOrdinaryExpressions) {
  EXPECT_TRUE(Where("true").ok());
  EXPECT_TRUE(Where("display_name IS NULL AND (a > 1 OR b < 2)").ok());
  EXPECT_TRUE(Where("created_at < now() - interval '1 year'").ok());
  EXPECT_TRUE(Where("note = 'it''s (not) a paren ) here'").ok());
  EXPECT_TRUE(Where("\"odd ) name\" = 1").ok());
  EXPECT_TRUE(Where("x = $$ ) ; $$ AND y = $tag$ ( $tag$").ok());
  EXPECT_TRUE(Where("x = E'\\' )'").ok());
  EXPECT_TRUE(Where("a = 1 /* ) /* nested ( */ */ -- ) trailing").ok());
  EXPECT_TRUE(Where("id IN (SELECT id FROM other WHERE flag)").ok());
  EXPECT_TRUE(Where("price$ > 0").ok());
  EXPECT_TRUE(Set("display_name = username, updated = now()").ok());
  EXPECT_TRUE(Set("total = (SELECT sum(x) FROM items i WHERE i.order_id = orders.id)").ok());
  EXPECT_TRUE(Set("status = 'from where'").ok());
  EXPECT_TRUE(Set("\"from\" = 1").ok());
}

TEST(BackfillExpressionTest, RefusesACarriageReturnEndingAComment) {
  // The server ends a -- comment at \r too: the ')' after it would be live.
  EXPECT_FALSE(Where("true --\r) OR (true").ok());
  EXPECT_THAT(std::string(Where("a = 1\f").message()), HasSubstr("control character"));
  EXPECT_TRUE(Where("a = 1\n\tAND b = 2").ok());
}

TEST(BackfillExpressionTest, RefusesEscapingTheRange) {
  EXPECT_THAT(std::string(Where("x) OR (true").message()), HasSubstr("closes a parenthesis"));
  EXPECT_THAT(std::string(Where("(x").message()), HasSubstr("unclosed parenthesis"));
  EXPECT_THAT(std::string(Set("a = 1 WHERE true").message()), HasSubstr("WHERE is not allowed"));
  EXPECT_THAT(std::string(Set("a = b.c FROM b").message()), HasSubstr("FROM is not allowed"));
  EXPECT_THAT(std::string(Set("a = 1 returning *").message()), HasSubstr("RETURNING is not allowed"));
  EXPECT_THAT(std::string(Set("a = 1)").message()), HasSubstr("closes a parenthesis"));
}

TEST(BackfillExpressionTest, RefusesUnterminatedAndSeveralStatements) {
  EXPECT_THAT(std::string(Where("x = 'open").message()), HasSubstr("unterminated string"));
  EXPECT_THAT(std::string(Where("\"open = 1").message()), HasSubstr("unterminated quoted identifier"));
  EXPECT_THAT(std::string(Where("x = 1 /* open").message()), HasSubstr("unterminated /* comment"));
  EXPECT_THAT(std::string(Where("x = 1 /* /* */").message()), HasSubstr("unterminated /* comment"));
  EXPECT_THAT(std::string(Where("x = $q$ open").message()), HasSubstr("unterminated dollar-quoted"));
  EXPECT_THAT(std::string(Where("true; DROP TABLE t").message()), HasSubstr("no ';'"));
  EXPECT_THAT(std::string(Where("id = $1").message()), HasSubstr("$n parameters"));
  EXPECT_THAT(std::string(Where("   ").message()), HasSubstr("must not be empty"));
  EXPECT_THAT(std::string(Where("-- only a comment").message()), HasSubstr("must not be empty"));
  EXPECT_EQ(Where("x = 'open").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(Set("").message()), HasSubstr("--set must not be empty"));
}

}  // namespace
}  // namespace shadowcopy::engine::backfill_sql

namespace shadowcopy::engine {
namespace {

TEST(BackfillPlanTest, ShowsSpanValidationEstimateAndStatement) {
  BackfillPlan p;
  p.table = "\"public\".\"users\"";
  p.spec = {false, "name = upper(name)", "name IS NULL"};
  p.key_names = {"id"};
  p.key_index = "users_pkey";
  p.span_first = {"1"};
  p.span_last = {"5000"};
  p.estimated_keys = 5000;
  p.estimated_matches = 1200;
  p.validation_keys = 1000;
  p.validation_rows = 240;
  p.validation_ms = 100;
  p.sizing.fixed = false;
  p.sizing.target = std::chrono::milliseconds(200);
  p.sizing.min_size = 10;
  p.sizing.max_size = 50000;
  p.lock_timeout = std::chrono::milliseconds(500);
  p.statement = "UPDATE ONLY t SET x\nWHERE y";
  std::string out = FormatBackfillPlan(p);
  EXPECT_THAT(out, ::testing::HasSubstr("backfill plan for \"public\".\"users\" (dry run: nothing was changed)\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("  operation:   UPDATE SET name = upper(name)\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("  key:         (\"id\") (index \"users_pkey\")\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("  key span:    (1) .. (5000), fixed when the run starts"));
  EXPECT_THAT(out, ::testing::HasSubstr("~1200 matching the WHERE (planner estimate)"));
  EXPECT_THAT(out, ::testing::HasSubstr("1000 keys, 240 rows would change (100.0 ms)"));
  EXPECT_THAT(out, ::testing::HasSubstr("  estimate:    ~0.5 s unthrottled at the first batch's rate (10000 keys/s)"));
  EXPECT_THAT(out, ::testing::HasSubstr("adaptive toward 200 ms each (10 to 50000 keys), lock_timeout 500 ms"));
  EXPECT_THAT(out, ::testing::HasSubstr("  statement:   UPDATE ONLY t SET x WHERE y\n"));
}

TEST(BackfillPlanTest, EmptyTableAndDelete) {
  BackfillPlan p;
  p.table = "\"public\".\"events\"";
  p.spec = {true, "", "true"};
  p.key_names = {"a", "b"};
  p.key_index = "events_pkey";
  p.sizing.fixed = true;
  p.sizing.fixed_size = 300;
  std::string out = FormatBackfillPlan(p);
  EXPECT_THAT(out, ::testing::HasSubstr("  operation:   DELETE\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("(\"a\", \"b\")"));
  EXPECT_THAT(out, ::testing::HasSubstr("none: the table is empty, nothing to do"));
  EXPECT_THAT(out, ::testing::HasSubstr("  batches:     300 keys each"));
}

}  // namespace
}  // namespace shadowcopy::engine
