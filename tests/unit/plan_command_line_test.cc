// `shadowcopy plan ...`: the words after `plan` reach its own parser whole.
#include "cli/options.h"
#include "gtest/gtest.h"

namespace shadowcopy::cli {
namespace {

TEST(PlanCommandLineTest, WordsAfterPlanGoToItsParser) {
  auto o = ParseOptions({"plan", "--dsn", "dbname=x", "--format", "json", "--help", "V1__a.sql", "-"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->command, Command::kPlan);
  EXPECT_EQ(o->ctl_args,
            (std::vector<std::string>{"--dsn", "dbname=x", "--format", "json", "--help", "V1__a.sql", "-"}));
}

TEST(PlanCommandLineTest, PlanAfterOtherArgumentsIsAStrayWord) {
  EXPECT_FALSE(ParseOptions({"--table", "t", "plan"}).ok());
}

}  // namespace
}  // namespace shadowcopy::cli
