// The report of `plan`: readable text, or one JSON object, and the exit
// status it implies.
//
// Pure. Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_PLAN_REPORT_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_PLAN_REPORT_H_

#include <string>

#include "common/json.h"
#include "engine/workflow/plan_facts.h"
#include "engine/workflow/plan_rules.h"

namespace shadowcopy::workflow {

// {"target", "rehearsal", "statements": [{"file", "line", "sql", "locks":
// [{"relation", "mode"}], "rewrites", "findings": [{"rule", "severity",
// "message"}], "safe_path", "estimated_lock_s", "safe_path_lock_s",
// "commands"}]}
Json PlanJson(const PlanFacts& facts, const PlanJudgement& judgement);

// Statement by statement: file:line, the SQL, locks, rewrites, findings,
// the lock time as written and on the safe path, the safe path and its
// commands; then a summary line. Says when only static rules were used.
std::string PlanText(const PlanFacts& facts, const PlanJudgement& judgement, Severity fail_on);

// 0: nothing at or above `fail_on`; 1: findings at or above it; 2: a
// statement failed on the rehearsal (rule rehearsal-failed).
int PlanExitCode(const PlanJudgement& judgement, Severity fail_on);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_PLAN_REPORT_H_
