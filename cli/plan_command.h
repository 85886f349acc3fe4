// `shadowcopy plan`: what each migration statement will lock, rewrite and
// cost in production, and its safe path. Parses its own arguments (the
// words after `plan`), runs engine/workflow's plan and prints the report.
//
// Thread-safety: runs on the main thread.
#ifndef SHADOWCOPY_CLI_PLAN_COMMAND_H_
#define SHADOWCOPY_CLI_PLAN_COMMAND_H_

#include <string>
#include <vector>

namespace shadowcopy::cli {

// Exit status: 0 nothing at or above --fail-on, 1 findings at or above it,
// 2 usage, an unreadable file, a statement that does not split or fails on
// the rehearsal, 3 the target (or staging server) cannot be reached.
int PlanMain(const std::vector<std::string>& args);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_PLAN_COMMAND_H_
