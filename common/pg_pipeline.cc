#include "common/pg_pipeline.h"

#include <string>
#include <vector>

namespace shadowcopy {

PgPipeline::~PgPipeline() { (void)Finish(); }

absl::Status PgPipeline::Send(std::string_view sql, const PgParams& params) {
  if (!first_error_.ok()) return first_error_;
  PGconn* c = conn_->raw();
  if (!active_) {
    if (PQenterPipelineMode(c) != 1) {
      first_error_ = StatusFromResult(c, nullptr, "entering pipeline mode");
      return first_error_;
    }
    active_ = true;
  }
  std::string text(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (PQsendQueryParams(c, text.c_str(), static_cast<int>(params.size()), nullptr, values.data(), nullptr,
                        nullptr, 0) != 1 ||
      PQflush(c) != 0) {
    first_error_ = StatusFromResult(c, nullptr, "");
    return first_error_;
  }
  ++sent_;
  return absl::OkStatus();
}

absl::Status PgPipeline::Finish() {
  if (!active_) {
    absl::Status st = first_error_;
    first_error_ = absl::OkStatus();
    return st;
  }
  PGconn* c = conn_->raw();
  absl::Status first = first_error_;
  bool synced = PQpipelineSync(c) == 1;
  if (!synced && first.ok()) first = StatusFromResult(c, nullptr, "");
  // Every statement gives its result then a null; the Sync gives
  // PGRES_PIPELINE_SYNC. Stop when the connection breaks.
  int remaining = sent_;
  while (synced) {
    PGresult* r = PQgetResult(c);
    if (r == nullptr) {
      if (remaining > 0) --remaining;
      if (PQstatus(c) != CONNECTION_OK) break;
      continue;
    }
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      break;
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY &&
        st != PGRES_PIPELINE_ABORTED && first.ok())
      first = StatusFromResult(c, r, "");
    PQclear(r);
    if (PQstatus(c) != CONNECTION_OK) break;
  }
  if (PQstatus(c) == CONNECTION_OK && PQexitPipelineMode(c) != 1 && first.ok())
    first = StatusFromResult(c, nullptr, "leaving pipeline mode");
  if (PQstatus(c) != CONNECTION_OK && first.ok()) first = StatusFromResult(c, nullptr, "");
  active_ = false;
  sent_ = 0;
  first_error_ = absl::OkStatus();
  return first;
}

}  // namespace shadowcopy
