// Tests of the CLI11 command-line definition (cli/command_line.h) as seen
// through ParseOptions and the generated help.
#include "cli/command_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/options.h"

namespace shadowcopy::cli {
namespace {

using ::testing::HasSubstr;

TEST(CommandLineTest, RepeatedOptionLastWins) {
  auto o = ParseOptions({"--table", "a", "--table", "b", "--chunk-size", "5", "--chunk-size=7",
                         "--verify", "off", "--verify=on"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config.table, "b");
  EXPECT_EQ(o->config.chunk_size, 7);
  EXPECT_TRUE(o->config.verify);
  auto b = ParseOptions(
      {"backfill", "--table", "items", "--delete", "--where", "true", "--table", "other"});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->config.table, "other");
}

TEST(CommandLineTest, CtlKeepsEveryWordIncludingHelp) {
  auto o = ParseOptions({"ctl", "--socket", "/tmp/s", "set", "chunk-size=5", "-h", "--json"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->command, Command::kCtl);
  EXPECT_EQ(o->ctl_args, (std::vector<std::string>{"--socket", "/tmp/s", "set", "chunk-size=5",
                                                   "-h", "--json"}));
}

TEST(CommandLineTest, CleanupTakesTheMainOptions) {
  auto o =
      ParseOptions({"cleanup", "--table", "t", "--schema", "s", "--dsn", "dbname=x", "--execute"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->command, Command::kCleanup);
  EXPECT_EQ(o->config.schema, "s");
  EXPECT_EQ(o->config.dsn, "dbname=x");
  EXPECT_TRUE(o->config.execute);
}

TEST(CommandLineTest, SubcommandOnlyAsTheFirstWord) {
  for (const char* sub : {"backfill", "cleanup", "ctl", "verify"}) {
    auto o = ParseOptions({"--table", "t", sub});
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << sub;
    EXPECT_THAT(std::string(o.status().message()), HasSubstr(sub));
  }
}

TEST(CommandLineTest, NegativeNumberIsAValue) {
  auto o = ParseOptions({"--table", "t", "--max-lock-waiters", "-1"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config.control.max_lock_waiters, -1);
}

// Every option the parser accepts is described in the help of its command.
TEST(CommandLineTest, HelpListsEveryVisibleOption) {
  auto cl = BuildCommandLine();
  const std::string main_help = UsageText();
  const std::string backfill_help = BackfillUsageText();
  for (const auto& r : cl->rewrite_options) {
    if (!r.option->get_group().empty()) {
      EXPECT_THAT(main_help, HasSubstr(r.name + " ")) << r.name;
    }
  }
  for (const auto& r : cl->backfill_options) {
    if (!r.option->get_group().empty()) {
      EXPECT_THAT(backfill_help, HasSubstr(r.name + " ")) << r.name;
    }
  }
  EXPECT_THAT(main_help, HasSubstr("--verify"));
  EXPECT_THAT(backfill_help, HasSubstr("Usage: shadowcopy backfill"));
  EXPECT_THAT(backfill_help, ::testing::Not(HasSubstr("--alter")));
  EXPECT_THAT(main_help, ::testing::Not(HasSubstr("--lock-retries")));
}

}  // namespace
}  // namespace shadowcopy::cli
