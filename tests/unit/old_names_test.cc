// Tests of the names each run gives the original table and its objects at
// the swap (engine/table/old_names.h, NamesFor).
#include "engine/table/old_names.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/time/time.h"
#include "engine/table/inspector.h"

namespace shadowcopy::engine {
namespace {

absl::Time At(int y, int mo, int d, int h, int mi, int s) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

TEST(OldNamesTest, SuffixIsTheRunsUtcStartToTheSecond) {
  EXPECT_EQ(OldSuffixAt(At(2026, 12, 3, 4, 5, 6)), "_old_20261203040506");
  EXPECT_EQ(OldSuffixAt(At(2026, 12, 3, 4, 5, 6) + absl::Milliseconds(999)), "_old_20261203040506");
  // Not the local time zone's.
  EXPECT_EQ(OldSuffixAt(absl::FromUnixSeconds(0)), "_old_19700101000000");
}

TEST(OldNamesTest, ShortTableKeepsItsWholeName) {
  ObjectNames n = NamesFor("public", "orders", 16385, "_old_20261203040506");
  EXPECT_EQ(n.old_table, "_orders_old_20261203040506");
  EXPECT_EQ(n.old_suffix, "_old_20261203040506");
  EXPECT_EQ(n.shadow, "_orders_shadow");
  EXPECT_EQ(n.slot, "shadowcopy_16385");
}

TEST(OldNamesTest, TwoRunsOfATableGetTwoNames) {
  EXPECT_NE(NamesFor("public", "orders", 1, OldSuffixAt(At(2026, 12, 3, 4, 5, 6))).old_table,
            NamesFor("public", "orders", 2, OldSuffixAt(At(2026, 12, 3, 4, 5, 7))).old_table);
}

TEST(OldNamesTest, LegacySuffixNamesAsBefore) {
  EXPECT_EQ(NamesFor("public", "orders", 1, kLegacyOldSuffix).old_table, "_orders_old");
  // The legacy runs cut a long name without a hash: resume finds it so.
  std::string long_table(63, 'a');
  EXPECT_EQ(OldTableName(long_table, kLegacyOldSuffix), "_" + std::string(58, 'a') + "_old");
}

TEST(OldNamesTest, LongTableIsCutNeverTheSuffix) {
  const std::string suffix = "_old_20261203040506";
  std::string t63(63, 'x');
  std::string name = OldTableName(t63, suffix);
  EXPECT_EQ(name.size(), 63u) << name;
  EXPECT_EQ(name.substr(name.size() - suffix.size()), suffix);
  EXPECT_EQ(name.substr(0, 2), "_x");
  // Predictable: the same input, the same name.
  EXPECT_EQ(OldTableName(t63, suffix), name);
}

TEST(OldNamesTest, TwoLongTablesWithTheSamePrefixStayApart) {
  const std::string suffix = "_old_20261203040506";
  std::string a = std::string(60, 'x') + "aaa";
  std::string b = std::string(60, 'x') + "bbb";
  EXPECT_NE(OldTableName(a, suffix), OldTableName(b, suffix));
  // Nor does a cut name meet a short table named like its cut prefix.
  std::string cut = OldTableName(a, suffix);
  std::string prefix = cut.substr(1, cut.size() - 1 - suffix.size());
  EXPECT_NE(OldTableName(prefix, suffix), cut);
}

TEST(OldNamesTest, EveryLengthFitsIn63Bytes) {
  const std::string suffix = "_old_20261203040506";
  for (size_t len = 1; len <= 63; ++len) {
    std::string name = OldTableName(std::string(len, 't'), suffix);
    EXPECT_LE(name.size(), 63u) << len;
    EXPECT_EQ(name.substr(name.size() - suffix.size()), suffix) << len;
  }
}

TEST(OldNamesTest, MultibyteNameIsCutOnACharacterBoundary) {
  const std::string suffix = "_old_20261203040506";
  std::string t = "a";
  while (t.size() < 63) t += "ż";  // 2 bytes each
  std::string name = OldTableName(t, suffix);
  EXPECT_LE(name.size(), 63u);
  std::string middle = name.substr(1, name.size() - 1 - suffix.size());
  // Whole characters only before the hash ("_xxxxxxxx"): "a", then pairs.
  std::string chars = middle.substr(0, middle.size() - 9);
  EXPECT_EQ((chars.size() - 1) % 2, 0u) << name;
  EXPECT_EQ(chars.substr(chars.size() - 2), "ż") << name;
}

// A 63-byte table and its primary key (named by the server with the table's
// name cut to fit "_pkey") cut on a 2-byte character to fewer than 63 bytes:
// still two names.
TEST(OldNamesTest, TableAndItsCutIndexNameStayApartWhenTheCutEndsShort) {
  const std::string suffix = "_old_20261203104535";
  std::string table = "Größe's Tabelle ";
  while (table.size() < 61) table += "ä";
  while (table.size() < 63) table += "x";
  std::string pkey = table.substr(0, 57) + "_pkey";  // 57: a whole "ä" fits
  ASSERT_EQ(pkey.size(), 62u);
  EXPECT_NE(OldTableName(table, suffix), OldObjectName(pkey, suffix));
  EXPECT_LE(OldObjectName(pkey, suffix).size(), 63u);
  EXPECT_LE(OldTableName(table, suffix).size(), 63u);
}

TEST(OldNamesTest, IndexNamesCarryTheRunsSuffix) {
  EXPECT_EQ(OldObjectName("orders_pkey", "_old_20261203040506"), "_orders_pkey_old_20261203040506");
  EXPECT_EQ(OldObjectName("orders_pkey", kLegacyOldSuffix), "_orders_pkey_old");
}

}  // namespace
}  // namespace shadowcopy::engine
