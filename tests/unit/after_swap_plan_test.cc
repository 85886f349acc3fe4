// Tests of the dry run's description of a run killed after its swap
// (engine/rewrite/after_swap.h FormatFinishPlan).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/rewrite/after_swap.h"

namespace shadowcopy::engine {
namespace {

using ::testing::HasSubstr;

SwappedRun KilledRun() {
  SwappedRun run;
  run.run_id = "16390-ab";
  run.schema = "public";
  run.table = "orders";
  run.original_oid = 16390;
  run.slot = run.publication = "shadowcopy_16390";
  run.slot_exists = run.publication_exists = true;
  run.statements = {"ALTER SEQUENCE s OWNED BY t.id", "ALTER TABLE t VALIDATE CONSTRAINT c"};
  return run;
}

TEST(FormatFinishPlan, ListsSlotPublicationAndEveryStatementInOrder) {
  std::string plan = FormatFinishPlan(KilledRun());
  EXPECT_THAT(plan, HasSubstr("dry run: nothing was changed"));
  EXPECT_THAT(plan, HasSubstr("will remove: replication slot shadowcopy_16390, publication \"shadowcopy_16390\""));
  EXPECT_THAT(plan, HasSubstr("after swap:  ALTER SEQUENCE s OWNED BY t.id\n"
                              "               ALTER TABLE t VALIDATE CONSTRAINT c\n"));
  EXPECT_THAT(plan, HasSubstr("`shadowcopy cleanup --schema public --table orders --execute`"));
}

TEST(FormatFinishPlan, SaysWhenOnlyTheRecordIsLeft) {
  SwappedRun run = KilledRun();
  run.slot_exists = run.publication_exists = false;
  run.statements.clear();
  std::string plan = FormatFinishPlan(run);
  EXPECT_THAT(plan, HasSubstr("will remove: nothing (slot and publication are gone)"));
  EXPECT_THAT(plan, HasSubstr("after swap:  nothing left"));
  EXPECT_THAT(plan, HasSubstr("the run is marked finished"));
}

}  // namespace
}  // namespace shadowcopy::engine
