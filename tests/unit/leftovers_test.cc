// Tests of the refusal a new run gives when an earlier run's objects are in
// its way (engine/table/leftovers.h): each suggests only commands that act on what
// is there.
#include "engine/table/leftovers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace shadowcopy::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

LeftoverFacts Facts() {
  LeftoverFacts f;
  f.schema = "public";
  f.table = "orders";
  f.old_table = "_orders_old";
  return f;
}

TEST(LeftoverRefusal, NothingInTheWay) { EXPECT_THAT(LeftoverRefusal(Facts()), IsEmpty()); }

TEST(LeftoverRefusal, OldTableAloneSaysDropItByHandNotResumeOrCleanup) {
  LeftoverFacts f = Facts();
  f.old_table_exists = true;
  std::string msg = LeftoverRefusal(f);
  EXPECT_THAT(msg, HasSubstr(R"(DROP TABLE "public"."_orders_old")"));
  EXPECT_THAT(msg, HasSubstr("no longer needed"));
  EXPECT_THAT(msg, Not(HasSubstr("--resume")));
  EXPECT_THAT(msg, Not(HasSubstr("cleanup")));
}

TEST(LeftoverRefusal, ResumableRunSuggestsResumeAndCleanup) {
  LeftoverFacts f = Facts();
  f.objects = {"replication slot shadowcopy_1", "publication shadowcopy_1", "table _orders_shadow"};
  f.run_id = "r1";
  f.run_resumable = true;
  std::string msg = LeftoverRefusal(f);
  EXPECT_THAT(msg, HasSubstr("replication slot shadowcopy_1, publication shadowcopy_1, table _orders_shadow"));
  EXPECT_THAT(msg, HasSubstr("--resume"));
  EXPECT_THAT(msg, HasSubstr("`shadowcopy cleanup --schema public --table orders --execute`"));
  EXPECT_THAT(msg, Not(HasSubstr("DROP TABLE")));
}

TEST(LeftoverRefusal, RunWithoutItsSlotCannotBeResumed) {
  LeftoverFacts f = Facts();
  f.objects = {"table _orders_shadow"};
  f.run_id = "r1";
  f.run_resumable = true;
  std::string msg = LeftoverRefusal(f);
  EXPECT_THAT(msg, HasSubstr("cleanup"));
  EXPECT_THAT(msg, Not(HasSubstr("--resume")));
}

TEST(LeftoverRefusal, SwappedRunSaysFinishItThenTheOldTable) {
  LeftoverFacts f = Facts();
  f.run_id = "r1";
  f.run_swapped = true;
  f.old_table_exists = true;
  std::string msg = LeftoverRefusal(f);
  EXPECT_THAT(msg, HasSubstr("after its swap committed"));
  EXPECT_THAT(msg, HasSubstr("`shadowcopy cleanup --schema public --table orders --execute`"));
  EXPECT_THAT(msg, HasSubstr(R"(DROP TABLE "public"."_orders_old")"));
}

TEST(LeftoverRefusal, RecordAloneNamesTheRun) {
  LeftoverFacts f = Facts();
  f.run_id = "r1";
  EXPECT_THAT(LeftoverRefusal(f), HasSubstr("the record of run r1"));
}

}  // namespace
}  // namespace shadowcopy::engine
