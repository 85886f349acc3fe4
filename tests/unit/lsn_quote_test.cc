// Tests of the LSN text form (FormatLsn/ParseLsn) and of SQL quoting.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "common/lsn.h"
#include "common/quote.h"

namespace shadowcopy {
namespace {

TEST(LsnTest, FormatsLikePostgres) {
  EXPECT_EQ(FormatLsn(0), "0/0");
  EXPECT_EQ(FormatLsn(0x16B3748), "0/16B3748");
  EXPECT_EQ(FormatLsn(0x0000000100000000), "1/0");
  EXPECT_EQ(FormatLsn(0xABCDEF0012345678), "ABCDEF00/12345678");
  EXPECT_EQ(FormatLsn(std::numeric_limits<Lsn>::max()), "FFFFFFFF/FFFFFFFF");
}

TEST(LsnTest, RoundTrips) {
  for (Lsn lsn : {Lsn{0}, Lsn{1}, Lsn{0x16B3748}, Lsn{0xFFFFFFFF}, Lsn{0x100000000},
                  Lsn{0x7FFFFFFF80000000}, std::numeric_limits<Lsn>::max()}) {
    std::optional<Lsn> parsed = ParseLsn(FormatLsn(lsn));
    ASSERT_TRUE(parsed.has_value()) << FormatLsn(lsn);
    EXPECT_EQ(*parsed, lsn);
  }
  for (uint64_t hi = 0; hi < 64; ++hi) {
    Lsn lsn = (hi * 0x9E3779B97F4A7C15ULL) ^ (hi << 7);
    EXPECT_EQ(ParseLsn(FormatLsn(lsn)), lsn);
  }
}

TEST(LsnTest, ParsesLowercaseAndLeadingZeros) {
  EXPECT_EQ(ParseLsn("0/16b3748"), Lsn{0x16B3748});
  EXPECT_EQ(ParseLsn("00000001/00000002"), Lsn{0x100000002});
}

TEST(LsnTest, RejectsMalformedInput) {
  for (const char* bad :
       {"",      "/",    "0",     "0/",    "/0",          "16B3748",     "0//1",
        "0/1/2", "G/0",  "0/G",   " 0/1",  "0/1 ",        "0 /1",        "-1/0",
        "0/-1",  "+1/0", "0x1/0", "1/0x2", "100000000/0", "0/100000000", "FFFFFFFFF/0"}) {
    EXPECT_EQ(ParseLsn(bad), std::nullopt) << "'" << bad << "'";
  }
  EXPECT_EQ(ParseLsn(std::string_view("0/1\0", 4)), std::nullopt);
}

TEST(QuoteTest, QuoteIdentAlwaysQuotesAndDoublesQuotes) {
  EXPECT_EQ(QuoteIdent("users"), "\"users\"");
  EXPECT_EQ(QuoteIdent("Users"), "\"Users\"");
  EXPECT_EQ(QuoteIdent("my table"), "\"my table\"");
  EXPECT_EQ(QuoteIdent("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(QuoteIdent("\""), "\"\"\"\"");
  EXPECT_EQ(QuoteIdent(""), "\"\"");
  EXPECT_EQ(QuoteIdent("select"), "\"select\"");
  EXPECT_EQ(QuoteIdent("it's"), "\"it's\"");
  EXPECT_EQ(QuoteIdent("таблица_ü_表"), "\"таблица_ü_表\"");
}

TEST(QuoteTest, QualifiedNameAndList) {
  EXPECT_EQ(QualifiedName("public", "a\"b"), "\"public\".\"a\"\"b\"");
  EXPECT_EQ(QuoteIdentList({}), "");
  EXPECT_EQ(QuoteIdentList({"id"}), "\"id\"");
  EXPECT_EQ(QuoteIdentList({"id", "Name", "x y"}), "\"id\", \"Name\", \"x y\"");
}

TEST(QuoteTest, QuoteLiteralDoublesSingleQuotes) {
  EXPECT_EQ(QuoteLiteral(""), "''");
  EXPECT_EQ(QuoteLiteral("abc"), "'abc'");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(QuoteLiteral("''"), "''''''");
  EXPECT_EQ(QuoteLiteral("a\\b"), "'a\\b'");  // standard_conforming_strings: kept as is
  EXPECT_EQ(QuoteLiteral("x\"y"), "'x\"y'");
  EXPECT_EQ(QuoteLiteral("日本'語"), "'日本''語'");
}

TEST(QuoteTest, TruncateIdentKeepsShortNames) {
  EXPECT_EQ(TruncateIdent(""), "");
  EXPECT_EQ(TruncateIdent("abc"), "abc");
  std::string exact(63, 'a');
  EXPECT_EQ(TruncateIdent(exact), exact);
  EXPECT_EQ(TruncateIdent(std::string(64, 'b')), std::string(63, 'b'));
  EXPECT_EQ(TruncateIdent(std::string(500, 'c')), std::string(63, 'c'));
}

// Whether `s` is a sequence of complete UTF-8 characters (structure only).
bool IsWholeUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

TEST(QuoteTest, TruncateIdentNeverSplitsUtf8) {
  // A multi-byte character straddling byte 63, at every offset, for 2-, 3-
  // and 4-byte characters.
  for (const std::string ch : {"ü", "表", "😀"}) {
    for (size_t pad = 55; pad <= 63; ++pad) {
      std::string name = std::string(pad, 'x');
      while (name.size() < 80) name += ch;
      std::string t = TruncateIdent(name);
      EXPECT_LE(t.size(), 63u);
      EXPECT_GT(t.size(), 63u - ch.size()) << "cut more than one character";
      EXPECT_TRUE(IsWholeUtf8(t)) << "pad " << pad << " char " << ch;
      EXPECT_EQ(name.compare(0, t.size(), t), 0) << "not a prefix";
    }
  }
  // 21 three-byte characters are exactly 63 bytes; a 22nd is dropped whole.
  std::string three;
  for (int i = 0; i < 22; ++i) three += "表";
  EXPECT_EQ(TruncateIdent(three).size(), 63u);
  EXPECT_EQ(TruncateIdent(three), three.substr(0, 63));
  // 32 two-byte characters: 64 bytes, cut to 31 characters (62 bytes).
  std::string two;
  for (int i = 0; i < 32; ++i) two += "é";
  EXPECT_EQ(TruncateIdent(two), two.substr(0, 62));
}

}  // namespace
}  // namespace shadowcopy
