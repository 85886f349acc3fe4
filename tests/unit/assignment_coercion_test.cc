// The statements that write into the shadow leave the conversion to a changed
// type to the INSERT's or UPDATE's assignment coercion (as ALTER TABLE ...
// TYPE converts: a value too long for varchar(n) is an error), never to an
// explicit CAST (which would cut it silently); the statements that compare or
// hash values still CAST them to the new type.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "engine/table/sql_builder.h"
#include "engine/table/table_model.h"
#include "engine/verify/verify_sql.h"
#include "tests/unit/model_builders.h"

namespace shadowcopy::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using test_models::Col;
using test_models::Model;

// code varchar(10) -> varchar(3) (the key), s text -> varchar(3),
// n integer -> bigint USING n * 2, v text unchanged.
TableModel Narrowed() {
  MappedColumn code = Col("code", "character varying(10)", 0);
  code.target_type = "character varying(3)";
  code.type_changed = true;
  MappedColumn s = Col("s", "text");
  s.target_type = "character varying(3)";
  s.type_changed = true;
  MappedColumn n = Col("n", "integer");
  n.target_type = "bigint";
  n.type_changed = true;
  n.using_expr = "n * 2";
  n.using_alias = "t";
  return Model({code, s, n, Col("v", "text")});
}

// No CAST to a new type anywhere in `sql`.
void ExpectNoCastToNewTypes(const std::string& sql) {
  EXPECT_THAT(sql, Not(HasSubstr("AS character varying(3))")));
  EXPECT_THAT(sql, Not(HasSubstr("AS bigint)")));
}

TEST(AssignmentCoercionTest, AssignedExprNeverCasts) {
  TableModel m = Narrowed();
  EXPECT_EQ(sql::AssignedExpr(m.columns[1], "o.\"s\""), "o.\"s\"");
  EXPECT_EQ(sql::AssignedExpr(m.columns[2], "o.\"n\""), "(SELECT (n * 2) FROM (SELECT o.\"n\") AS \"t\"(\"n\"))");
  EXPECT_EQ(sql::MappedExpr(m.columns[1], "o.\"s\""), "CAST(o.\"s\" AS character varying(3))");
  EXPECT_EQ(sql::MappedExpr(m.columns[2], "o.\"n\""),
            "CAST((SELECT (n * 2) FROM (SELECT o.\"n\") AS \"t\"(\"n\")) AS bigint)");
}

TEST(AssignmentCoercionTest, CopyBatchWritesOriginalValues) {
  for (bool on_conflict : {false, true}) {
    std::string sql = sql::CopyBatchSql(Narrowed(), true, true, on_conflict);
    ExpectNoCastToNewTypes(sql);
    EXPECT_THAT(sql, HasSubstr(R"(SELECT o."code", o."s", (SELECT (n * 2) FROM (SELECT o."n") AS "t"("n")), o."v" FROM)"));
  }
}

TEST(AssignmentCoercionTest, UpsertWritesValuesAsTheOriginalTypes) {
  for (bool horizon : {false, true}) {
    std::string sql = sql::UpsertSql(Narrowed(), horizon);
    ExpectNoCastToNewTypes(sql);
    EXPECT_THAT(sql, HasSubstr("SELECT CAST(o.c1 AS character varying(10)), CAST(o.c2 AS text), "
                               "(SELECT (n * 2) FROM (SELECT CAST(o.c3 AS integer)) AS \"t\"(\"n\")), "
                               "CAST(o.c4 AS text) FROM unnest("));
  }
}

TEST(AssignmentCoercionTest, RereadWritesOriginalValues) {
  for (bool horizon : {false, true}) ExpectNoCastToNewTypes(sql::RereadSql(Narrowed(), horizon));
}

TEST(AssignmentCoercionTest, PartialUpdateSetsByAssignmentAndFindsTheRowByCast) {
  std::string sql = sql::PartialUpdateSql(Narrowed(), {1, 2});
  EXPECT_EQ(sql,
            R"(UPDATE "public"."_t_shadow" SET "s" = CAST($1 AS text), )"
            R"("n" = (SELECT (n * 2) FROM (SELECT CAST($2 AS integer)) AS "t"("n")) )"
            R"(WHERE "code" = CAST(CAST($3 AS character varying(10)) AS character varying(3)))");
}

TEST(AssignmentCoercionTest, ComparisonsStillCast) {
  TableModel m = Narrowed();
  EXPECT_THAT(sql::DeleteSql(m), HasSubstr("CAST(CAST(d.c1 AS character varying(10)) AS character varying(3))"));
  EXPECT_THAT(sql::ShadowRangeProbeSql(m, true, true),
              HasSubstr("CAST(CAST($1 AS character varying(10)) AS character varying(3))"));
  for (auto form : {vsql::RowHashForm::kRowText, vsql::RowHashForm::kPerColumn}) {
    std::string hash = vsql::RangeHashSql(m, true, true, true, form);
    EXPECT_THAT(hash, HasSubstr("CAST(o.\"s\" AS character varying(3))"));
    EXPECT_THAT(hash, HasSubstr("CAST((SELECT (n * 2) FROM (SELECT o.\"n\") AS \"t\"(\"n\")) AS bigint)"));
  }
}

}  // namespace
}  // namespace shadowcopy::engine
