// Tests of the inheritance shapes a rewrite accepts and of the swap's
// inheritance statements (engine/inheritance.h), without a server.
#include "engine/inheritance.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace shadowcopy::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(InheritanceShape, PlainChildAndParentAreAccepted) {
  EXPECT_TRUE(CheckInheritanceShape("t", {}).ok());
  EXPECT_TRUE(CheckInheritanceShape("t", {{{"\"p\"", 'r'}}, {}}).ok());
  EXPECT_TRUE(CheckInheritanceShape("t", {{{"\"p\"", 'r'}, {"\"q\"", 'r'}}, {}}).ok());
  EXPECT_TRUE(CheckInheritanceShape("t", {{}, {{"\"c1\"", 'r'}, {"\"c2\"", 'r'}}}).ok());
}

TEST(InheritanceShape, RefusedShapesSayWhy) {
  auto middle = CheckInheritanceShape("\"t\"", {{{"\"p\"", 'r'}}, {{"\"c\"", 'r'}}});
  EXPECT_EQ(middle.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(middle.message(), HasSubstr("both an inheritance parent and an inheritance child"));
  auto partition = CheckInheritanceShape("\"t\"", {{{"\"p\"", 'p'}}, {}});
  EXPECT_EQ(partition.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(partition.message(), HasSubstr("is a partition"));
  auto foreign_child = CheckInheritanceShape("\"t\"", {{}, {{"\"ft\"", 'f'}}});
  EXPECT_EQ(foreign_child.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(foreign_child.message(), HasSubstr("\"ft\", which is not an ordinary table"));
  auto foreign_parent = CheckInheritanceShape("\"t\"", {{{"\"fp\"", 'f'}}, {}});
  EXPECT_EQ(foreign_parent.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(InheritanceSwap, ChildLeavesItsParentsThenTheNewTableJoinsThem) {
  InheritanceInfo info{{{"\"public\".\"p\"", 'r'}, {"\"public\".\"q\"", 'r'}}, {}};
  InheritanceSwap s = BuildInheritanceSwap(info, "\"public\".\"t\"");
  EXPECT_THAT(s.detach, ElementsAre("ALTER TABLE \"public\".\"t\" NO INHERIT \"public\".\"p\"",
                                    "ALTER TABLE \"public\".\"t\" NO INHERIT \"public\".\"q\""));
  EXPECT_THAT(s.attach, ElementsAre("ALTER TABLE \"public\".\"t\" INHERIT \"public\".\"p\"",
                                    "ALTER TABLE \"public\".\"t\" INHERIT \"public\".\"q\""));
}

TEST(InheritanceSwap, ParentsChildrenAreRePointed) {
  InheritanceInfo info{{}, {{"\"public\".\"c\"", 'r'}}};
  InheritanceSwap s = BuildInheritanceSwap(info, "\"public\".\"t\"");
  EXPECT_THAT(s.detach, ElementsAre("ALTER TABLE \"public\".\"c\" NO INHERIT \"public\".\"t\""));
  EXPECT_THAT(s.attach, ElementsAre("ALTER TABLE \"public\".\"c\" INHERIT \"public\".\"t\""));
  EXPECT_THAT(BuildInheritanceRehearsal(info, "\"public\".\"_t_shadow\""),
              ElementsAre("ALTER TABLE \"public\".\"c\" INHERIT \"public\".\"_t_shadow\""));
}

TEST(InheritanceSwap, NoTreeNoStatements) {
  InheritanceSwap s = BuildInheritanceSwap({}, "\"public\".\"t\"");
  EXPECT_THAT(s.detach, IsEmpty());
  EXPECT_THAT(s.attach, IsEmpty());
}

}  // namespace
}  // namespace shadowcopy::engine
