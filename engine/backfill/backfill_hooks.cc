// The backfill's hooks: the run between its startup and its success or
// failure, and each announcement with the run's current facts.
//
// Thread-safety: the Run() thread.
#include <libpq-fe.h>

#include "common/status.h"
#include "engine/backfill/backfill.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

absl::StatusOr<BackfillSummary> Backfill::Run() {
  ASSIGN_OR_RETURN(hooks_, Hooks::Open(config_.hooks, control_.get()));
  hooks_->UpdateFacts([&](HookFacts* f) {
    f->schema = config_.schema;
    f->table = config_.table;
    // What the batches do, in the place of a rewrite's ALTER.
    f->alter = config_.backfill.delete_rows ? fmt::format("DELETE WHERE {}", config_.backfill.where)
                                            : fmt::format("SET {} WHERE {}", config_.backfill.set,
                                                          config_.backfill.where);
  });
  control_->SetCommandObserver([hooks = hooks_.get()](const std::string& command, const std::string& reply) {
    hooks->Fire("interactive-command", {{"SHADOWCOPY_COMMAND", command}, {"SHADOWCOPY_COMMAND_REPLY", reply}});
  });
  absl::StatusOr<BackfillSummary> result = RunSteps();
  control_->SetCommandObserver(nullptr);
  if (result.ok()) Hook("success");
  else Hook("failure", {{"SHADOWCOPY_ERROR", std::string(result.status().message())}});
  hooks_->Finish();
  return result;
}

void Backfill::Hook(std::string_view event, HookVars extra) {
  if (sizer_) Publish();
  std::string database = conn_ && conn_->Healthy() ? PQdb(conn_->raw()) : "";
  std::string run_id = state_ ? state_->run_id() : "";
  hooks_->UpdateFacts([&](HookFacts* f) {
    if (!database.empty()) f->database = database;
    f->run_id = run_id;
  });
  hooks_->Fire(event, std::move(extra));
}

}  // namespace shadowcopy::engine
