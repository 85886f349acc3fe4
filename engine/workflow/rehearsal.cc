#include "engine/workflow/rehearsal.h"

#include "absl/status/status.h"

namespace shadowcopy::workflow {

absl::StatusOr<PlanFacts> Rehearse(const std::string& /*target_dsn*/,
                                   const std::vector<PlannedStatement>& statements,
                                   const RehearsalOptions& options,
                                   PlanFacts* /*facts_on_error*/) {
  if (options.mode != RehearsalMode::kNone) {
    return absl::UnimplementedError("only --rehearsal none is available");
  }
  PlanFacts facts;
  facts.rehearsal = "none";
  for (const auto& s : statements) {
    StatementFacts f;
    f.statement = s;
    f.observation.note = "not rehearsed (--rehearsal none)";
    facts.statements.push_back(std::move(f));
  }
  return facts;
}

}  // namespace shadowcopy::workflow
