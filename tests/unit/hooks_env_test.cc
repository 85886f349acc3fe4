// Hooks, the pure half: event names, hook file names, the variables a hook
// gets and the environment it is started with.
#include "engine/control/hooks_env.h"

#include <algorithm>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

std::string VarOf(const HookVars& vars, const std::string& name) {
  for (const auto& [n, v] : vars)
    if (n == name) return v;
  return "<unset>";
}

TEST(HookNamesTest, EventsAndFiles) {
  for (const char* e : {"startup", "validated", "before-row-copy", "row-copy-complete", "status", "begin-postponed",
                        "before-cutover", "success", "failure", "interactive-command", "batch-retry",
                        "migration-start", "migration-applied", "migration-failed", "revert-window-open",
                        "revert-window-closed", "health-check-failed", "reverted"})
    EXPECT_TRUE(IsHookEvent(e)) << e;
  for (const char* bad : {"", "Success", "on-success", "shadowcopy-on-success", "success ", "cutover"})
    EXPECT_FALSE(IsHookEvent(bad)) << bad;
  EXPECT_EQ(HookFileName("before-cutover"), "shadowcopy-on-before-cutover");
  EXPECT_EQ(HookEventOfFile("shadowcopy-on-before-cutover"), "before-cutover");
  EXPECT_EQ(HookEventOfFile("shadowcopy-on-bogus"), "bogus");  // a hook name, no known event
  EXPECT_EQ(HookEventOfFile("shadowcopy-on-"), "");
  EXPECT_EQ(HookEventOfFile("README.md"), std::nullopt);
  EXPECT_EQ(HookEventOfFile("gh-ost-on-success"), std::nullopt);
  for (const auto& e : HookEvents()) EXPECT_EQ(HookEventOfFile(HookFileName(e)), e);
}

TEST(HookNamesTest, VariableNames) {
  EXPECT_TRUE(IsHookVarName("SHADOWCOPY_ERROR"));
  EXPECT_TRUE(IsHookVarName("SHADOWCOPY_RETRY_ATTEMPT2"));
  for (const char* bad : {"", "SHADOWCOPY_", "PATH", "shadowcopy_error", "SHADOWCOPY_A=B", "SHADOWCOPY_A B",
                          "SHADOWCOPY_É", "LD_PRELOAD"})
    EXPECT_FALSE(IsHookVarName(bad)) << bad;
}

TEST(HookVarsTest, StandardVariablesInOrder) {
  HookFacts f;
  f.database = "app";
  f.schema = "public";
  f.table = "orders";
  f.alter = "ALTER COLUMN id TYPE bigint";
  f.run_id = "16384-abc";
  f.phase = "copy";
  f.rows_copied = 1500;
  f.rows_estimated = 3000;
  f.changes_replayed = 7;
  f.elapsed_s = 12.9;
  f.eta_s = 4.2;
  auto vars = BuildHookVars("status", f, {});
  EXPECT_THAT(vars, ElementsAre(Pair("SHADOWCOPY_EVENT", "status"), Pair("SHADOWCOPY_DATABASE", "app"),
                                Pair("SHADOWCOPY_SCHEMA", "public"), Pair("SHADOWCOPY_TABLE", "orders"),
                                Pair("SHADOWCOPY_ALTER", "ALTER COLUMN id TYPE bigint"),
                                Pair("SHADOWCOPY_MIGRATION_VERSION", ""), Pair("SHADOWCOPY_MIGRATION_DESCRIPTION", ""),
                                Pair("SHADOWCOPY_RUN_ID", "16384-abc"), Pair("SHADOWCOPY_PHASE", "copy"),
                                Pair("SHADOWCOPY_ROWS_COPIED", "1500"), Pair("SHADOWCOPY_ROWS_ESTIMATED", "3000"),
                                Pair("SHADOWCOPY_CHANGES_REPLAYED", "7"), Pair("SHADOWCOPY_ELAPSED_SECONDS", "12"),
                                Pair("SHADOWCOPY_ETA_SECONDS", "4")));
}

TEST(HookVarsTest, UnknownFactsAreEmptyNotMissing) {
  auto vars = BuildHookVars("startup", HookFacts{}, {});
  EXPECT_EQ(VarOf(vars, "SHADOWCOPY_ROWS_COPIED"), "");
  EXPECT_EQ(VarOf(vars, "SHADOWCOPY_ETA_SECONDS"), "");
  EXPECT_EQ(VarOf(vars, "SHADOWCOPY_TABLE"), "");
  HookFacts negative;
  negative.eta_s = -3;  // never a negative count
  EXPECT_EQ(VarOf(BuildHookVars("status", negative, {}), "SHADOWCOPY_ETA_SECONDS"), "0");
}

TEST(HookVarsTest, ExtrasAddOrReplaceAndBadNamesAreDropped) {
  HookFacts f;
  f.table = "t";
  auto vars = BuildHookVars("failure", f,
                            {{"SHADOWCOPY_ERROR", "boom; rm -rf / $(x) `y` 'z'\nline 2"},
                             {"SHADOWCOPY_TABLE", "other"},
                             {"PATH", "/evil"},
                             {"SHADOWCOPY_bad", "x"},
                             {"SHADOWCOPY_NUL", std::string("ab\0cd", 5)}});
  EXPECT_EQ(VarOf(vars, "SHADOWCOPY_ERROR"), "boom; rm -rf / $(x) `y` 'z'\nline 2");  // as is: no shell sees it
  EXPECT_EQ(VarOf(vars, "SHADOWCOPY_TABLE"), "other");
  EXPECT_EQ(VarOf(vars, "PATH"), "<unset>");
  EXPECT_EQ(VarOf(vars, "SHADOWCOPY_bad"), "<unset>");
  EXPECT_EQ(VarOf(vars, "SHADOWCOPY_NUL"), "ab");
  EXPECT_EQ(vars.front().first, "SHADOWCOPY_EVENT");
  EXPECT_EQ(std::count_if(vars.begin(), vars.end(), [](const auto& v) { return v.first == "SHADOWCOPY_TABLE"; }), 1);
}

TEST(HookEnvironmentTest, OursReplaceInheritedOnesTheRestStays) {
  std::vector<std::string> inherited = {"PATH=/usr/bin", "SHADOWCOPY_WEBHOOK_URL=http://x", "SHADOWCOPY_ERROR=stale",
                                        "SHADOWCOPY_EVENT=stale", "HOME=/root", "SHADOWCOPY_COMMAND=old"};
  auto env = MergeHookEnvironment(inherited, {{"SHADOWCOPY_EVENT", "success"}, {"SHADOWCOPY_COMMAND", "status"}});
  EXPECT_THAT(env, ElementsAre("PATH=/usr/bin", "SHADOWCOPY_WEBHOOK_URL=http://x", "HOME=/root",
                               "SHADOWCOPY_EVENT=success", "SHADOWCOPY_COMMAND=status"));
}

}  // namespace
}  // namespace shadowcopy::engine
