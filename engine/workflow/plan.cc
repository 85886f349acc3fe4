#include "engine/workflow/plan.h"

#include "common/status.h"
#include "engine/workflow/plan_catalog.h"
#include "engine/workflow/plan_input.h"

namespace shadowcopy::workflow {

absl::StatusOr<PlanOutcome> RunPlan(const PlanRequest& request) {
  ASSIGN_OR_RETURN(std::vector<PlannedStatement> statements, ReadMigrations(request.files));
  PlanOutcome outcome;
  PlanFacts on_error;
  auto rehearsed = Rehearse(request.dsn, statements, request.rehearsal, &on_error);
  if (rehearsed.ok()) {
    outcome.facts = std::move(*rehearsed);
  } else if (rehearsed.status().code() == absl::StatusCode::kInvalidArgument && !on_error.statements.empty()) {
    outcome.facts = std::move(on_error);  // a statement failed there: judged and reported
  } else {
    return rehearsed.status();
  }
  RETURN_IF_ERROR(ReadTargetCatalog(request.dsn, &outcome.facts));
  outcome.judgement = JudgePlan(outcome.facts);
  return outcome;
}

}  // namespace shadowcopy::workflow
