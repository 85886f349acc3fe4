// Tests of the SQL text built for the copy and the replay
// (engine/table/sql_builder.h), on hand-made TableModels.
#include "engine/table/sql_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "engine/table/table_model.h"
#include "tests/unit/model_builders.h"

namespace shadowcopy::engine::sql {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using test_models::Col;
using test_models::Model;

// id integer primary key, v text.
TableModel Simple() { return Model({Col("id", "integer", 0), Col("v", "text")}); }

// Primary key ("Region", "order no") — declared in that order but stored the
// other way round — plus a retyped, a dropped and a renamed column.
TableModel Rich() {
  MappedColumn retyped = Col("amount", "integer");
  retyped.target_type = "bigint";
  retyped.type_changed = true;
  MappedColumn dropped = Col("legacy", "text");
  dropped.kept = false;
  dropped.target_name.clear();
  dropped.target_type.clear();
  MappedColumn renamed = Col("old_name", "text");
  renamed.target_name = "new_name";
  TableModel m = Model({Col("order no", "bigint", 1), Col("Region", "text", 0), retyped, dropped,
                        renamed});
  m.names.schema = "My Schema";
  m.names.table = "Or\"ders";
  m.names.shadow = "_Or\"ders_shadow";
  return m;
}

// ---- MappedExpr ----

TEST(MappedExprTest, UnchangedTypePassesThrough) {
  EXPECT_EQ(MappedExpr(Col("a", "integer"), "o.\"a\""), "o.\"a\"");
}

TEST(MappedExprTest, UsingIsEvaluatedOverTheValueAlone) {
  MappedColumn c = Col("my col", "integer");
  c.target_type = "bigint";
  c.type_changed = true;
  c.using_expr = "\"my col\" * 2";
  c.using_alias = "order\"s";
  EXPECT_EQ(MappedExpr(c, "CAST($1 AS integer)"),
            "CAST((SELECT (\"my col\" * 2) FROM (SELECT CAST($1 AS integer)) AS \"order\"\"s\"(\"my col\")) AS bigint)");
  // The same type with USING still applies it.
  c.type_changed = false;
  c.target_type = "integer";
  EXPECT_EQ(MappedExpr(c, "o.\"my col\""),
            "CAST((SELECT (\"my col\" * 2) FROM (SELECT o.\"my col\") AS \"order\"\"s\"(\"my col\")) AS integer)");
}

TEST(MappedExprTest, ChangedTypeIsCast) {
  MappedColumn c = Col("a", "integer");
  c.target_type = "numeric(12,2)";
  c.type_changed = true;
  EXPECT_EQ(MappedExpr(c, "o.\"a\""), "CAST(o.\"a\" AS numeric(12,2))");
}

// ---- AffixedName ----

bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t j = 1; j < len; ++j)
      if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

TEST(AffixedNameTest, ShortNameUnchanged) {
  EXPECT_EQ(AffixedName("_", "orders", "_shadow"), "_orders_shadow");
  EXPECT_EQ(AffixedName("_", "zamówienia", "_old"), "_zamówienia_old");
}

TEST(AffixedNameTest, NameOfExactlyMaxLengthUnchanged) {
  std::string middle(63 - 8, 'a');  // "_" + middle + "_shadow" == 63 bytes
  EXPECT_EQ(AffixedName("_", middle, "_shadow"), "_" + middle + "_shadow");
}

TEST(AffixedNameTest, LongAsciiNameTruncatedTo63Bytes) {
  std::string out = AffixedName("_", std::string(100, 'x'), "_shadow");
  EXPECT_EQ(out.size(), 63u);
  EXPECT_EQ(out, "_" + std::string(55, 'x') + "_shadow");
}

// For each character width, put the character at every position across the
// cut: the result must fit, keep the suffix, be valid UTF-8 and drop only the
// split character.
TEST(AffixedNameTest, NeverSplitsAMultiByteCharacterAtTheCut) {
  const size_t room = 63 - 8;  // bytes left for the middle
  for (std::string ch : {std::string("é"), std::string("€"), std::string("😀")}) {
    for (size_t pad = room - ch.size() - 1; pad <= room + 1; ++pad) {
      std::string middle = std::string(pad, 'a') + ch + std::string(10, 'b');
      std::string out = AffixedName("_", middle, "_shadow");
      SCOPED_TRACE("char bytes " + std::to_string(ch.size()) + ", pad " + std::to_string(pad));
      EXPECT_LE(out.size(), 63u);
      EXPECT_TRUE(IsValidUtf8(out)) << out;
      EXPECT_EQ(out.substr(out.size() - 7), "_shadow");
      std::string kept = out.substr(1, out.size() - 8);
      EXPECT_EQ(middle.compare(0, kept.size(), kept), 0);
      if (pad + ch.size() <= room) {
        // The character fits whole: it is kept, then 'b's fill the rest.
        EXPECT_EQ(kept.size(), room);
      } else if (pad < room) {
        // The cut falls inside the character: it is dropped entirely.
        EXPECT_EQ(kept, std::string(pad, 'a'));
      } else {
        EXPECT_EQ(kept, std::string(room, 'a'));
      }
    }
  }
}

TEST(AffixedNameTest, AllMultiByteNameStaysValid) {
  std::string middle;
  for (int i = 0; i < 40; ++i) middle += "€";  // 120 bytes
  std::string out = AffixedName("_", middle, "_old");
  EXPECT_LE(out.size(), 63u);
  EXPECT_TRUE(IsValidUtf8(out));
  EXPECT_EQ(out, "_" + middle.substr(0, 57) + "_old");  // 19 whole characters
}

// ---- TextArrayLiteral ----

TEST(TextArrayLiteralTest, EmptyList) { EXPECT_EQ(TextArrayLiteral({}), "{}"); }

TEST(TextArrayLiteralTest, NullIsUnquoted) {
  std::optional<std::string> null, text = "NULL";
  EXPECT_EQ(TextArrayLiteral({&null, &text, nullptr}), R"({NULL,"NULL",NULL})");
}

TEST(TextArrayLiteralTest, EmptyStringIsQuoted) {
  std::optional<std::string> empty = "";
  EXPECT_EQ(TextArrayLiteral({&empty}), R"({""})");
}

TEST(TextArrayLiteralTest, QuotesAndBackslashesEscaped) {
  std::optional<std::string> a = R"(say "hi")", b = R"(C:\dir\)", c = "a,b{c}";
  EXPECT_EQ(TextArrayLiteral({&a, &b, &c}), R"({"say \"hi\"","C:\\dir\\","a,b{c}"})");
}

TEST(TextArrayLiteralTest, UnicodeAndWhitespacePassThrough) {
  std::optional<std::string> a = "zażółć 😀", b = " lead\ttab\n";
  EXPECT_EQ(TextArrayLiteral({&a, &b}), "{\"zażółć 😀\",\" lead\ttab\n\"}");
}

// ---- CopyBoundarySql ----

TEST(CopyBoundarySqlTest, FirstBatchHasOnlyTheOffsetParameter) {
  EXPECT_EQ(CopyBoundarySql(Simple(), false),
            R"(SELECT o."id"::text FROM ONLY "public"."t" AS o ORDER BY o."id" OFFSET $1 LIMIT 1)");
}

TEST(CopyBoundarySqlTest, LowerBoundThenOffset) {
  EXPECT_EQ(CopyBoundarySql(Simple(), true),
            R"(SELECT o."id"::text FROM ONLY "public"."t" AS o WHERE (o."id") > (CAST($1 AS integer)) )"
            R"(ORDER BY o."id" OFFSET $2 LIMIT 1)");
}

TEST(CopyBoundarySqlTest, CompositeKeyInKeyOrderWithQuotedNames) {
  std::string sql = CopyBoundarySql(Rich(), true);
  EXPECT_EQ(sql,
            R"(SELECT o."Region"::text, o."order no"::text FROM ONLY "My Schema"."Or""ders" AS o )"
            R"(WHERE (o."Region", o."order no") > (CAST($1 AS text), CAST($2 AS bigint)) )"
            R"(ORDER BY o."Region", o."order no" OFFSET $3 LIMIT 1)");
}

// ---- CopyBatchSql ----

TEST(CopyBatchSqlTest, NoBoundsCopiesEverything) {
  EXPECT_EQ(CopyBatchSql(Simple(), false, false),
            R"(INSERT INTO "public"."_t_shadow" ("id", "v") OVERRIDING SYSTEM VALUE )"
            R"(SELECT o."id", o."v" FROM ONLY "public"."t" AS o ORDER BY o."id" ON CONFLICT ("id") DO NOTHING)");
}

TEST(CopyBatchSqlTest, LowerBoundOnly) {
  EXPECT_THAT(CopyBatchSql(Simple(), true, false),
              HasSubstr(R"(FROM ONLY "public"."t" AS o WHERE (o."id") > (CAST($1 AS integer)) ORDER BY o."id" ON CONFLICT)"));
}

TEST(CopyBatchSqlTest, UpperBoundOnlyStartsAtParameterOne) {
  EXPECT_THAT(CopyBatchSql(Simple(), false, true),
              HasSubstr(R"(AS o WHERE (o."id") <= (CAST($1 AS integer)) ORDER BY o."id" ON CONFLICT)"));
}

TEST(CopyBatchSqlTest, BothBoundsNumberLowerThenUpper) {
  EXPECT_THAT(CopyBatchSql(Simple(), true, true),
              HasSubstr(R"(WHERE (o."id") > (CAST($1 AS integer)) AND (o."id") <= (CAST($2 AS integer)))"));
}

TEST(CopyBatchSqlTest, CompositeKeyParametersAreConsecutive) {
  EXPECT_THAT(CopyBatchSql(Rich(), true, true),
              HasSubstr(R"(WHERE (o."Region", o."order no") > (CAST($1 AS text), CAST($2 AS bigint)) )"
                        R"(AND (o."Region", o."order no") <= (CAST($3 AS text), CAST($4 AS bigint)) )"));
}

TEST(CopyBatchSqlTest, MapsColumnsAndTargetsTheShadowKey) {
  EXPECT_EQ(CopyBatchSql(Rich(), false, false),
            R"(INSERT INTO "My Schema"."_Or""ders_shadow" ("order no", "Region", "amount", "new_name") )"
            R"(OVERRIDING SYSTEM VALUE SELECT o."order no", o."Region", o."amount", o."old_name" )"
            R"(FROM ONLY "My Schema"."Or""ders" AS o ORDER BY o."Region", o."order no" ON CONFLICT ("Region", "order no") DO NOTHING)");
}

TEST(CopyBatchSqlTest, ConflictTargetUsesRenamedKeyName) {
  TableModel m = Simple();
  m.columns[0].target_name = "Key";
  std::string sql = CopyBatchSql(m, false, false);
  EXPECT_THAT(sql, HasSubstr(R"(ON CONFLICT ("Key") DO NOTHING)"));
  EXPECT_THAT(sql, HasSubstr(R"(SELECT o."id", o."v")"));
}

// ---- UpsertSql ----

TEST(UpsertSqlTest, OneTextArrayPerKeptColumn) {
  EXPECT_EQ(UpsertSql(Simple()),
            R"(INSERT INTO "public"."_t_shadow" ("id", "v") OVERRIDING SYSTEM VALUE )"
            R"(SELECT CAST(o.c1 AS integer), CAST(o.c2 AS text) FROM unnest($1::text[], $2::text[]) AS o(c1, c2) )"
            R"(ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v")");
}

TEST(UpsertSqlTest, DroppedColumnExcludedRenamedUsesTargetRetypedByAssignment) {
  EXPECT_EQ(UpsertSql(Rich()),
            R"(INSERT INTO "My Schema"."_Or""ders_shadow" ("order no", "Region", "amount", "new_name") )"
            R"(OVERRIDING SYSTEM VALUE SELECT CAST(o.c1 AS bigint), CAST(o.c2 AS text), )"
            R"(CAST(o.c3 AS integer), CAST(o.c4 AS text) )"
            R"(FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS o(c1, c2, c3, c4) )"
            R"(ON CONFLICT ("Region", "order no") DO UPDATE SET "amount" = EXCLUDED."amount", )"
            R"("new_name" = EXCLUDED."new_name")");
}

TEST(UpsertSqlTest, OnlyKeyColumnsGivesDoNothing) {
  TableModel m = Model({Col("a", "integer", 0), Col("b", "text", 1)});
  EXPECT_THAT(UpsertSql(m), HasSubstr(R"(ON CONFLICT ("a", "b") DO NOTHING)"));
  EXPECT_THAT(UpsertSql(m), Not(HasSubstr("DO UPDATE")));
}

TEST(UpsertSqlTest, OnlyKeyKeptAfterDropGivesDoNothing) {
  TableModel m = Simple();
  m.columns[1].kept = false;
  EXPECT_EQ(UpsertSql(m),
            R"(INSERT INTO "public"."_t_shadow" ("id") OVERRIDING SYSTEM VALUE SELECT CAST(o.c1 AS integer) )"
            R"(FROM unnest($1::text[]) AS o(c1) ON CONFLICT ("id") DO NOTHING)");
}

// A non-key GENERATED ALWAYS identity column cannot be assigned in
// ON CONFLICT DO UPDATE SET: PostgreSQL 15 rejects the whole statement at
// rewrite time ("column ... can only be updated to DEFAULT"), even when no row
// conflicts. The shadow is created LIKE ... INCLUDING ALL, so it keeps the
// identity.
TEST(UpsertSqlTest, DoesNotAssignGeneratedAlwaysIdentityColumn) {
  TableModel m = Model({Col("id", "uuid", 0), Col("n", "bigint"), Col("v", "text")});
  m.columns[1].target_identity_always = true;
  ColumnInfo id, n, v;
  id.name = "id";
  n.name = "n";
  n.identity = 'a';
  v.name = "v";
  m.source_columns = {id, n, v};
  EXPECT_THAT(UpsertSql(m), Not(HasSubstr(R"("n" = EXCLUDED."n")")));
  EXPECT_THAT(RereadSql(m), Not(HasSubstr(R"("n" = EXCLUDED."n")")));
}

// ---- DeleteSql ----

TEST(DeleteSqlTest, SingleKey) {
  EXPECT_EQ(DeleteSql(Simple()),
            R"(DELETE FROM "public"."_t_shadow" AS s USING unnest($1::text[]) AS d(c1) )"
            R"(WHERE s."id" = CAST(d.c1 AS integer))");
}

TEST(DeleteSqlTest, CompositeKeyInKeyOrderWithTargetNames) {
  TableModel m = Rich();
  m.columns[1].target_name = "region";
  m.columns[0].target_type = "numeric";
  m.columns[0].type_changed = true;
  EXPECT_EQ(DeleteSql(m),
            R"(DELETE FROM "My Schema"."_Or""ders_shadow" AS s USING unnest($1::text[], $2::text[]) AS d(c1, c2) )"
            R"(WHERE s."region" = CAST(d.c1 AS text) AND s."order no" = CAST(CAST(d.c2 AS bigint) AS numeric))");
}

// ---- PartialUpdateSql ----

TEST(PartialUpdateSqlTest, SetValuesThenOldKey) {
  EXPECT_EQ(PartialUpdateSql(Simple(), {1}),
            R"(UPDATE "public"."_t_shadow" SET "v" = CAST($1 AS text) WHERE "id" = CAST($2 AS integer))");
}

TEST(PartialUpdateSqlTest, CompositeKeyAndMappedColumns) {
  EXPECT_EQ(PartialUpdateSql(Rich(), {0, 2, 4}),
            R"(UPDATE "My Schema"."_Or""ders_shadow" SET "order no" = CAST($1 AS bigint), )"
            R"("amount" = CAST($2 AS integer), "new_name" = CAST($3 AS text) )"
            R"(WHERE "Region" = CAST($4 AS text) AND "order no" = CAST($5 AS bigint))");
}

// ---- RereadSql ----

TEST(RereadSqlTest, ReadsOriginalByKeyAndUpserts) {
  EXPECT_EQ(RereadSql(Simple()),
            R"(INSERT INTO "public"."_t_shadow" ("id", "v") OVERRIDING SYSTEM VALUE SELECT o."id", o."v" )"
            R"(FROM ONLY "public"."t" AS o WHERE o."id" = CAST($1 AS integer) )"
            R"(ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v")");
}

TEST(RereadSqlTest, CompositeKeyMappedColumns) {
  EXPECT_EQ(RereadSql(Rich()),
            R"(INSERT INTO "My Schema"."_Or""ders_shadow" ("order no", "Region", "amount", "new_name") )"
            R"(OVERRIDING SYSTEM VALUE SELECT o."order no", o."Region", o."amount", o."old_name" )"
            R"(FROM ONLY "My Schema"."Or""ders" AS o WHERE o."Region" = CAST($1 AS text) AND o."order no" = CAST($2 AS bigint) )"
            R"(ON CONFLICT ("Region", "order no") DO UPDATE SET "amount" = EXCLUDED."amount", "new_name" = EXCLUDED."new_name")");
}

TEST(TargetColumnListTest, KeptColumnsTargetNames) {
  EXPECT_EQ(TargetColumnList(Rich()), R"("order no", "Region", "amount", "new_name")");
}

}  // namespace
}  // namespace shadowcopy::engine::sql
