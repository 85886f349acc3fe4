#include "engine/rewrite/alter_text.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::engine {
namespace {

using ::testing::HasSubstr;
using Kind = AlterSubcommand::Kind;

std::vector<AlterSubcommand> Parse(std::string_view alter) {
  auto p = ParseAlterSubcommands(alter);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : std::vector<AlterSubcommand>{};
}

std::string Refusal(const std::string& alter) {
  absl::Status st = ValidateAlterText(alter);
  if (st.ok()) return "ok";
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  return std::string(st.message());
}

TEST(AlterTextTest, SplitsAtTopLevelCommas) {
  auto p = Parse("ADD COLUMN a numeric(10, 2) DEFAULT 1, ADD CONSTRAINT c CHECK (a IN (1, 2)),\n"
                 "  ADD COLUMN b int[] DEFAULT ARRAY[1, 2], DROP COLUMN z");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].text, "ADD COLUMN a numeric(10, 2) DEFAULT 1");
  EXPECT_EQ(p[1].text, "ADD CONSTRAINT c CHECK (a IN (1, 2))");
  EXPECT_EQ(p[2].text, "ADD COLUMN b int[] DEFAULT ARRAY[1, 2]");
  EXPECT_EQ(p[2].line, 2);
  EXPECT_EQ(p[3].text, "DROP COLUMN z");
  for (const auto& sc : p) EXPECT_EQ(sc.kind, Kind::kOther);
}

TEST(AlterTextTest, CommasInStringsAndCommentsDoNotSplit) {
  auto p = Parse("ADD COLUMN a text DEFAULT 'x, y' /* , */, ADD COLUMN b text DEFAULT $$,$$ -- ,\n");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].text, "ADD COLUMN a text DEFAULT 'x, y'");
  EXPECT_EQ(p[1].text, "ADD COLUMN b text DEFAULT $$,$$");
}

TEST(AlterTextTest, RecognisesTypeChanges) {
  auto p = Parse("ALTER COLUMN n TYPE bigint, ALTER m SET DATA TYPE numeric(12, 2) COLLATE \"C\" USING m * 2, "
                 "alter column \"Type\" type text using (\"Type\")::text, ALTER COLUMN type TYPE int");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].kind, Kind::kAlterColumnType);
  EXPECT_EQ(p[0].column, "n");
  EXPECT_EQ(p[0].type, "bigint");
  EXPECT_FALSE(p[0].has_using);
  EXPECT_EQ(p[1].kind, Kind::kAlterColumnType);
  EXPECT_EQ(p[1].column, "m");
  EXPECT_EQ(p[1].type, "numeric(12, 2)");
  EXPECT_EQ(p[1].collate, "\"C\"");
  EXPECT_TRUE(p[1].has_using);
  EXPECT_EQ(p[1].using_expr, "m * 2");
  EXPECT_EQ(p[2].column, "\"Type\"");
  EXPECT_EQ(p[2].using_expr, "(\"Type\")::text");
  EXPECT_EQ(p[3].column, "type");
  EXPECT_EQ(p[3].type, "int");
}

TEST(AlterTextTest, OtherAlterColumnFormsAreNotTypeChanges) {
  for (const char* alter : {"ALTER COLUMN n SET DEFAULT 1", "ALTER n DROP NOT NULL", "ALTER COLUMN n SET STATISTICS 5",
                            "ALTER CONSTRAINT c DEFERRABLE", "ALTER COLUMN n SET (n_distinct = 1)"}) {
    auto p = Parse(alter);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].kind, Kind::kOther) << alter;
  }
}

// The USING clause of each subcommand, "-" when it has none.
std::vector<std::string> Usings(std::string_view alter) {
  std::vector<std::string> out;
  for (const auto& sc : Parse(alter)) out.push_back(sc.has_using ? sc.using_expr : "-");
  return out;
}

TEST(AlterTextTest, FindsUsingWhereTheQuoteCountingGuardDidNot) {
  using ::testing::ElementsAre;
  EXPECT_THAT(Usings("ALTER COLUMN n TYPE bigint USING n * 2"), ElementsAre("n * 2"));
  EXPECT_THAT(Usings("alter n set data type bigint using n + 1"), ElementsAre("n + 1"));
  EXPECT_THAT(Usings("ALTER COLUMN \"N\" TYPE text COLLATE \"C\" USING upper(\"N\")"), ElementsAre("upper(\"N\")"));
  // A quote inside a dollar-quoted string, a comment, an E'' string or a
  // quoted identifier before the USING.
  EXPECT_THAT(Usings("ADD COLUMN x text DEFAULT $$it's$$, ALTER COLUMN n TYPE bigint USING n * 2"),
              ElementsAre("-", "n * 2"));
  EXPECT_THAT(Usings("ADD COLUMN x text /* it's */, ALTER COLUMN n TYPE bigint USING n * 2"),
              ElementsAre("-", "n * 2"));
  EXPECT_THAT(Usings("ADD COLUMN x text -- it's\n, ALTER COLUMN n TYPE bigint USING n * 2"),
              ElementsAre("-", "n * 2"));
  EXPECT_THAT(Usings("ADD COLUMN x text DEFAULT E'\\'', ALTER COLUMN n TYPE bigint USING n * 2"),
              ElementsAre("-", "n * 2"));
  EXPECT_THAT(Usings("ADD COLUMN \"it's\" text, ALTER COLUMN n TYPE bigint USING n * 2"), ElementsAre("-", "n * 2"));
  EXPECT_THAT(Usings("ADD COLUMN x text DEFAULT $t$ \" $t$, ALTER COLUMN n TYPE bigint USING n * 2"),
              ElementsAre("-", "n * 2"));
  // A comment inside the expression stays; one after it does not.
  EXPECT_THAT(Usings("ALTER n TYPE int USING n -- twice\n * 2 /* done */"), ElementsAre("n -- twice\n * 2"));
  // USING with nothing after it is still a USING clause (the server refuses it).
  auto p = Parse("ALTER n TYPE int USING");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_TRUE(p[0].has_using);
  EXPECT_EQ(Refusal("ADD COLUMN x text DEFAULT $$it's$$, ALTER COLUMN n TYPE bigint USING n * 2"), "ok");
}

std::vector<MappedColumn> Columns() {
  std::vector<MappedColumn> cols;
  for (const char* name : {"id", "n", "Mixed", "gone"}) {
    MappedColumn c;
    c.source_name = c.target_name = name;
    c.kept = std::string(name) != "gone";
    cols.push_back(c);
  }
  return cols;
}

TEST(AlterTextTest, AttachesUsingToItsColumn) {
  auto cols = Columns();
  ASSERT_TRUE(AttachUsingExpressions("ADD COLUMN x text DEFAULT $$it's$$, ALTER COLUMN N TYPE bigint USING n * 2, "
                                     "ALTER \"Mixed\" TYPE text USING orders.\"Mixed\" || 'x'",
                                     "orders", {"id"}, &cols)
                  .ok());
  EXPECT_EQ(cols[0].using_expr, "");
  EXPECT_EQ(cols[1].using_expr, "n * 2");
  EXPECT_EQ(cols[1].using_alias, "orders");
  EXPECT_EQ(cols[2].using_expr, "orders.\"Mixed\" || 'x'");
  EXPECT_EQ(cols[3].using_expr, "");
}

TEST(AlterTextTest, UsingQualifiedByTheTableNamesTheShadowOnTheShadow) {
  auto shadow = [](std::string_view alter) {
    auto out = AlterTextForShadow(alter, "orders", "_orders_shadow");
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : "";
  };
  EXPECT_EQ(shadow("ALTER status TYPE text USING orders.status || 'orders.x' /* orders. */"),
            "ALTER status TYPE text USING \"_orders_shadow\".status || 'orders.x' /* orders. */");
  EXPECT_EQ(shadow("ALTER status TYPE text USING public.\"orders\".status, ALTER n TYPE int USING ORDERS.n"),
            "ALTER status TYPE text USING public.\"_orders_shadow\".status, ALTER n TYPE int USING \"_orders_shadow\".n");
  // Outside USING, and other qualifiers, are left alone; so is a schema
  // named like the table.
  EXPECT_EQ(shadow("ADD CONSTRAINT c CHECK (orders.n > 0), ALTER n TYPE int USING o.n"),
            "ADD CONSTRAINT c CHECK (orders.n > 0), ALTER n TYPE int USING o.n");
  EXPECT_EQ(shadow("ALTER n TYPE int USING orders.f.n"), "ALTER n TYPE int USING orders.f.n");
  EXPECT_EQ(shadow("ADD COLUMN x text DEFAULT $$it's$$, ALTER n TYPE int USING orders.n * 2"),
            "ADD COLUMN x text DEFAULT $$it's$$, ALTER n TYPE int USING \"_orders_shadow\".n * 2");
}

TEST(AlterTextTest, RefusesUsingItCannotApply) {
  auto refusal = [](std::string_view alter) {
    auto cols = Columns();
    absl::Status st = AttachUsingExpressions(alter, "orders", {"id"}, &cols);
    EXPECT_FALSE(st.ok()) << alter;
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
    return std::string(st.message());
  };
  EXPECT_THAT(refusal("ALTER COLUMN id TYPE bigint USING id * 2"), HasSubstr("on a key column is not supported"));
  EXPECT_THAT(refusal("ALTER COLUMN gone TYPE bigint USING 1"), HasSubstr("no such column"));
  EXPECT_THAT(refusal("ADD COLUMN y int, ALTER y TYPE bigint USING 1"), HasSubstr("no such column"));
  EXPECT_THAT(refusal("ALTER n TYPE text USING orders::text"), HasSubstr("not the whole row"));
  EXPECT_THAT(refusal("ALTER n TYPE text USING length(\"orders\"::text)"), HasSubstr("not the whole row"));
  // The column itself, qualified or not, is fine; so is a column named like the table.
  auto cols = Columns();
  EXPECT_TRUE(AttachUsingExpressions("ALTER n TYPE text USING orders.n::text", "orders", {"id"}, &cols).ok());
  cols = Columns();
  EXPECT_TRUE(AttachUsingExpressions("ALTER n TYPE text USING n::text", "n", {"id"}, &cols).ok());
}

TEST(AlterTextTest, AcceptsUsingThatIsNotAConversion) {
  EXPECT_EQ(Refusal("ADD CONSTRAINT ex EXCLUDE USING gist (r WITH &&)"), "ok");
  EXPECT_EQ(Refusal("ADD CONSTRAINT u UNIQUE USING INDEX u_idx"), "ok");
  EXPECT_EQ(Refusal("ALTER COLUMN n TYPE bigint, ADD CONSTRAINT ex EXCLUDE USING gist (r WITH &&)"), "ok");
  // USING inside strings, quoted identifiers and comments is text.
  EXPECT_EQ(Refusal("ALTER COLUMN n TYPE bigint /* USING n * 2 */, ADD COLUMN \"using\" text DEFAULT 'using'"),
            "ok");
  EXPECT_EQ(Refusal("ALTER COLUMN n TYPE bigint -- USING n * 2"), "ok");
}

TEST(AlterTextTest, RefusesSetLoggedAndUnlogged) {
  EXPECT_THAT(Refusal("SET UNLOGGED"), HasSubstr("cannot SET UNLOGGED"));
  EXPECT_THAT(Refusal("ALTER COLUMN n TYPE bigint, set /* x */ unlogged"), HasSubstr("cannot SET UNLOGGED"));
  EXPECT_THAT(Refusal("ADD COLUMN x text DEFAULT $$it's$$, SET UNLOGGED"), HasSubstr("cannot SET UNLOGGED"));
  EXPECT_THAT(Refusal("SET LOGGED"), HasSubstr("cannot SET LOGGED"));
  EXPECT_EQ(Refusal("ADD COLUMN unlogged text, SET (fillfactor = 90)"), "ok");
}

TEST(AlterTextTest, RefusesDropExpression) {
  EXPECT_THAT(Refusal("ALTER COLUMN g DROP EXPRESSION"), HasSubstr("cannot DROP EXPRESSION of g"));
  EXPECT_THAT(Refusal("ADD COLUMN x text DEFAULT $$it's$$, alter \"G\" drop expression if exists"),
              HasSubstr("cannot DROP EXPRESSION of \"G\""));
  EXPECT_EQ(Refusal("ALTER COLUMN g DROP DEFAULT, ALTER COLUMN expression DROP NOT NULL"), "ok");
}

TEST(AlterTextTest, RefusesSeparatorsAndRenamesAndFullStatements) {
  EXPECT_THAT(Refusal("ADD COLUMN a int; DROP TABLE x"), HasSubstr("';' is not allowed"));
  EXPECT_EQ(Refusal("ADD COLUMN a text DEFAULT ';'"), "ok");
  EXPECT_EQ(Refusal("ADD COLUMN a text DEFAULT $$;$$"), "ok");
  EXPECT_THAT(Refusal("ADD COLUMN a text DEFAULT $$it's$$; DROP TABLE x"), HasSubstr("';' is not allowed"));
  EXPECT_THAT(Refusal("ALTER TABLE t ADD COLUMN a int"), HasSubstr("takes what follows ALTER TABLE"));
  EXPECT_THAT(Refusal("RENAME TO x"), HasSubstr("cannot rename the table"));
  EXPECT_THAT(Refusal("SET SCHEMA s"), HasSubstr("cannot rename the table"));
  EXPECT_EQ(Refusal("RENAME COLUMN a TO b"), "ok");
}

TEST(AlterTextTest, LexicalAndShapeErrors) {
  EXPECT_EQ(Refusal("ADD COLUMN a text DEFAULT 'open"),
            "invalid --alter: unterminated quoted string starting at line 1");
  EXPECT_EQ(Refusal("ADD COLUMN a text,\n ADD COLUMN b text DEFAULT $$x"),
            "invalid --alter: unterminated dollar-quoted string starting at line 2");
  EXPECT_EQ(Refusal("ADD COLUMN a int /* open"), "invalid --alter: unterminated /* comment starting at line 1");
  EXPECT_THAT(Refusal("ADD COLUMN a int,, ADD COLUMN b int"), HasSubstr("empty subcommand"));
  EXPECT_THAT(Refusal("ADD COLUMN a int,"), HasSubstr("empty subcommand"));
  EXPECT_THAT(Refusal("  -- only a comment"), HasSubstr("empty subcommand"));
}

}  // namespace
}  // namespace shadowcopy::engine
