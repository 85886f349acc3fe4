// `shadowcopy migrate`: versioned migrations from a directory (status,
// validate, baseline, dry run, --execute). Parsing and printing only; the
// work is engine/workflow's.
#ifndef SHADOWCOPY_CLI_MIGRATE_COMMAND_H_
#define SHADOWCOPY_CLI_MIGRATE_COMMAND_H_

#include <string>
#include <vector>

namespace shadowcopy::cli {

// `args` follow the word migrate. Exit status: 0 success; 1 a migration
// failed, was refused, or (status, validate) needs attention; 2 usage or a
// directory that does not parse; 3 the database cannot be reached.
int MigrateMain(const std::vector<std::string>& args);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_MIGRATE_COMMAND_H_
