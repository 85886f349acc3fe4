// Tests of the verification's range planning and SQL text
// (engine/verify/verify_sql.h), on hand-made TableModels. That the hashes of both
// sides agree on real values of odd types is shown against a server by
// tests/integration/verify_test.cc.
#include "engine/verify/verify_sql.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "engine/table/table_model.h"
#include "tests/unit/model_builders.h"

namespace shadowcopy::engine::vsql {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using test_models::Col;
using test_models::Model;

// id integer -> bigint (key), amount numeric -> numeric(12,2), a dropped
// column, a renamed one.
TableModel Altered() {
  MappedColumn id = Col("id", "integer", 0);
  id.target_type = "bigint";
  id.type_changed = true;
  MappedColumn amount = Col("amount", "numeric");
  amount.target_type = "numeric(12,2)";
  amount.type_changed = true;
  MappedColumn dropped = Col("legacy", "text");
  dropped.kept = false;
  MappedColumn renamed = Col("old name", "text");
  renamed.target_name = "New\"Name";
  return Model({id, amount, dropped, renamed});
}

// ("Region" text, "order no" bigint) key, one value column.
TableModel Composite() {
  return Model({Col("order no", "bigint", 1), Col("Region", "text", 0), Col("v", "jsonb")});
}

using Key = std::vector<std::string>;

TEST(PlanRangesTest, NoBoundariesIsOneOpenRange) {
  auto r = PlanRanges({});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].lower.has_value());
  EXPECT_FALSE(r[0].upper.has_value());
}

TEST(PlanRangesTest, BoundariesTileTheKeySpace) {
  auto r = PlanRanges({Key{"10"}, Key{"20"}, Key{"30"}});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_FALSE(r[0].lower.has_value());
  EXPECT_EQ(*r[0].upper, Key{"10"});
  EXPECT_EQ(*r[1].lower, Key{"10"});
  EXPECT_EQ(*r[1].upper, Key{"20"});
  EXPECT_EQ(*r[2].lower, Key{"20"});
  EXPECT_EQ(*r[2].upper, Key{"30"});
  EXPECT_EQ(*r[3].lower, Key{"30"});
  EXPECT_FALSE(r[3].upper.has_value());
}

TEST(PlanRangesTest, CompositeKeysKeepEveryColumn) {
  auto r = PlanRanges({Key{"eu", "7"}});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(*r[0].upper, (Key{"eu", "7"}));
  EXPECT_EQ(*r[1].lower, (Key{"eu", "7"}));
  EXPECT_EQ(RangeParams(r[0]), (PgParams{"eu", "7"}));
  EXPECT_EQ(RangeParams(r[1]), (PgParams{"eu", "7"}));
}

TEST(PlanRangesTest, ParamsAreLowerThenUpper) {
  KeyRange r{Key{"1"}, Key{"9"}};
  EXPECT_EQ(RangeParams(r), (PgParams{"1", "9"}));
  EXPECT_TRUE(RangeParams(KeyRange{}).empty());
}

TEST(DescribeRangeTest, SingleAndCompositeKeys) {
  EXPECT_EQ(DescribeRange(Altered(), KeyRange{Key{"1"}, Key{"9"}}), "\"id\" in (1, 9]");
  EXPECT_EQ(DescribeRange(Altered(), KeyRange{}), "\"id\" in (-inf, +inf)");
  EXPECT_EQ(DescribeRange(Composite(), KeyRange{Key{"eu", "7"}, std::nullopt}),
            "(\"Region\", \"order no\") in ((eu, 7), +inf)");
}

TEST(RowHashFormTest, PerColumnFromPostgreSQL14) {
  EXPECT_EQ(RowHashFormFor(130012), RowHashForm::kRowText);
  EXPECT_EQ(RowHashFormFor(139999), RowHashForm::kRowText);
  EXPECT_EQ(RowHashFormFor(140000), RowHashForm::kPerColumn);
  EXPECT_EQ(RowHashFormFor(150004), RowHashForm::kPerColumn);
}

TEST(HashedValueTest, TypesWhoseEqualityIsIdentityHashThemselves) {
  for (const char* type :
       {"smallint", "integer", "oid", "boolean", "\"char\"", "date", "uuid", "bytea"})
    EXPECT_EQ(HashedValue(type, "s.\"c\""), "s.\"c\"") << type;
}

TEST(HashedValueTest, SixtyFourBitTypesHashTheirBinaryForm) {
  EXPECT_EQ(HashedValue("bigint", "s.\"c\""), "int8send(s.\"c\")");
  EXPECT_EQ(HashedValue("timestamp without time zone", "v"), "timestamp_send(v)");
  EXPECT_EQ(HashedValue("timestamp(3) without time zone", "v"), "timestamp_send(v)");
  EXPECT_EQ(HashedValue("timestamp with time zone", "v"), "timestamptz_send(v)");
  EXPECT_EQ(HashedValue("timestamp(0) with time zone", "v"), "timestamptz_send(v)");
  EXPECT_EQ(HashedValue("time without time zone", "v"), "time_send(v)");
  EXPECT_EQ(HashedValue("time(6) without time zone", "v"), "time_send(v)");
}

TEST(HashedValueTest, TextAndVarcharUnderTheCCollation) {
  EXPECT_EQ(HashedValue("text", "s.\"c\""), "(s.\"c\") COLLATE \"C\"");
  EXPECT_EQ(HashedValue("character varying", "v"), "(v) COLLATE \"C\"");
  EXPECT_EQ(HashedValue("character varying(20)", "CAST(o.\"c\" AS character varying(20))"),
            "(CAST(o.\"c\" AS character varying(20))) COLLATE \"C\"");
}

TEST(HashedValueTest, CharacterByItsOutputWithTrailingSpaces) {
  EXPECT_EQ(HashedValue("character(5)", "v"), "textin(bpcharout(v)) COLLATE \"C\"");
  EXPECT_EQ(HashedValue("bpchar", "v"), "textin(bpcharout(v)) COLLATE \"C\"");
}

TEST(HashedValueTest, EveryOtherTypeByItsText) {
  for (const char* type : {"numeric",
                           "numeric(12,2)",
                           "real",
                           "double precision",
                           "interval",
                           "interval day to second(3)",
                           "json",
                           "jsonb",
                           "integer[]",
                           "character varying(20)[]",
                           "timestamp with time zone[]",
                           "bytea[]",
                           "time with time zone",
                           "name",
                           "money",
                           "inet",
                           "mood",
                           "public.mood",
                           "\"Mood\"",
                           "\"integer\"",
                           "\"char(1)\"",
                           "\"bigint\"",
                           "myschema.text",
                           "positive_int"})
    EXPECT_EQ(HashedValue(type, "s.\"c\""), "(s.\"c\")::text COLLATE \"C\"") << type;
}

TEST(RangeHashSqlTest, PerColumnOriginalThroughTheMappingShadowAsItIs) {
  std::string sql = RangeHashSql(Altered(), true, true, true, RowHashForm::kPerColumn);
  // Original side: the copy's casts, then each value as its new type hashes;
  // the dropped column left out.
  EXPECT_THAT(sql, HasSubstr("hash_record_extended(ROW(int8send(CAST(o.\"id\" AS bigint)), "
                             "(CAST(o.\"amount\" AS numeric(12,2)))::text COLLATE \"C\", "
                             "(o.\"old name\") COLLATE \"C\"), 0) AS h"));
  EXPECT_THAT(sql, Not(HasSubstr("legacy")));
  // Shadow side: its own columns, renamed one by its new name, hashed alike.
  EXPECT_THAT(
      sql,
      HasSubstr("hash_record_extended(ROW(int8send(s.\"id\"), (s.\"amount\")::text COLLATE \"C\", "
                "(s.\"New\"\"Name\") COLLATE \"C\"), 0) AS h"));
  EXPECT_THAT(sql, Not(HasSubstr("hashtextextended")));
  EXPECT_THAT(sql, HasSubstr("FROM ONLY \"public\".\"t\" AS o"));
  EXPECT_THAT(sql, HasSubstr("FROM ONLY \"public\".\"_t_shadow\" AS s"));
}

TEST(RangeHashSqlTest, RowTextOriginalThroughTheMappingShadowAsItIs) {
  std::string sql = RangeHashSql(Altered(), true, true, true, RowHashForm::kRowText);
  EXPECT_THAT(
      sql,
      HasSubstr(
          "hashtextextended((ROW(CAST(o.\"id\" AS bigint), CAST(o.\"amount\" AS numeric(12,2)), "
          "o.\"old name\")::text) COLLATE \"C\", 0) AS h"));
  EXPECT_THAT(sql, Not(HasSubstr("legacy")));
  EXPECT_THAT(sql,
              HasSubstr("hashtextextended((ROW(s.\"id\", s.\"amount\", s.\"New\"\"Name\")::text) "
                        "COLLATE \"C\", 0) AS h"));
  EXPECT_THAT(sql, Not(HasSubstr("hash_record_extended")));
}

TEST(RangeHashSqlTest, CountAndXorOfA64BitHashPerSide) {
  for (RowHashForm form : {RowHashForm::kRowText, RowHashForm::kPerColumn}) {
    std::string sql = RangeHashSql(Altered(), false, false, true, form);
    EXPECT_THAT(sql, HasSubstr("count(*)"));
    EXPECT_THAT(sql, HasSubstr("coalesce(bit_xor(h), 0)"));
    EXPECT_THAT(sql, Not(HasSubstr("sum(")));
    EXPECT_THAT(sql, StartsWith("SELECT o.n, o.x, s.n, s.x FROM "));
    EXPECT_THAT(sql, Not(HasSubstr("WHERE")));
  }
}

TEST(RangeHashSqlTest, PerColumnCompositeKeyAndJsonb) {
  std::string sql = RangeHashSql(Composite(), false, false, true, RowHashForm::kPerColumn);
  EXPECT_THAT(
      sql,
      HasSubstr("hash_record_extended(ROW(int8send(o.\"order no\"), (o.\"Region\") COLLATE \"C\", "
                "(o.\"v\")::text COLLATE \"C\"), 0)"));
  EXPECT_THAT(
      sql,
      HasSubstr("hash_record_extended(ROW(int8send(s.\"order no\"), (s.\"Region\") COLLATE \"C\", "
                "(s.\"v\")::text COLLATE \"C\"), 0)"));
}

TEST(RangeHashSqlTest, RangeOnBothSidesWithMappedBoundsOnTheShadow) {
  std::string sql = RangeHashSql(Altered(), true, true, true, RowHashForm::kPerColumn);
  EXPECT_THAT(sql, HasSubstr("WHERE (o.\"id\") > (CAST($1 AS integer)) AND (o.\"id\") <= (CAST($2 AS integer))"));
  EXPECT_THAT(sql, HasSubstr("WHERE (s.\"id\") > (CAST(CAST($1 AS integer) AS bigint)) AND (s.\"id\") <= "
                             "(CAST(CAST($2 AS integer) AS bigint))"));
}

TEST(RangeHashSqlTest, UpperOnlyAndLowerOnly) {
  EXPECT_THAT(RangeHashSql(Altered(), false, true, true, RowHashForm::kPerColumn),
              HasSubstr("WHERE (o.\"id\") <= (CAST($1 AS integer))"));
  std::string lower = RangeHashSql(Altered(), true, false, true, RowHashForm::kPerColumn);
  EXPECT_THAT(lower, HasSubstr("WHERE (o.\"id\") > (CAST($1 AS integer))"));
  EXPECT_THAT(lower, Not(HasSubstr("<=")));
}

TEST(RangeHashSqlTest, CompositeKeyComparesRows) {
  std::string sql = RangeHashSql(Composite(), true, true, true, RowHashForm::kPerColumn);
  EXPECT_THAT(sql, HasSubstr("(o.\"Region\", o.\"order no\") > (CAST($1 AS text), CAST($2 AS bigint))"));
  EXPECT_THAT(sql, HasSubstr("(o.\"Region\", o.\"order no\") <= (CAST($3 AS text), CAST($4 AS bigint))"));
  EXPECT_THAT(sql, HasSubstr("(s.\"Region\", s.\"order no\") > (CAST($1 AS text), CAST($2 AS bigint))"));
}

TEST(RangeHashSqlTest, ShadowUnfilteredWhenItsKeyOrderDiffers) {
  std::string sql = RangeHashSql(Altered(), false, false, false, RowHashForm::kPerColumn);
  EXPECT_THAT(sql, Not(HasSubstr("WHERE")));
}

TEST(RangeDiffSqlTest, FullJoinOnTheNewKeyTextLimited) {
  for (RowHashForm form : {RowHashForm::kRowText, RowHashForm::kPerColumn}) {
    std::string sql = RangeDiffSql(Altered(), true, true, true, form, 5);
    EXPECT_THAT(sql, HasSubstr("ROW(CAST(o.\"id\" AS bigint))::text AS k"));
    EXPECT_THAT(sql, HasSubstr("ROW(s.\"id\")::text AS k"));
    EXPECT_THAT(sql, HasSubstr("FULL JOIN"));
    EXPECT_THAT(sql, HasSubstr("WHERE a.h IS DISTINCT FROM b.h"));
    EXPECT_THAT(sql, HasSubstr("'only in original'"));
    EXPECT_THAT(sql, HasSubstr("'only in new table'"));
    EXPECT_THAT(sql, HasSubstr("LIMIT 5"));
  }
}

TEST(RangeDiffSqlTest, RowsHashedAsTheRangeWas) {
  EXPECT_THAT(RangeDiffSql(Altered(), true, true, true, RowHashForm::kPerColumn, 5),
              HasSubstr("hash_record_extended(ROW(int8send(s.\"id\"), "));
  EXPECT_THAT(RangeDiffSql(Altered(), true, true, true, RowHashForm::kRowText, 5),
              HasSubstr("hashtextextended((ROW(s.\"id\", "));
}

TEST(RepairSqlTest, DeletesTheShadowsRange) {
  EXPECT_EQ(RepairDeleteSql(Altered(), true, true, true),
            "DELETE FROM ONLY \"public\".\"_t_shadow\" AS s WHERE (s.\"id\") > (CAST(CAST($1 AS integer) AS bigint)) "
            "AND (s.\"id\") <= (CAST(CAST($2 AS integer) AS bigint))");
  EXPECT_EQ(RepairDeleteSql(Altered(), false, false, false), "DELETE FROM ONLY \"public\".\"_t_shadow\" AS s");
}

TEST(CorruptRowSqlTest, CopiesAnotherRowsValuesOrDeletes) {
  std::string sql = CorruptRowSql(Altered(), false, true, true);
  EXPECT_THAT(sql, StartsWith("UPDATE \"public\".\"_t_shadow\" AS t SET \"amount\" = d.\"amount\", "
                              "\"New\"\"Name\" = d.\"New\"\"Name\""));
  EXPECT_THAT(sql, HasSubstr("OFFSET 1 LIMIT 1"));
  EXPECT_THAT(sql, Not(HasSubstr("SET \"id\"")));
  TableModel key_only = Model({Col("id", "integer", 0)});
  EXPECT_THAT(CorruptRowSql(key_only, false, false, true), StartsWith("DELETE FROM \"public\".\"_t_shadow\""));
}

TEST(CatalogSqlTest, KeyCollationsPairEachKeyColumn) {
  std::string sql = KeyCollationsSql(Composite(), 16500);
  EXPECT_THAT(sql, HasSubstr("('Region', 'Region'), ('order no', 'order no')"));
  EXPECT_THAT(sql, HasSubstr("o.attrelid = 16384"));
  EXPECT_THAT(sql, HasSubstr("s.attrelid = 16500"));
  EXPECT_THAT(UnmappedColumnsSql(), HasSubstr("NOT attisdropped"));
}

}  // namespace
}  // namespace shadowcopy::engine::vsql
