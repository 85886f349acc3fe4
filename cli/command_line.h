// The CLI11 definition of shadowcopy's command line: every option, its
// description and group; `--help` texts are generated from it. Parsing into
// Options (and the validation) is in options.cc.
#ifndef SHADOWCOPY_CLI_COMMAND_LINE_H_
#define SHADOWCOPY_CLI_COMMAND_LINE_H_

#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace shadowcopy::cli {

struct CommandLine {
  struct Registered {
    CLI::Option* option;
    std::string name;  // the long name, e.g. "--table"
    bool takes_value;
  };

  CLI::App app{"shadowcopy: online schema change and table rebuild for PostgreSQL", "shadowcopy"};
  CLI::App* cleanup = nullptr;
  CLI::App* backfill = nullptr;
  CLI::App* ctl = nullptr;     // the words after it go to CtlMain
  CLI::App* verify = nullptr;  // the words after it go to VerifyMain
  CLI::App* plan = nullptr;    // the words after it go to PlanMain
  CLI::App* migrations = nullptr;  // `migrate`: the words after it go to MigrateMain
  CLI::Option* version = nullptr;
  CLI::Option* backfill_version = nullptr;
  CLI::Option* verify_flag = nullptr;  // --verify[=on|off] of the online rewrite
  CLI::Option* cleanup_all = nullptr;
  CLI::Option* cleanup_old_tables = nullptr;
  std::vector<Registered> rewrite_options;   // the main command's (and cleanup's)
  std::vector<Registered> backfill_options;  // `backfill`'s
};

std::unique_ptr<CommandLine> BuildCommandLine();

// `shadowcopy backfill --help`: the subcommand's help with its long description.
std::string BackfillHelp(CommandLine& cl);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_COMMAND_LINE_H_
