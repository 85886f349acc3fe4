#include "engine/rewrite/verify_wording.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const char kNew[] = "\"public\".\"orders\"";
const char kOld[] = "\"public\".\"_orders_old_20260101000000\"";

TEST(VerifyWordingTest, ForwardLinesAreUnchanged) {
  VerifyWording w = ForwardVerifyWording();
  EXPECT_EQ(RangeDiffersText(w, "id in (1, 2]", 1, 3, 5, 4, {"(2) (only in original)"}),
            "verify: range id in (1, 2] differs (1 of 3): 5 rows in the original, 4 in the new table; first "
            "differing keys: (2) (only in original)");
  EXPECT_EQ(RangeStillDiffersText(w, "id in (1, 2]", "\"public\".\"orders\"", 2, 5, 4, {"(2) (differs)"}),
            "verification: range id in (1, 2] of \"public\".\"orders\" still differs after 2 repairs (5 rows in the "
            "original, 4 in the new table; first differing keys: (2) (differs)); stopping before the cutover, the "
            "original table is untouched");
  EXPECT_EQ(RangeRepairedText(w, "id in (1, 2]", 4, 5, 1.5),
            "verify: repaired range id in (1, 2]: 4 rows of the new table replaced by 5 copied (1.5 ms)");
  EXPECT_EQ(NotComparedText(w, "\"region\""), "verify: not compared (no source in the original table): \"region\"");
  EXPECT_EQ(OneRangeNote(w), " (the new key orders rows differently: one range)");
  EXPECT_EQ(CorruptedTableText(w), "the new table");
}

// The revert's check compares the old table (checked and repaired) with the
// new table mapped back (where rows come from): every line names them so.
TEST(VerifyWordingTest, RevertLinesNameTheOldTableAsChecked) {
  VerifyWording w = RevertVerifyWording(kNew, kOld);
  std::string differs = RangeDiffersText(w, "id in (1, 2]", 1, 3, 5, 4,
                                         {"(2) (only in original)", "(3) (only in new table)", "(4) (differs)"});
  EXPECT_EQ(differs, std::string("verify: range id in (1, 2] differs (1 of 3): 5 rows in the new table ") + kNew +
                         ", 4 in the old table " + kOld + "; first differing keys: (2) (only in the new table), (3) "
                         "(only in the old table), (4) (differs)");
  std::string still = RangeStillDiffersText(w, "id in (1, 2]", kOld, 2, 5, 4, {"(2) (only in new table)"});
  EXPECT_THAT(still, HasSubstr(std::string("5 rows in the new table ") + kNew + ", 4 in the old table " + kOld));
  EXPECT_THAT(still, HasSubstr("(2) (only in the old table)"));
  EXPECT_THAT(still, HasSubstr("the revert stops, both tables are untouched"));
  EXPECT_THAT(still, Not(HasSubstr("cutover")));
  EXPECT_THAT(still, Not(HasSubstr("original")));
  EXPECT_EQ(RangeRepairedText(w, "id in (1, 2]", 4, 5, 1.5),
            std::string("verify: repaired range id in (1, 2]: 4 rows of the old table ") + kOld +
                " replaced by 5 copied from the new table " + kNew + " (1.5 ms)");
  EXPECT_EQ(NotComparedText(w, "\"note\""), std::string("verify: not compared (columns of the old table ") + kOld +
                                                " with no source in the new table " + kNew + "): \"note\"");
  EXPECT_THAT(OneRangeNote(w), HasSubstr("the old table's key"));
  EXPECT_EQ(CorruptedTableText(w), std::string("the old table ") + kOld);
}

TEST(VerifyWordingTest, DifferingKeyLabelsOnlyTranslatedOnTheWayBack) {
  EXPECT_EQ(DifferingKeyText(ForwardVerifyWording(), "(7) (only in new table)"), "(7) (only in new table)");
  VerifyWording w = RevertVerifyWording(kNew, kOld);
  EXPECT_EQ(DifferingKeyText(w, "(7) (only in new table)"), "(7) (only in the old table)");
  EXPECT_EQ(DifferingKeyText(w, "(7) (only in original)"), "(7) (only in the new table)");
  EXPECT_EQ(DifferingKeyText(w, "(7) (differs)"), "(7) (differs)");
  EXPECT_EQ(DifferingKeyText(w, ""), "");
}

}  // namespace
}  // namespace shadowcopy::engine
