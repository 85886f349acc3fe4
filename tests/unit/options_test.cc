// Tests of command-line parsing (cli/options.h): ParseOptions, ParseDuration
// and the SHADOWCOPY_TEST_* environment hooks.
#include "cli/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace shadowcopy::cli {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

absl::StatusCode CodeOf(const std::vector<std::string>& args) { return ParseOptions(args).status().code(); }

// ---- ParseOptions ----

TEST(ParseOptionsTest, TableOnlyGivesDryRunDefaults) {
  auto o = ParseOptions({"--table", "orders"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->command, Command::kMigrate);
  EXPECT_EQ(o->config.table, "orders");
  EXPECT_EQ(o->config.schema, "public");
  EXPECT_FALSE(o->config.execute);
  EXPECT_EQ(o->config.chunk_size, 10000);
  EXPECT_EQ(o->config.lock_timeout, milliseconds(2000));
}

TEST(ParseOptionsTest, TableIsRequired) {
  auto o = ParseOptions({"--execute"});
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(o.status().message()), HasSubstr("--table"));
  EXPECT_EQ(CodeOf({}), absl::StatusCode::kInvalidArgument);
}

TEST(ParseOptionsTest, EmptyTableOrSchemaRefused) {
  EXPECT_EQ(CodeOf({"--table="}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf({"--table", "t", "--schema="}), absl::StatusCode::kInvalidArgument);
}

TEST(ParseOptionsTest, EqualsAndSeparateValueFormsAgree) {
  auto a = ParseOptions({"--table=t", "--schema=s", "--alter=ADD COLUMN x int", "--dsn=host=h a=b",
                         "--chunk-size=500"});
  auto b = ParseOptions({"--table", "t", "--schema", "s", "--alter", "ADD COLUMN x int", "--dsn",
                         "host=h a=b", "--chunk-size", "500"});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  for (const auto* o : {&*a, &*b}) {
    EXPECT_EQ(o->config.table, "t");
    EXPECT_EQ(o->config.schema, "s");
    EXPECT_EQ(o->config.alter, "ADD COLUMN x int");
    EXPECT_EQ(o->config.dsn, "host=h a=b");  // only the first '=' splits
    EXPECT_EQ(o->config.chunk_size, 500);
  }
}

TEST(ParseOptionsTest, FlagsSet) {
  auto o = ParseOptions({"--table", "t", "--execute", "--drop-old-table", "--verbose"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->config.execute);
  EXPECT_TRUE(o->config.drop_old_table);
  EXPECT_TRUE(o->verbose);
}

TEST(ParseOptionsTest, FlagWithValueRefused) {
  EXPECT_EQ(CodeOf({"--table", "t", "--execute=yes"}), absl::StatusCode::kInvalidArgument);
}

TEST(ParseOptionsTest, MissingValueRefused) {
  auto o = ParseOptions({"--table"});
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(o.status().message()), HasSubstr("needs a value"));
  EXPECT_EQ(CodeOf({"--table", "t", "--chunk-size"}), absl::StatusCode::kInvalidArgument);
}

TEST(ParseOptionsTest, DurationsInEveryUnit) {
  auto o = ParseOptions({"--table", "t", "--lock-timeout", "500ms", "--cutover-lock-timeout=2s",
                         "--cutover-drain-timeout", "1.5s", "--progress-interval=1m"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config.lock_timeout, milliseconds(500));
  EXPECT_EQ(o->config.cutover_lock_timeout, milliseconds(2000));
  EXPECT_EQ(o->config.cutover_drain_timeout, milliseconds(1500));
  EXPECT_EQ(o->config.progress_interval, milliseconds(60000));
}

TEST(ParseOptionsTest, ZeroOrBadDurationRefused) {
  EXPECT_EQ(CodeOf({"--table", "t", "--lock-timeout", "0"}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf({"--table", "t", "--lock-timeout", "0.5ms"}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf({"--table", "t", "--lock-timeout", "2h"}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf({"--table", "t", "--lock-timeout", "-1s"}), absl::StatusCode::kInvalidArgument);
}

TEST(ParseOptionsTest, IntegersParsed) {
  auto o = ParseOptions({"--table", "t", "--chunk-size", "1", "--cutover-retries", "7"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->config.chunk_size, 1);
  EXPECT_EQ(o->config.cutover_retries, 7);
}

TEST(ParseOptionsTest, BadIntegersRefused) {
  for (const char* v : {"0", "-5", "abc", "10k", "1.5", "", " 5", "1e3", "99999999999999999999"}) {
    EXPECT_EQ(CodeOf({"--table", "t", "--chunk-size", v}), absl::StatusCode::kInvalidArgument) << v;
    EXPECT_EQ(CodeOf({"--table", "t", "--cutover-retries", v}), absl::StatusCode::kInvalidArgument) << v;
  }
}

TEST(ParseOptionsTest, NiceRatio) {
  auto o = ParseOptions({"--table", "t", "--nice-ratio", "1.5"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_DOUBLE_EQ(o->config.control.nice_ratio, 1.5);
  EXPECT_DOUBLE_EQ(ParseOptions({"--table", "t"})->config.control.nice_ratio, 0);
  for (const char* v : {"-1", "abc", "", " 1", "1x", "nan", "inf", "101"})
    EXPECT_EQ(CodeOf({"--table", "t", "--nice-ratio", v}), absl::StatusCode::kInvalidArgument) << v;
}

TEST(ParseOptionsTest, CutoverRetriesBeyondIntRangeRefused) {
  auto o = ParseOptions({"--table", "t", "--cutover-retries", "4294967297"});
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument)
      << "parsed as " << (o.ok() ? o->config.cutover_retries : 0);
}

TEST(ParseOptionsTest, UnknownOptionRefused) {
  auto o = ParseOptions({"--table", "t", "--frobnicate"});
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(o.status().message()), HasSubstr("--frobnicate"));
  EXPECT_EQ(CodeOf({"--table", "t", "stray"}), absl::StatusCode::kInvalidArgument);
}

TEST(ParseOptionsTest, AllOnlyForCleanup) {
  EXPECT_EQ(CodeOf({"--table", "t", "--all"}), absl::StatusCode::kInvalidArgument);
}

TEST(ParseOptionsTest, CleanupAllNeedsNoTable) {
  auto o = ParseOptions({"cleanup", "--all", "--execute"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->command, Command::kCleanup);
  EXPECT_TRUE(o->cleanup_all);
  EXPECT_TRUE(o->config.execute);
}

TEST(ParseOptionsTest, CleanupWithoutAllNeedsTable) {
  EXPECT_EQ(CodeOf({"cleanup"}), absl::StatusCode::kInvalidArgument);
  auto o = ParseOptions({"cleanup", "--table", "t"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->command, Command::kCleanup);
  EXPECT_FALSE(o->cleanup_all);
}

TEST(ParseOptionsTest, PasswordRefusedWithoutEchoingIt) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--table", "t", "--password", "hunter2"},
                                        std::vector<std::string>{"--table", "t", "--password=hunter2"},
                                        std::vector<std::string>{"--table", "t", "-W"}}) {
    auto o = ParseOptions(args);
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(o.status().message()), HasSubstr("password"));
    EXPECT_THAT(std::string(o.status().message()), ::testing::Not(HasSubstr("hunter2")));
  }
}

TEST(ParseOptionsTest, HelpAndVersionShortCircuit) {
  EXPECT_EQ(ParseOptions({"--help"})->command, Command::kHelp);
  EXPECT_EQ(ParseOptions({"-h", "--bogus"})->command, Command::kHelp);
  EXPECT_EQ(ParseOptions({"--version"})->command, Command::kVersion);
}

TEST(ParseOptionsTest, ReplayOrderAndApplyWorkers) {
  auto d = ParseOptions({"--table", "t"});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->config.replay_during_copy);  // deferred replay by default
  EXPECT_EQ(d->config.apply_workers, 1);
  auto o = ParseOptions({"--table", "t", "--replay-during-copy", "--apply-workers", "3"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->config.replay_during_copy);
  EXPECT_EQ(o->config.apply_workers, 3);
  for (const char* v : {"0", "17", "x", "-1"})
    EXPECT_EQ(CodeOf({"--table", "t", "--apply-workers", v}), absl::StatusCode::kInvalidArgument) << v;
  EXPECT_EQ(CodeOf({"--table", "t", "--replay-during-copy=yes"}), absl::StatusCode::kInvalidArgument);
  // Rewrite-only flags mean nothing to a backfill.
  EXPECT_EQ(CodeOf({"backfill", "--table", "t", "--delete", "--where", "true", "--apply-workers", "2"}),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseOptionsTest, VerifyOnByDefaultAndSwitchable) {
  auto d = ParseOptions({"--table", "t"});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->config.verify);
  EXPECT_EQ(d->config.verify_workers, 2);
  EXPECT_EQ(d->config.verify_max_snapshot_age, milliseconds(600000));
  for (auto args : std::vector<std::vector<std::string>>{{"--table", "t", "--verify=off"},
                                                         {"--table", "t", "--verify", "off"}}) {
    auto o = ParseOptions(args);
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_FALSE(o->config.verify);
  }
  auto on = ParseOptions({"--table", "t", "--verify", "--execute"});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->config.verify);
  EXPECT_TRUE(on->config.execute);
  EXPECT_EQ(CodeOf({"--table", "t", "--verify=maybe"}), absl::StatusCode::kInvalidArgument);
}

bool DefaultVerifyAfter() { return ParseOptions({"--table", "t"})->config.verify_after; }

TEST(ParseOptionsTest, VerifySettings) {
  auto o = ParseOptions({"--table", "t", "--verify-workers", "4", "--verify-range-rows", "1000",
                         "--verify-max-snapshot-age", "2m", "--verify-after"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->config.verify_after);
  EXPECT_FALSE(DefaultVerifyAfter());
  EXPECT_EQ(o->config.verify_workers, 4);
  EXPECT_EQ(o->config.verify_range_rows, 1000);
  EXPECT_EQ(o->config.verify_max_snapshot_age, milliseconds(120000));
  EXPECT_EQ(CodeOf({"--table", "t", "--verify-workers", "0"}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf({"--table", "t", "--verify-workers", "33"}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf({"--table", "t", "--verify-range-rows", "0"}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf({"--table", "t", "--verify-max-snapshot-age", "0"}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf({"--table", "t", "--verify-after=yes"}), absl::StatusCode::kInvalidArgument);
}

TEST(ParseOptionsTest, VerifySubcommandKeepsItsArguments) {
  auto o = ParseOptions({"verify", "--table", "orders", "--schema", "s"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->command, Command::kVerify);
  EXPECT_EQ(o->ctl_args, (std::vector<std::string>{"--table", "orders", "--schema", "s"}));
}

// ---- ParseDuration ----

TEST(ParseDurationTest, Units) {
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("250"), milliseconds(250));
  EXPECT_EQ(*ParseDuration("2s"), milliseconds(2000));
  EXPECT_EQ(*ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseDuration("1m"), milliseconds(60000));
  EXPECT_EQ(*ParseDuration("2min"), milliseconds(120000));
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
}

TEST(ParseDurationTest, Malformed) {
  for (const char* text : {"", "s", "ms", "abc", "-1s", "5 s", "5h", "5sec", "1.5.2s", "+2s", " 2s"}) {
    EXPECT_EQ(ParseDuration(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

// "inf", "nan" and values beyond int64 milliseconds are converted with an
// undefined float-to-integer cast (x86 gives INT64_MIN).
TEST(ParseDurationTest, NonFiniteOrHugeRefused) {
  for (const char* text : {"inf", "nan", "infs", "1e300", "1e17m"}) {
    auto d = ParseDuration(text);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument)
        << text << " parsed as " << (d.ok() ? d->count() : 0);
  }
}

// ---- ApplyTestEnvironment ----

class TestEnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override { Clear(); }
  void TearDown() override { Clear(); }
  static void Clear() {
    unsetenv("SHADOWCOPY_TEST_PAUSE_DIR");
    unsetenv("SHADOWCOPY_TEST_PAUSE_AT");
    unsetenv("SHADOWCOPY_TEST_UNSAFE");
    unsetenv("SHADOWCOPY_TEST_CORRUPT");
  }
};

TEST_F(TestEnvironmentTest, NothingSetLeavesDefaults) {
  engine::TestHooks hooks;
  ASSERT_TRUE(ApplyTestEnvironment(&hooks).ok());
  EXPECT_TRUE(hooks.pause_dir.empty());
  EXPECT_TRUE(hooks.pause_point.empty());
  EXPECT_EQ(hooks.pause_batch, 0);
  EXPECT_FALSE(hooks.disable_ordering);
  EXPECT_FALSE(hooks.disable_visibility);
}

TEST_F(TestEnvironmentTest, PauseSettingsParsed) {
  setenv("SHADOWCOPY_TEST_PAUSE_DIR", "/tmp/pause", 1);
  setenv("SHADOWCOPY_TEST_PAUSE_AT", "before-commit:3", 1);
  engine::TestHooks hooks;
  ASSERT_TRUE(ApplyTestEnvironment(&hooks).ok());
  EXPECT_EQ(hooks.pause_dir, "/tmp/pause");
  EXPECT_EQ(hooks.pause_point, "before-commit");
  EXPECT_EQ(hooks.pause_batch, 3);
}

TEST_F(TestEnvironmentTest, BadPauseAtRefused) {
  for (const char* v : {"before-batch", "before-batch:", "before-batch:0", "before-batch:x"}) {
    setenv("SHADOWCOPY_TEST_PAUSE_AT", v, 1);
    engine::TestHooks hooks;
    EXPECT_EQ(ApplyTestEnvironment(&hooks).code(), absl::StatusCode::kInvalidArgument) << v;
  }
}

TEST_F(TestEnvironmentTest, UnsafeSwitches) {
  engine::TestHooks ordering, visibility, empty;
  setenv("SHADOWCOPY_TEST_UNSAFE", "ordering", 1);
  ASSERT_TRUE(ApplyTestEnvironment(&ordering).ok());
  EXPECT_TRUE(ordering.disable_ordering);
  EXPECT_FALSE(ordering.disable_visibility);
  setenv("SHADOWCOPY_TEST_UNSAFE", "visibility", 1);
  ASSERT_TRUE(ApplyTestEnvironment(&visibility).ok());
  EXPECT_TRUE(visibility.disable_visibility);
  EXPECT_FALSE(visibility.disable_ordering);
  setenv("SHADOWCOPY_TEST_UNSAFE", "", 1);
  ASSERT_TRUE(ApplyTestEnvironment(&empty).ok());
  EXPECT_FALSE(empty.disable_ordering || empty.disable_visibility);
}

TEST_F(TestEnvironmentTest, CorruptHook) {
  engine::TestHooks none, once, always, bad;
  ASSERT_TRUE(ApplyTestEnvironment(&none).ok());
  EXPECT_EQ(none.corrupt, "");
  setenv("SHADOWCOPY_TEST_CORRUPT", "once", 1);
  ASSERT_TRUE(ApplyTestEnvironment(&once).ok());
  EXPECT_EQ(once.corrupt, "once");
  setenv("SHADOWCOPY_TEST_CORRUPT", "always", 1);
  ASSERT_TRUE(ApplyTestEnvironment(&always).ok());
  EXPECT_EQ(always.corrupt, "always");
  setenv("SHADOWCOPY_TEST_CORRUPT", "sometimes", 1);
  EXPECT_EQ(ApplyTestEnvironment(&bad).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TestEnvironmentTest, UnknownUnsafeValueRefused) {
  setenv("SHADOWCOPY_TEST_UNSAFE", "everything", 1);
  engine::TestHooks hooks;
  EXPECT_EQ(ApplyTestEnvironment(&hooks).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shadowcopy::cli

namespace shadowcopy::cli {
namespace {

// ---- shadowcopy backfill ----

TEST(BackfillOptionsTest, UpdateWithBackfillDefaults) {
  auto o = ParseOptions({"backfill", "--table", "users", "--set", "a = b", "--where", "a IS NULL"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->command, Command::kBackfill);
  EXPECT_EQ(o->config.backfill.set, "a = b");
  EXPECT_EQ(o->config.backfill.where, "a IS NULL");
  EXPECT_FALSE(o->config.backfill.delete_rows);
  EXPECT_FALSE(o->config.execute);
  EXPECT_FALSE(o->config.control.fixed_chunk_size);
  EXPECT_EQ(o->config.control.chunk_size, 1000);
  EXPECT_EQ(o->config.control.target_chunk_time, std::chrono::milliseconds(200));
  EXPECT_EQ(o->config.lock_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(o->config.control.max_replica_lag, std::chrono::milliseconds(10000));
}

TEST(BackfillOptionsTest, DeleteWithBatchFlags) {
  auto o = ParseOptions({"backfill", "--table", "events", "--delete", "--where", "true", "--batch-size", "200000",
                         "--lock-timeout", "1s", "--lock-retries", "5", "--execute", "--resume"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->config.backfill.delete_rows);
  EXPECT_TRUE(o->config.control.fixed_chunk_size);
  EXPECT_EQ(o->config.control.chunk_size, 200000);
  EXPECT_GE(o->config.control.max_chunk_size, 200000);
  EXPECT_EQ(o->config.lock_timeout, std::chrono::milliseconds(1000));
  EXPECT_EQ(o->config.backfill.lock_retries, 5);
  EXPECT_TRUE(o->config.execute);
  EXPECT_TRUE(o->config.resume);
  auto t = ParseOptions({"backfill", "--table", "e", "--delete", "--where", "true", "--target-batch-time", "50ms",
                         "--min-batch-size", "5", "--max-batch-size", "500"});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->config.control.target_chunk_time, std::chrono::milliseconds(50));
  EXPECT_EQ(t->config.control.min_chunk_size, 5);
  EXPECT_EQ(t->config.control.max_chunk_size, 500);
}

TEST(BackfillOptionsTest, SetXorDeleteAndWhereRequired) {
  auto both = ParseOptions({"backfill", "--table", "t", "--set", "a = 1", "--delete", "--where", "true"});
  EXPECT_THAT(std::string(both.status().message()), HasSubstr("either --set or --delete"));
  auto neither = ParseOptions({"backfill", "--table", "t", "--where", "true"});
  EXPECT_THAT(std::string(neither.status().message()), HasSubstr("--set"));
  auto no_where = ParseOptions({"backfill", "--table", "t", "--delete"});
  EXPECT_THAT(std::string(no_where.status().message()), HasSubstr("--where is required"));
  EXPECT_EQ(CodeOf({"backfill", "--delete", "--where", "true"}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf({"backfill", "--table", "t", "--set", "", "--where", "true"}),
            absl::StatusCode::kInvalidArgument);
}

TEST(BackfillOptionsTest, FlagsOfTheOtherCommandAreRefused) {
  auto alter = ParseOptions({"backfill", "--table", "t", "--delete", "--where", "true", "--alter", "x"});
  EXPECT_THAT(std::string(alter.status().message()), HasSubstr("--alter is not a backfill option"));
  EXPECT_EQ(CodeOf({"backfill", "--table", "t", "--delete", "--where", "true", "--chunk-size", "5"}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf({"backfill", "--table", "t", "--delete", "--where", "true", "--verify=off"}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ParseOptions({"backfill", "--table", "t", "--delete", "--where", "true", "--nice-ratio", "2"}).ok());
  auto set = ParseOptions({"--table", "t", "--set", "a = 1"});
  EXPECT_THAT(std::string(set.status().message()), HasSubstr("belongs to `shadowcopy backfill`"));
}

TEST(BackfillOptionsTest, HelpIsTheBackfillsOwn) {
  auto o = ParseOptions({"backfill", "--help"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->command, Command::kHelp);
  EXPECT_TRUE(o->backfill_help);
  EXPECT_THAT(BackfillUsageText(), HasSubstr("key span is fixed at the start"));
  EXPECT_THAT(BackfillUsageText(), HasSubstr("Triggers fire per row"));
  EXPECT_THAT(BackfillUsageText(), HasSubstr("replicate normally"));
  EXPECT_THAT(UsageText(), HasSubstr("shadowcopy backfill"));
}

}  // namespace
}  // namespace shadowcopy::cli
