// The rewrite's hooks: the run between its startup and its success or
// failure, and each announcement with the run's current facts.
//
// Thread-safety: the rewrite thread.
#include <libpq-fe.h>

#include "common/log.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/rewrite/rewrite.h"

namespace shadowcopy::engine {

absl::StatusOr<Summary> Rewrite::Run() {
  ASSIGN_OR_RETURN(hooks_, Hooks::Open(config_.hooks, control_.get()));
  hooks_->UpdateFacts([&](HookFacts* f) {
    f->schema = config_.schema;
    f->table = config_.table;
    f->alter = config_.alter;
  });
  control_->SetCommandObserver([hooks = hooks_.get()](const std::string& command, const std::string& reply) {
    hooks->Fire("interactive-command", {{"SHADOWCOPY_COMMAND", command}, {"SHADOWCOPY_COMMAND_REPLY", reply}});
  });
  absl::StatusOr<Summary> result = RunSteps();
  control_->SetCommandObserver(nullptr);
  if (result.ok()) Hook("success");
  else Hook("failure", {{"SHADOWCOPY_ERROR", std::string(result.status().message())}});
  hooks_->Finish();
  return result;
}

void Rewrite::Hook(std::string_view event, HookVars extra, bool once) {
  PublishProgress(phase_);
  std::string database = main_ && main_->Healthy() ? PQdb(main_->raw()) : "";
  hooks_->UpdateFacts([&](HookFacts* f) {
    if (!database.empty()) f->database = database;
    f->run_id = run_id_;
  });
  if (once) hooks_->FireOnce(event, std::move(extra));
  else hooks_->Fire(event, std::move(extra));
}

absl::Status Rewrite::CutoverVeto(int attempt) {
  PublishProgress(phase_);
  absl::Status verdict = hooks_->Gate("before-cutover", {{"SHADOWCOPY_CUTOVER_ATTEMPT", std::to_string(attempt)}},
                                      [&] { return CatchUp(std::chrono::milliseconds(100)); });
  if (!verdict.ok() && IsRetryable(verdict))
    Log(LogLevel::kInfo, "cutover attempt {}: postponed by the before-cutover hook ({})", attempt, verdict.message());
  return verdict;
}

}  // namespace shadowcopy::engine
