#include "engine/alter_text.h"

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

TEST(AlterTextTest, RefusesUsing) {
  EXPECT_EQ(Refusal("ALTER COLUMN n TYPE bigint USING n * 2"),
            "ALTER COLUMN n TYPE ... USING is not supported: columns are converted with plain casts");
  EXPECT_THAT(Refusal("alter n set data type bigint using n + 1"), HasSubstr("USING is not supported"));
  EXPECT_THAT(Refusal("ALTER COLUMN \"N\" TYPE text COLLATE \"C\" USING upper(\"N\")"),
              HasSubstr("ALTER COLUMN \"N\" TYPE ... USING"));
  // The attacks the quote-counting guard missed: a quote inside a
  // dollar-quoted string or a comment before the USING.
  EXPECT_THAT(Refusal("ADD COLUMN x text DEFAULT $$it's$$, ALTER COLUMN n TYPE bigint USING n * 2"),
              HasSubstr("USING is not supported"));
  EXPECT_THAT(Refusal("ADD COLUMN x text /* it's */, ALTER COLUMN n TYPE bigint USING n * 2"),
              HasSubstr("USING is not supported"));
  EXPECT_THAT(Refusal("ADD COLUMN x text -- it's\n, ALTER COLUMN n TYPE bigint USING n * 2"),
              HasSubstr("USING is not supported"));
  EXPECT_THAT(Refusal("ADD COLUMN x text DEFAULT E'\\'', ALTER COLUMN n TYPE bigint USING n * 2"),
              HasSubstr("USING is not supported"));
  EXPECT_THAT(Refusal("ADD COLUMN \"it's\" text, ALTER COLUMN n TYPE bigint USING n * 2"),
              HasSubstr("USING is not supported"));
  EXPECT_THAT(Refusal("ADD COLUMN x text DEFAULT $t$ \" $t$, ALTER COLUMN n TYPE bigint USING n * 2"),
              HasSubstr("USING is not supported"));
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
