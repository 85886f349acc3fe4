#include "common/sql_lexer.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::sql {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using K = TokenKind;

// (kind, text) of each token.
std::vector<std::pair<K, std::string>> Lex(std::string_view text) {
  auto toks = Tokenize(text);
  EXPECT_TRUE(toks.ok()) << toks.status();
  std::vector<std::pair<K, std::string>> out;
  if (toks.ok())
    for (const auto& t : *toks) out.emplace_back(t.kind, std::string(t.text));
  return out;
}

std::pair<K, std::string> T(K k, std::string s) { return {k, std::move(s)}; }

TEST(LexerTest, WordsNumbersPunctuation) {
  EXPECT_THAT(Lex("ALTER COLUMN n TYPE numeric(10, 2)"),
              ElementsAre(T(K::kIdentifier, "ALTER"), T(K::kIdentifier, "COLUMN"), T(K::kIdentifier, "n"),
                          T(K::kIdentifier, "TYPE"), T(K::kIdentifier, "numeric"), T(K::kPunctuation, "("),
                          T(K::kNumber, "10"), T(K::kPunctuation, ","), T(K::kNumber, "2"),
                          T(K::kPunctuation, ")")));
  EXPECT_THAT(Lex("a$b_1 _x"), ElementsAre(T(K::kIdentifier, "a$b_1"), T(K::kIdentifier, "_x")));
  EXPECT_THAT(Lex("s.t[1];"), ElementsAre(T(K::kIdentifier, "s"), T(K::kPunctuation, "."), T(K::kIdentifier, "t"),
                                          T(K::kPunctuation, "["), T(K::kNumber, "1"), T(K::kPunctuation, "]"),
                                          T(K::kPunctuation, ";")));
}

TEST(LexerTest, Numbers) {
  EXPECT_THAT(Lex("1 1.5 .5 1. 1e10 1.5E-3 2e+4"),
              ElementsAre(T(K::kNumber, "1"), T(K::kNumber, "1.5"), T(K::kNumber, ".5"), T(K::kNumber, "1."),
                          T(K::kNumber, "1e10"), T(K::kNumber, "1.5E-3"), T(K::kNumber, "2e+4")));
  // 1..10 is 1, `..`, 10 (as the server lexes array slices and ranges).
  EXPECT_THAT(Lex("1..10"), ElementsAre(T(K::kNumber, "1"), T(K::kOperator, ".."), T(K::kNumber, "10")));
  // An exponent marker without digits is not part of the number.
  EXPECT_THAT(Lex("1e"), ElementsAre(T(K::kNumber, "1"), T(K::kIdentifier, "e")));
}

TEST(LexerTest, Operators) {
  EXPECT_THAT(Lex("a::int"), ElementsAre(T(K::kIdentifier, "a"), T(K::kOperator, "::"), T(K::kIdentifier, "int")));
  EXPECT_THAT(Lex("j->>'k'"), ElementsAre(T(K::kIdentifier, "j"), T(K::kOperator, "->>"), T(K::kString, "'k'")));
  EXPECT_THAT(Lex("a<=b<>c!=d>=e"),
              ElementsAre(T(K::kIdentifier, "a"), T(K::kOperator, "<="), T(K::kIdentifier, "b"),
                          T(K::kOperator, "<>"), T(K::kIdentifier, "c"), T(K::kOperator, "!="),
                          T(K::kIdentifier, "d"), T(K::kOperator, ">="), T(K::kIdentifier, "e")));
  // `=-` is two SQL operators; `@-` keeps its minus (not an SQL operator).
  EXPECT_THAT(Lex("a=-1"), ElementsAre(T(K::kIdentifier, "a"), T(K::kOperator, "="), T(K::kOperator, "-"),
                                       T(K::kNumber, "1")));
  EXPECT_THAT(Lex("@-1"), ElementsAre(T(K::kOperator, "@-"), T(K::kNumber, "1")));
  EXPECT_THAT(Lex("x := 1, f(a => 2)"),
              ElementsAre(T(K::kIdentifier, "x"), T(K::kOperator, ":="), T(K::kNumber, "1"),
                          T(K::kPunctuation, ","), T(K::kIdentifier, "f"), T(K::kPunctuation, "("),
                          T(K::kIdentifier, "a"), T(K::kOperator, "=>"), T(K::kNumber, "2"),
                          T(K::kPunctuation, ")")));
  // A comment start ends an operator.
  EXPECT_THAT(Lex("a +-- c\nb"), ElementsAre(T(K::kIdentifier, "a"), T(K::kOperator, "+"),
                                             T(K::kComment, "-- c"), T(K::kIdentifier, "b")));
  EXPECT_THAT(Lex("a */* c */b"), ElementsAre(T(K::kIdentifier, "a"), T(K::kOperator, "*"),
                                              T(K::kComment, "/* c */"), T(K::kIdentifier, "b")));
  EXPECT_THAT(Lex("arr[1:2]"), ElementsAre(T(K::kIdentifier, "arr"), T(K::kPunctuation, "["), T(K::kNumber, "1"),
                                           T(K::kPunctuation, ":"), T(K::kNumber, "2"), T(K::kPunctuation, "]")));
}

TEST(LexerTest, StandardStringsHaveNoBackslashEscapes) {
  EXPECT_THAT(Lex(R"('it''s' 'a\' b)"), ElementsAre(T(K::kString, "'it''s'"), T(K::kString, R"('a\')"),
                                                     T(K::kIdentifier, "b")));
  EXPECT_THAT(Lex("''"), ElementsAre(T(K::kString, "''")));
}

TEST(LexerTest, EscapeStrings) {
  EXPECT_THAT(Lex(R"(E'\'' x)"), ElementsAre(T(K::kString, R"(E'\'')"), T(K::kIdentifier, "x")));
  EXPECT_THAT(Lex(R"(e'a\\' x)"), ElementsAre(T(K::kString, R"(e'a\\')"), T(K::kIdentifier, "x")));
  EXPECT_THAT(Lex(R"(E'it''s\n' y)"), ElementsAre(T(K::kString, R"(E'it''s\n')"), T(K::kIdentifier, "y")));
  // A backslash-quote hides the quote: the string runs on to the next one.
  EXPECT_THAT(Lex(R"(E'\', b')"), ElementsAre(T(K::kString, R"(E'\', b')")));
}

TEST(LexerTest, PrefixedStrings) {
  EXPECT_THAT(Lex(R"(U&'d\0061t\+000061' B'101' X'ff' N'n')"),
              ElementsAre(T(K::kString, R"(U&'d\0061t\+000061')"), T(K::kString, "B'101'"),
                          T(K::kString, "X'ff'"), T(K::kString, "N'n'")));
  // In a U& string a backslash does not escape the quote.
  EXPECT_THAT(Lex(R"(U&'\' x)"), ElementsAre(T(K::kString, R"(U&'\')"), T(K::kIdentifier, "x")));
  // `U &` or `U&` without a quote is an identifier and an operator.
  EXPECT_THAT(Lex("u&v"), ElementsAre(T(K::kIdentifier, "u"), T(K::kOperator, "&"), T(K::kIdentifier, "v")));
}

TEST(LexerTest, StringContinuesAcrossANewline) {
  EXPECT_THAT(Lex("'a'\n  'b' c"), ElementsAre(T(K::kString, "'a'\n  'b'"), T(K::kIdentifier, "c")));
  EXPECT_THAT(Lex("'a' -- note\n'b'"), ElementsAre(T(K::kString, "'a' -- note\n'b'")));
  // Without a newline between them, two strings.
  EXPECT_THAT(Lex("'a' 'b'"), ElementsAre(T(K::kString, "'a'"), T(K::kString, "'b'")));
}

TEST(LexerTest, DollarQuotes) {
  EXPECT_THAT(Lex("$$it's$$, x"),
              ElementsAre(T(K::kDollarString, "$$it's$$"), T(K::kPunctuation, ","), T(K::kIdentifier, "x")));
  EXPECT_THAT(Lex("$fn$ a $$ b ' $fn$ c"),
              ElementsAre(T(K::kDollarString, "$fn$ a $$ b ' $fn$"), T(K::kIdentifier, "c")));
  // A closing tag found inside another tag-like run still closes.
  EXPECT_THAT(Lex("$a$ x $b$a$ y"), ElementsAre(T(K::kDollarString, "$a$ x $b$a$"), T(K::kIdentifier, "y")));
  // Tags are case-sensitive.
  EXPECT_THAT(Lex("$T$ $t$ $T$"), ElementsAre(T(K::kDollarString, "$T$ $t$ $T$")));
  // A dollar inside an identifier is not a quote.
  EXPECT_THAT(Lex("a$$ b"), ElementsAre(T(K::kIdentifier, "a$$"), T(K::kIdentifier, "b")));
  // Quotes and comments inside are plain text.
  EXPECT_THAT(Lex("$q$ -- ' /* \" $q$"), ElementsAre(T(K::kDollarString, "$q$ -- ' /* \" $q$")));
}

TEST(LexerTest, ParametersAreNotTags) {
  EXPECT_THAT(Lex("$1 + $23::int"), ElementsAre(T(K::kParameter, "$1"), T(K::kOperator, "+"),
                                                T(K::kParameter, "$23"), T(K::kOperator, "::"),
                                                T(K::kIdentifier, "int")));
  // `$1$` is a parameter and a lone dollar, never a delimiter: a tag cannot
  // start with a digit.
  EXPECT_THAT(Lex("$1$"), ElementsAre(T(K::kParameter, "$1"), T(K::kOther, "$")));
}

TEST(LexerTest, QuotedIdentifiers) {
  EXPECT_THAT(Lex(R"("a ""b"" c" "Ünïcödé" U&"d\0061t")"),
              ElementsAre(T(K::kQuotedIdentifier, R"("a ""b"" c")"), T(K::kQuotedIdentifier, "\"Ünïcödé\""),
                          T(K::kQuotedIdentifier, R"(U&"d\0061t")")));
  EXPECT_THAT(Lex("\"it's\" x"), ElementsAre(T(K::kQuotedIdentifier, "\"it's\""), T(K::kIdentifier, "x")));
  EXPECT_THAT(Lex("été"), ElementsAre(T(K::kIdentifier, "été")));
}

TEST(LexerTest, IdentifierNames) {
  auto name = [](std::string_view text) -> std::string {
    auto toks = Tokenize(text);
    EXPECT_TRUE(toks.ok() && toks->size() == 1);
    auto n = IdentifierName(toks->front());
    return n.ok() ? *n : "error: " + std::string(n.status().message());
  };
  EXPECT_EQ(name("MixedCase"), "mixedcase");
  EXPECT_EQ(name("ÉTÉ"), "ÉtÉ");  // only ASCII letters are folded, as the server does
  EXPECT_EQ(name("\"MixedCase\""), "MixedCase");
  EXPECT_EQ(name(R"("a ""b""")"), R"(a "b")");
  EXPECT_EQ(name(R"(U&"d\0061t\+000061")"), "data");
  EXPECT_EQ(name(R"(U&"\00e9t\00E9")"), "été");
  EXPECT_EQ(name(R"(U&"\D83D\DE00")"), "\xF0\x9F\x98\x80");
  EXPECT_THAT(name(R"(U&"\zz")"), HasSubstr("invalid Unicode escape"));
  EXPECT_THAT(name("'s'"), HasSubstr("expected an identifier"));
}

TEST(LexerTest, Comments) {
  EXPECT_THAT(Lex("a -- it's\nb"), ElementsAre(T(K::kIdentifier, "a"), T(K::kComment, "-- it's"),
                                               T(K::kIdentifier, "b")));
  EXPECT_THAT(Lex("a /* x /* nested ' */ still */ b"),
              ElementsAre(T(K::kIdentifier, "a"), T(K::kComment, "/* x /* nested ' */ still */"),
                          T(K::kIdentifier, "b")));
  EXPECT_THAT(Lex("/* $$ \" */ c"), ElementsAre(T(K::kComment, "/* $$ \" */"), T(K::kIdentifier, "c")));
  EXPECT_THAT(Lex("-- only"), ElementsAre(T(K::kComment, "-- only")));
  // Comment starts inside strings are text.
  EXPECT_THAT(Lex("'--' '/*'"), ElementsAre(T(K::kString, "'--'"), T(K::kString, "'/*'")));
}

TEST(LexerTest, OffsetsAndLines) {
  auto toks = Tokenize("a\n  /* x\n y */ 'p\nq' b\n$$\n$$ c");
  ASSERT_TRUE(toks.ok()) << toks.status();
  ASSERT_EQ(toks->size(), 6u);
  EXPECT_EQ((*toks)[0].offset, 0u);
  EXPECT_EQ((*toks)[0].line, 1);
  EXPECT_EQ((*toks)[1].offset, 4u);
  EXPECT_EQ((*toks)[1].line, 2);
  EXPECT_EQ((*toks)[2].text, "'p\nq'");
  EXPECT_EQ((*toks)[2].line, 3);
  EXPECT_EQ((*toks)[3].text, "b");
  EXPECT_EQ((*toks)[3].line, 4);
  EXPECT_EQ((*toks)[4].kind, K::kDollarString);
  EXPECT_EQ((*toks)[4].line, 5);
  EXPECT_EQ((*toks)[5].line, 6);
  EXPECT_EQ((*toks)[5].offset, 29u);
  EXPECT_EQ((*toks)[5].end(), 30u);
}

TEST(LexerTest, UnterminatedConstructsAreErrorsWithTheirLine) {
  auto err = [](std::string_view text) {
    auto toks = Tokenize(text);
    EXPECT_FALSE(toks.ok()) << text;
    EXPECT_EQ(toks.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(toks.status().message());
  };
  EXPECT_EQ(err("a\nb 'open"), "unterminated quoted string starting at line 2");
  EXPECT_EQ(err(R"(E'\')"), "unterminated quoted string starting at line 1");
  EXPECT_EQ(err("E'x\\"), "unterminated quoted string starting at line 1");
  EXPECT_EQ(err("\n\n\"ident"), "unterminated quoted identifier starting at line 3");
  EXPECT_EQ(err("x /* a /* b */"), "unterminated /* comment starting at line 1");
  EXPECT_EQ(err("\n$tag$ body $$ $TAG$"), "unterminated dollar-quoted string starting at line 2");
  EXPECT_EQ(err("a \"\""), "zero-length delimited identifier starting at line 1");
  EXPECT_EQ(err("B'01"), "unterminated bit or hexadecimal string literal starting at line 1");
}

TEST(LexerTest, KeywordMatching) {
  auto toks = Tokenize("Using \"using\" USING");
  ASSERT_TRUE(toks.ok());
  EXPECT_TRUE((*toks)[0].IsWord("using"));
  EXPECT_FALSE((*toks)[1].IsWord("using"));
  EXPECT_TRUE((*toks)[2].IsWord("USING"));
  EXPECT_FALSE((*toks)[2].IsWord("usin"));
}

std::vector<std::pair<int, std::string>> Split(std::string_view script) {
  auto st = SplitStatements(script);
  EXPECT_TRUE(st.ok()) << st.status();
  std::vector<std::pair<int, std::string>> out;
  if (st.ok())
    for (const auto& s : *st) out.emplace_back(s.line, s.text);
  return out;
}

TEST(SplitterTest, SplitsOnTopLevelSemicolons) {
  EXPECT_THAT(Split("BEGIN;\nCREATE TABLE t (a int, b text);\n\nINSERT INTO t VALUES (1, 'a;b');\nCOMMIT;\n"),
              ElementsAre(std::pair<int, std::string>(1, "BEGIN"),
                          std::pair<int, std::string>(2, "CREATE TABLE t (a int, b text)"),
                          std::pair<int, std::string>(4, "INSERT INTO t VALUES (1, 'a;b')"),
                          std::pair<int, std::string>(5, "COMMIT")));
}

TEST(SplitterTest, KeepsTextAsWrittenAndSkipsEmptyStatements) {
  auto st = SplitStatements("  -- lead\n;; SELECT 1 /* in */ -- tail\n ; \n select\n  2");
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->size(), 2u);
  EXPECT_EQ((*st)[0].text, "SELECT 1");
  EXPECT_EQ((*st)[0].line, 2);
  EXPECT_TRUE((*st)[0].terminated);
  EXPECT_EQ((*st)[1].text, "select\n  2");
  EXPECT_EQ((*st)[1].line, 4);
  EXPECT_EQ((*st)[1].offset, 44u);
  EXPECT_FALSE((*st)[1].terminated);
  EXPECT_THAT(Split("SELECT /* ; */ 1 -- ;\n + 2;"),
              ElementsAre(std::pair<int, std::string>(1, "SELECT /* ; */ 1 -- ;\n + 2")));
  EXPECT_TRUE(Split("-- nothing\n/* at all */ ;").empty());
}

TEST(SplitterTest, SemicolonsInsideQuotesAndBodies) {
  std::string script =
      "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\nBEGIN\n  RETURN 1; -- it's\nEND;\n$body$;\n"
      "SELECT \"a;b\" FROM t;\n"
      "SELECT E'\\';', $1;\n";
  auto out = Split(script);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].first, 1);
  EXPECT_THAT(out[0].second, HasSubstr("RETURN 1; -- it's\nEND;\n$body$"));
  EXPECT_EQ(out[1], (std::pair<int, std::string>(6, "SELECT \"a;b\" FROM t")));
  EXPECT_EQ(out[2], (std::pair<int, std::string>(7, "SELECT E'\\';', $1")));
}

TEST(SplitterTest, SqlStandardFunctionBodies) {
  std::string script =
      "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql\nBEGIN ATOMIC\n  INSERT INTO t VALUES (1);\n"
      "  SELECT CASE WHEN true THEN 1 END;\nEND;\nSELECT 2;";
  auto out = Split(script);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_THAT(out[0].second, HasSubstr("SELECT CASE WHEN true THEN 1 END;\nEND"));
  EXPECT_EQ(out[1], (std::pair<int, std::string>(6, "SELECT 2")));
  // Semicolons inside parentheses do not split (psql's rule).
  EXPECT_THAT(Split("CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2); SELECT 3"),
              ElementsAre(std::pair<int, std::string>(1, "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2)"),
                          std::pair<int, std::string>(1, "SELECT 3")));
}

TEST(SplitterTest, MetaCommandsAreErrorsWithTheirLine) {
  auto st = SplitStatements("SELECT 1;\n\\set x 1\nSELECT :x;");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.status().message(),
            "line 2: psql meta-command \\set is not supported: only SQL statements are accepted");
  st = SplitStatements("SELECT 1 \\gset\n");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.status().message(), HasSubstr("line 1: psql meta-command \\gset"));
  // Backslashes inside strings, identifiers and comments are text.
  EXPECT_EQ(Split("SELECT '\\x', \"\\y\", $$\\z$$ /* \\q */ -- \\c\n").size(), 1u);
}

TEST(SplitterTest, LexicalErrorsCarryTheirLine) {
  auto st = SplitStatements("SELECT 1;\nSELECT 'open;\nSELECT 2;");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().message(), "unterminated quoted string starting at line 2");
  st = SplitStatements("SELECT 1;\n/* open\n");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().message(), "unterminated /* comment starting at line 2");
}

}  // namespace
}  // namespace shadowcopy::sql
