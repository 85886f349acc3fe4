#include "engine/control/run_throttler.h"

#include "common/status.h"

namespace shadowcopy::engine {

absl::StatusOr<std::unique_ptr<throttler::Throttler>> StartRunThrottler(const Config& config, Control* control) {
  throttler::ThrottlerOptions to;
  to.connect.dsn = config.dsn;
  to.replica_dsn = config.replica_dsn;
  to.throttle_query = config.throttle_query;
  to.flag_file = config.throttle_flag_file;
  to.health_probe = config.control.health_signal;
  to.limits = [control] { return control->ThrottleLimits(); };
  to.operator_paused = [control] { return control->paused(); };
  auto t = std::make_unique<throttler::Throttler>(to);
  RETURN_IF_ERROR(Annotate(t->Start(), "starting the throttler"));
  control->SetThrottleSource([p = t.get()] { return p->current(); });
  return t;
}

}  // namespace shadowcopy::engine
