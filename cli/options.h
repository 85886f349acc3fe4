// Command-line parsing (pure): argv -> a validated command and its config.
// The options are defined with CLI11 in command_line.h; this turns its
// result into Options and checks the values.
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_CLI_OPTIONS_H_
#define SHADOWCOPY_CLI_OPTIONS_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/control/config.h"

namespace shadowcopy::cli {

enum class Command { kMigrate, kBackfill, kCleanup, kCtl, kVerify, kPlan, kMigrations, kHelp, kVersion };

struct Options {
  Command command = Command::kMigrate;
  engine::Config config;
  bool cleanup_all = false;
  bool cleanup_old_tables = false;  // cleanup --old-tables
  bool verbose = false;
  bool backfill_help = false;         // kHelp asked by `backfill --help`
  std::vector<std::string> ctl_args;  // kCtl, kVerify, kPlan, kMigrations: the words after the subcommand
};

// Parses the arguments after the program name. InvalidArgument with a
// one-line message on bad input.
absl::StatusOr<Options> ParseOptions(const std::vector<std::string>& args);

// "512MB", "8GB", "1024" (bytes).
absl::StatusOr<int64_t> ParseSize(const std::string& text);

// "500ms", "2s", "1.5s", "1m", "250" (milliseconds).
absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text);

// Fills the test-only hooks from SHADOWCOPY_TEST_* environment variables.
absl::Status ApplyTestEnvironment(engine::TestHooks* hooks);

std::string UsageText();
// `shadowcopy backfill --help`.
std::string BackfillUsageText();

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_OPTIONS_H_
