// plan's input: statements split from migration files, transaction blocks
// marked, nasty inputs refused with the file and line.
#include "engine/workflow/plan_input.h"

#include "gtest/gtest.h"

namespace shadowcopy::workflow {
namespace {

std::vector<PlannedStatement> Split(std::string_view text) {
  auto s = SplitMigration("V1__x.sql", text);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : std::vector<PlannedStatement>{};
}

TEST(PlanInputTest, MarksTheStatementsOfABeginCommitBlock) {
  auto s = Split(
      "SET lock_timeout = '2s';\n"
      "BEGIN;\n"
      "ALTER TABLE a ADD COLUMN b int;\n"
      "ALTER TABLE a ADD COLUMN c int;\n"
      "COMMIT;\n"
      "CREATE INDEX CONCURRENTLY a_b ON a (b);\n");
  ASSERT_EQ(s.size(), 6u);
  const bool expected[] = {false, true, true, true, true, false};
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i].in_transaction_block, expected[i]) << s[i].sql;
  EXPECT_EQ(s[2].line, 3);
  EXPECT_EQ(s[2].file, "V1__x.sql");
  EXPECT_EQ(s[5].sql, "CREATE INDEX CONCURRENTLY a_b ON a (b)");
}

TEST(PlanInputTest, EveryWayToOpenAndCloseABlock) {
  for (const char* open : {"BEGIN", "begin work", "BEGIN ISOLATION LEVEL SERIALIZABLE", "START TRANSACTION"}) {
    for (const char* close : {"COMMIT", "END", "ROLLBACK", "ABORT", "commit and chain", "PREPARE TRANSACTION 'x'"}) {
      auto s = Split(std::string(open) + ";\nSELECT 1;\n" + close + ";\nSELECT 2;");
      ASSERT_EQ(s.size(), 4u);
      EXPECT_TRUE(s[1].in_transaction_block) << open << " / " << close;
      EXPECT_TRUE(s[2].in_transaction_block) << open << " / " << close;
      EXPECT_FALSE(s[3].in_transaction_block) << open << " / " << close;
    }
  }
}

TEST(PlanInputTest, SavepointsAndPreparedTransactionsStayInTheBlock) {
  auto s = Split("BEGIN; SAVEPOINT a; ROLLBACK TO SAVEPOINT a; ROLLBACK TO a; COMMIT PREPARED 'x'; SELECT 1; COMMIT; SELECT 2");
  ASSERT_EQ(s.size(), 8u);
  for (size_t i = 0; i < 7; ++i) EXPECT_TRUE(s[i].in_transaction_block) << s[i].sql;
  EXPECT_FALSE(s[7].in_transaction_block);
}

TEST(PlanInputTest, FunctionBodiesAndQuotedWordsDoNotOpenBlocks) {
  auto s = Split(
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n"
      "DO $$BEGIN PERFORM 1; COMMIT; END$$;\n"
      "SELECT 'BEGIN;' AS \"begin\";\n"
      "/* BEGIN; */ SELECT 3;\n");
  ASSERT_EQ(s.size(), 4u);
  for (const auto& p : s) EXPECT_FALSE(p.in_transaction_block) << p.sql;
  EXPECT_EQ(s[3].line, 4);
}

TEST(PlanInputTest, ABlockLeftOpenRunsToTheEndOfTheFile) {
  auto s = Split("BEGIN;\nALTER TABLE a DROP COLUMN b;\n");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_TRUE(s[1].in_transaction_block);
}

TEST(PlanInputTest, CommentsOnlyAndEmptyStatementsAreLeftOut) {
  EXPECT_TRUE(Split("").empty());
  EXPECT_TRUE(Split("-- nothing\n/* still /* nothing */ */;;\n").empty());
  auto s = Split(";;\n-- a\nSELECT 1 -- trailing\n");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].line, 3);
}

TEST(PlanInputTest, RefusesLexicalErrorsWithFileAndLine) {
  struct Case {
    const char* text;
    const char* needle;
  } cases[] = {
      {"SELECT 1;\nCREATE FUNCTION f() RETURNS int AS $body$\nSELECT 1;\n", "line 2"},
      {"SELECT 1;\n\nSELECT 'open;\n", "line 3"},
      {"SELECT 1;\n/* /* nested */\n", "line 2"},
      {"SELECT \"open;\n", "line 1"},
      {"SELECT 1;\n\\set ON_ERROR_STOP on\nSELECT 2;\n", "line 2"},
      {"SELECT 1;\nSELECT 2 \\gexec\n", "line 2"},
  };
  for (const Case& c : cases) {
    auto s = SplitMigration("V9__bad.sql", c.text);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("V9__bad.sql"), std::string::npos) << s.status();
    EXPECT_NE(s.status().message().find(c.needle), std::string::npos) << s.status();
  }
}

TEST(PlanInputTest, MetaCommandIsNamed) {
  auto s = SplitMigration("f.sql", "SELECT 1;\n\\connect other\n");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("\\connect"), std::string::npos) << s.status();
}

TEST(PlanInputTest, MissingFileIsNotFound) {
  auto s = ReadMigrations({"/nonexistent/V1__x.sql"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("/nonexistent/V1__x.sql"), std::string::npos);
  EXPECT_EQ(ReadMigrations({}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PlanInputTest, ADirectoryIsReadInVersionOrder) {
  auto s = ReadMigrations({SC_TESTDATA_DIR "/../../../examples/migrations"});
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_FALSE(s->empty());
  std::vector<std::string> files;
  for (const auto& p : *s)
    if (files.empty() || files.back() != p.file) files.push_back(p.file);
  ASSERT_GE(files.size(), 2u);
  for (size_t i = 0; i + 1 < files.size(); ++i) {
    std::string a = files[i].substr(files[i].rfind('/') + 2), b = files[i + 1].substr(files[i + 1].rfind('/') + 2);
    EXPECT_LT(std::stol(a), std::stol(b)) << files[i] << " before " << files[i + 1];
  }
}

}  // namespace
}  // namespace shadowcopy::workflow
