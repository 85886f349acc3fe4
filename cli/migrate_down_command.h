// `shadowcopy migrate down` and `shadowcopy migrate ci`: parsed by
// migrate_command.cc; printing only, the work is engine/workflow's
// (migrate_down.h, migrate_ci.h).
#ifndef SHADOWCOPY_CLI_MIGRATE_DOWN_COMMAND_H_
#define SHADOWCOPY_CLI_MIGRATE_DOWN_COMMAND_H_

#include <string>

#include "engine/workflow/migrate_runner.h"

namespace shadowcopy::cli {

struct DownArgs {
  std::string dir, dsn, to;
  bool execute = false;
  bool empty = false;  // ci: an empty database instead of the target's schema
};

// Exit status: 0 undone (or the dry run), 1 refused or an undo failed, 2
// usage or a file that does not parse, 3 the database cannot be reached.
int MigrateDown(const DownArgs& args, const workflow::MigrateConfig& config);

// Exit status: 0 the round trip passed, 1 it failed (the schema diff on
// stdout), 2 usage or a file that does not parse, 3 the target cannot be
// reached, 130 stopped by a signal.
int MigrateCi(const DownArgs& args, const workflow::MigrateConfig& config);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_MIGRATE_DOWN_COMMAND_H_
