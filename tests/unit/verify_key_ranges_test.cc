// Which key type changes still let the verification cut both tables by the
// same key ranges (vsql::KeyRangesComparable), and the bound of a narrowed
// integer key (the revert's way back of a widening).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "engine/table/table_model.h"
#include "engine/verify/verify_sql.h"
#include "tests/unit/model_builders.h"

namespace shadowcopy::engine::vsql {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TableModel KeyTypeChanged(const std::string& from, const std::string& to) {
  MappedColumn id = test_models::Col("id", from, 0);
  id.target_type = to;
  id.type_changed = true;
  return test_models::Model({id, test_models::Col("v", "text")});
}

TEST(KeyRangesComparableTest, IntegerKeysWidenedOrNarrowed) {
  EXPECT_TRUE(KeyRangesComparable(test_models::Model({test_models::Col("id", "integer", 0)})));
  EXPECT_TRUE(KeyRangesComparable(KeyTypeChanged("integer", "bigint")));
  EXPECT_TRUE(KeyRangesComparable(KeyTypeChanged("bigint", "integer")));
  EXPECT_TRUE(KeyRangesComparable(KeyTypeChanged("bigint", "smallint")));
  EXPECT_FALSE(KeyRangesComparable(KeyTypeChanged("integer", "text")));
  EXPECT_FALSE(KeyRangesComparable(KeyTypeChanged("numeric", "integer")));
  TableModel using_expr = KeyTypeChanged("bigint", "integer");
  using_expr.columns[0].using_expr = "id / 2";
  EXPECT_FALSE(KeyRangesComparable(using_expr));
}

// The narrowed side compares with the wider bound as it is: a bound beyond
// the narrower type is no cast error.
TEST(KeyRangesComparableTest, NarrowedKeyBoundIsNotCastDown) {
  std::string sql = RepairDeleteSql(KeyTypeChanged("bigint", "integer"), true, true, true);
  EXPECT_THAT(sql, HasSubstr("(s.\"id\") > (CAST($1 AS bigint))"));
  EXPECT_THAT(sql, Not(HasSubstr("AS integer")));
  std::string widened = RepairDeleteSql(KeyTypeChanged("integer", "bigint"), true, true, true);
  EXPECT_THAT(widened, HasSubstr("AS bigint)"));
}

}  // namespace
}  // namespace shadowcopy::engine::vsql
