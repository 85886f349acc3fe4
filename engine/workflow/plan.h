// `shadowcopy plan`: reads the migration files, rehearses them (or not),
// reads production's catalogs and sizes, and judges every statement.
//
// Thread-safety: one call at a time.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_PLAN_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/workflow/plan_facts.h"
#include "engine/workflow/plan_rules.h"
#include "engine/workflow/rehearsal.h"

namespace shadowcopy::workflow {

struct PlanRequest {
  std::string dsn;                 // production; empty: the PG* variables
  std::vector<std::string> files;  // "-" is stdin
  RehearsalOptions rehearsal;
};

struct PlanOutcome {
  PlanFacts facts;
  PlanJudgement judgement;
};

// Statuses: InvalidArgument / NotFound / PermissionDenied for the input (a
// file that cannot be read, a statement that does not split); Unavailable
// when production (or the staging server) cannot be reached; the
// rehearsal's own errors otherwise. A statement that fails on the rehearsal
// is not an error here: its judgement carries the rehearsal-failed finding.
absl::StatusOr<PlanOutcome> RunPlan(const PlanRequest& request);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_PLAN_H_
