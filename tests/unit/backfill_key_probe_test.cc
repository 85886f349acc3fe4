// Tests of the statements that ask the server whether a backfill's SET list
// assigns a key column (engine/backfill/backfill_sql.h, KeyAssignmentProbeSql).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/backfill/backfill_sql.h"
#include "engine/table/table_model.h"
#include "tests/unit/model_builders.h"

namespace shadowcopy::engine::backfill_sql {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using test_models::Col;

// Key ("Region", "order no") declared in that order, stored the other way.
TableModel Composite() {
  return test_models::Model({Col("order no", "integer", 1), Col("note", "text"), Col("Region", "text", 0)},
                            "Sales", "Orders");
}

TEST(KeyAssignmentProbeSqlTest, CopiesTheColumnsOfTheQuotedTable) {
  auto sql = KeyAssignmentProbeSql(Composite(), "note = 'x'");
  ASSERT_EQ(sql.size(), 5u);
  EXPECT_EQ(sql[0],
            "CREATE TEMPORARY TABLE shadowcopy_key_probe (LIKE \"Sales\".\"Orders\" INCLUDING GENERATED) "
            "ON COMMIT DROP");
}

TEST(KeyAssignmentProbeSqlTest, TriggerWatchesEveryKeyColumnQuoted) {
  auto sql = KeyAssignmentProbeSql(Composite(), "note = 'x'");
  EXPECT_THAT(sql[2], HasSubstr("BEFORE UPDATE OF \"Region\", \"order no\" ON pg_temp.shadowcopy_key_probe "
                                "FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.shadowcopy_key_assigned()"));
  EXPECT_THAT(sql[1], StartsWith("CREATE FUNCTION pg_temp.shadowcopy_key_assigned() RETURNS trigger"));
}

TEST(KeyAssignmentProbeSqlTest, UpdateChangesNoRowAndResolvesTheTablesName) {
  auto sql = KeyAssignmentProbeSql(Composite(), "(note, \"Region\") = ('x', 'eu') -- c");
  // Aliased as the table so "Orders".note resolves; the comment cannot
  // swallow the WHERE.
  EXPECT_EQ(sql[3],
            "UPDATE ONLY pg_temp.shadowcopy_key_probe AS \"Orders\" SET (note, \"Region\") = ('x', 'eu') -- c\n"
            "WHERE false");
  EXPECT_THAT(sql[4], HasSubstr("current_setting('shadowcopy.key_assigned', true)"));
}

}  // namespace
}  // namespace shadowcopy::engine::backfill_sql
