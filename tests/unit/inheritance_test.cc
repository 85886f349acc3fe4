// Tests of the inheritance shapes a rewrite accepts and of the swap's
// inheritance statements (engine/table/inheritance.h), without a server.
#include "engine/table/inheritance.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace shadowcopy::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

InheritanceInfo Tree(std::vector<InheritanceMember> parents, std::vector<InheritanceMember> children,
                     std::string bound = "", std::string constraint = "") {
  InheritanceInfo info;
  info.parents = std::move(parents);
  info.children = std::move(children);
  info.partition_bound = std::move(bound);
  info.partition_constraint = std::move(constraint);
  return info;
}

TEST(InheritanceShape, PlainChildAndParentAreAccepted) {
  EXPECT_TRUE(CheckInheritanceShape("t", {}).ok());
  EXPECT_TRUE(CheckInheritanceShape("t", Tree({{"\"p\"", 'r'}}, {})).ok());
  EXPECT_TRUE(CheckInheritanceShape("t", Tree({{"\"p\"", 'r'}, {"\"q\"", 'r'}}, {})).ok());
  EXPECT_TRUE(CheckInheritanceShape("t", Tree({}, {{"\"c1\"", 'r'}, {"\"c2\"", 'r'}})).ok());
  EXPECT_TRUE(CheckInheritanceShape("t", Tree({{"\"parted\"", 'p'}}, {})).ok());
}

TEST(PartitionFacts, EachObstacleIsRefusedWithItsReason) {
  EXPECT_TRUE(CheckPartitionFacts("\"t\"", {}).ok());
  auto with_default = CheckPartitionFacts("\"t\"", {true, false, false});
  EXPECT_EQ(with_default.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(with_default.message(), HasSubstr("default partition"));
  auto referenced = CheckPartitionFacts("\"t\"", {false, true, false});
  EXPECT_EQ(referenced.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(referenced.message(), HasSubstr("a foreign key references"));
  auto inherited_fk = CheckPartitionFacts("\"t\"", {false, false, true});
  EXPECT_EQ(inherited_fk.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(inherited_fk.message(), HasSubstr("foreign keys"));
}

TEST(InheritanceSwap, PartitionIsDetachedAndTheNewTableAttachedWithTheSameBound) {
  InheritanceInfo info = Tree({{"\"public\".\"parted\"", 'p'}}, {}, "FOR VALUES FROM (0) TO (100)",
                              "((k IS NOT NULL) AND (k >= 0) AND (k < 100))");
  ASSERT_TRUE(info.IsPartition());
  InheritanceSwap s = BuildInheritanceSwap(info, "\"public\".\"p1\"");
  EXPECT_THAT(s.detach, ElementsAre("ALTER TABLE \"public\".\"parted\" DETACH PARTITION \"public\".\"p1\""));
  EXPECT_THAT(s.attach,
              ElementsAre("ALTER TABLE \"public\".\"parted\" ATTACH PARTITION \"public\".\"p1\" FOR VALUES FROM (0) TO (100)",
                          "ALTER TABLE \"public\".\"p1\" DROP CONSTRAINT \"shadowcopy_partition_bound\""));
  // A default partition alone has no partition constraint: no CHECK to drop.
  InheritanceInfo def = Tree({{"\"public\".\"parted\"", 'p'}}, {}, "DEFAULT", "");
  EXPECT_THAT(BuildInheritanceSwap(def, "\"public\".\"p1\"").attach,
              ElementsAre("ALTER TABLE \"public\".\"parted\" ATTACH PARTITION \"public\".\"p1\" DEFAULT"));
}

TEST(InheritanceShape, RefusedShapesSayWhy) {
  auto middle = CheckInheritanceShape("\"t\"", Tree({{"\"p\"", 'r'}}, {{"\"c\"", 'r'}}));
  EXPECT_EQ(middle.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(middle.message(), HasSubstr("both an inheritance parent and an inheritance child"));
  auto foreign_child = CheckInheritanceShape("\"t\"", Tree({}, {{"\"ft\"", 'f'}}));
  EXPECT_EQ(foreign_child.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(foreign_child.message(), HasSubstr("\"ft\", which is not an ordinary table"));
  auto foreign_parent = CheckInheritanceShape("\"t\"", Tree({{"\"fp\"", 'f'}}, {}));
  EXPECT_EQ(foreign_parent.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(InheritanceSwap, ChildLeavesItsParentsThenTheNewTableJoinsThem) {
  InheritanceInfo info = Tree({{"\"public\".\"p\"", 'r'}, {"\"public\".\"q\"", 'r'}}, {});
  InheritanceSwap s = BuildInheritanceSwap(info, "\"public\".\"t\"");
  EXPECT_THAT(s.detach, ElementsAre("ALTER TABLE \"public\".\"t\" NO INHERIT \"public\".\"p\"",
                                    "ALTER TABLE \"public\".\"t\" NO INHERIT \"public\".\"q\""));
  EXPECT_THAT(s.attach, ElementsAre("ALTER TABLE \"public\".\"t\" INHERIT \"public\".\"p\"",
                                    "ALTER TABLE \"public\".\"t\" INHERIT \"public\".\"q\""));
}

TEST(InheritanceSwap, ParentsChildrenAreRePointed) {
  InheritanceInfo info = Tree({}, {{"\"public\".\"c\"", 'r'}});
  InheritanceSwap s = BuildInheritanceSwap(info, "\"public\".\"t\"");
  EXPECT_THAT(s.detach, ElementsAre("ALTER TABLE \"public\".\"c\" NO INHERIT \"public\".\"t\""));
  EXPECT_THAT(s.attach, ElementsAre("ALTER TABLE \"public\".\"c\" INHERIT \"public\".\"t\""));
  EXPECT_THAT(BuildInheritanceAttach(info, "\"public\".\"_t_shadow\""),
              ElementsAre("ALTER TABLE \"public\".\"c\" INHERIT \"public\".\"_t_shadow\""));
}

TEST(InheritanceSwap, NoTreeNoStatements) {
  InheritanceSwap s = BuildInheritanceSwap({}, "\"public\".\"t\"");
  EXPECT_THAT(s.detach, IsEmpty());
  EXPECT_THAT(s.attach, IsEmpty());
}

}  // namespace
}  // namespace shadowcopy::engine
