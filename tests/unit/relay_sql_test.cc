// Tests of the copy relay's SQL (engine/table/relay_sql.h).
#include "engine/table/relay_sql.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/model_builders.h"

namespace shadowcopy::engine::sql {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using test_models::Col;
using test_models::Model;

MappedColumn Retyped(std::string name, std::string from, std::string to, int key_position = -1) {
  MappedColumn c = Col(std::move(name), std::move(from), key_position);
  c.target_type = std::move(to);
  c.type_changed = true;
  return c;
}

TEST(RelaySql, AllowedForUnchangedAndSafelyCastTypes) {
  EXPECT_TRUE(RelayAllowed(Model({Col("id", "bigint", 0), Col("v", "text"), Col("a", "numeric(12,2)")})));
  EXPECT_TRUE(RelayAllowed(Model({Col("id", "integer", 0), Retyped("c", "bigint", "numeric")})));
  EXPECT_TRUE(RelayAllowed(Model({Retyped("id", "integer", "bigint", 0), Col("v", "text")})));
  // A length coercion truncates under an explicit CAST where the
  // assignment errors: not relayed.
  EXPECT_FALSE(RelayAllowed(Model({Col("id", "integer", 0), Retyped("v", "text", "character varying(3)")})));
  EXPECT_FALSE(RelayAllowed(Model({Col("id", "integer", 0), Retyped("v", "text", "character(3)")})));
  EXPECT_FALSE(RelayAllowed(Model({Col("id", "integer", 0), Retyped("v", "text", "bit(3)")})));
  MappedColumn using_expr = Retyped("v", "text", "integer");
  using_expr.using_expr = "length(v)";
  EXPECT_FALSE(RelayAllowed(Model({Col("id", "integer", 0), using_expr})));
}

TEST(RelaySql, DroppedColumnsAreLeftOut) {
  MappedColumn dropped = Col("legacy", "text");
  dropped.kept = false;
  TableModel m = Model({Col("id", "integer", 0), dropped, Col("v", "text")});
  EXPECT_TRUE(RelayAllowed(m));
  EXPECT_EQ(RelayCopyInSql(m), "COPY \"public\".\"_t_shadow\" (\"id\", \"v\") FROM STDIN (FORMAT binary)");
  EXPECT_THAT(RelayCopyOutSql(m, std::nullopt, std::nullopt), Not(HasSubstr("legacy")));
}

TEST(RelaySql, CopyOutInlinesTheBoundsAsQuotedLiterals) {
  TableModel m = Model({Col("a", "text", 0), Col("b", "integer", 1), Retyped("c", "integer", "bigint")});
  std::vector<std::string> lo = {"it's", "5"}, hi = {"z", "7"};
  EXPECT_EQ(RelayCopyOutSql(m, lo, hi),
            "COPY (SELECT o.\"a\", o.\"b\", CAST(o.\"c\" AS bigint) FROM ONLY \"public\".\"t\" AS o "
            "WHERE (o.\"a\", o.\"b\") > (CAST('it''s' AS text), CAST('5' AS integer)) AND "
            "(o.\"a\", o.\"b\") <= (CAST('z' AS text), CAST('7' AS integer)) ORDER BY o.\"a\", o.\"b\") "
            "TO STDOUT (FORMAT binary)");
  EXPECT_EQ(RelayCopyOutSql(m, std::nullopt, hi),
            "COPY (SELECT o.\"a\", o.\"b\", CAST(o.\"c\" AS bigint) FROM ONLY \"public\".\"t\" AS o "
            "WHERE (o.\"a\", o.\"b\") <= (CAST('z' AS text), CAST('7' AS integer)) ORDER BY o.\"a\", o.\"b\") "
            "TO STDOUT (FORMAT binary)");
  EXPECT_THAT(RelayCopyOutSql(m, lo, std::nullopt), Not(HasSubstr("<=")));
}

}  // namespace
}  // namespace shadowcopy::engine::sql
