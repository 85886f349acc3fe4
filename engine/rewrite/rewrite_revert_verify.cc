// Before the swap back: the old table against the new one through the
// reverse mapping, with the forward run's verification (rewrite_verify.cc)
// run on the reverse plan: the new table is its source (locked in SHARE at
// the consistency point, read by a repair), the old table its target, and
// the reverse stream the replay that the fences drain. The new table's rows
// mapped back (casts back; columns the ALTER added left out) are compared,
// key range by key range, under one snapshot; a range that differs is
// re-copied through the reverse mapping and compared again. Columns the
// ALTER dropped exist in the old table only: they are not compared, and a
// range that differs is not re-copied (that would reset them to their
// default) but refuses the revert.
//
// Thread-safety: the rewrite thread.
#include <utility>

#include "common/log.h"
#include "common/quote.h"
#include "common/status.h"
#include "engine/rewrite/rewrite.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

absl::Status Rewrite::VerifyBeforeSwapBack() {
  const auto& n = summary_.names;
  const std::string table = QualifiedName(n.schema, n.table), old = QualifiedName(n.schema, n.old_table);
  RETURN_IF_ERROR(StartThrottler());  // the consistency point waits while it says so
  const Summary forward = summary_;
  const bool forward_order = verify_order_preserved_;
  auto close_sessions = [&] {
    std::lock_guard<std::mutex> guard(conns_mu_);
    verifier_.reset();
    vlock_.reset();
    vexport_.reset();
  };
  close_sessions();
  Log(LogLevel::kInfo, "revert: verifying {} against {} mapped back before the swap back", old, table);
  // A copy in place of the forward plan: the reverse applier keeps its
  // pointer to rev_plan_.
  const ShadowPlan forward_plan = plan_;
  plan_ = rev_plan_;
  verify_wording_ = RevertVerifyWording(table, old);
  absl::Status st = OpenVerifySessions();
  const bool may_repair = summary_.verify_not_compared.empty();
  verify_may_repair_ = may_repair;
  if (st.ok()) st = RunVerification();
  verify_may_repair_ = true;
  verify_wording_ = ForwardVerifyWording();
  plan_ = forward_plan;
  close_sessions();
  verify_order_preserved_ = forward_order;
  summary_.revert_verify_ranges = summary_.verify_ranges - forward.verify_ranges;
  summary_.revert_verify_mismatches = summary_.verify_mismatches - forward.verify_mismatches;
  summary_.revert_verified = st.ok();
  const int64_t repaired = summary_.verify_repaired - forward.verify_repaired;
  // The forward run's verification figures stay its own.
  summary_.verified = forward.verified;
  summary_.verify_ranges = forward.verify_ranges;
  summary_.verify_rows = forward.verify_rows;
  summary_.verify_mismatches = forward.verify_mismatches;
  summary_.verify_repaired = forward.verify_repaired;
  summary_.verify_s = forward.verify_s;
  summary_.verify_blocked_ms = forward.verify_blocked_ms;
  summary_.verify_blocked_total_ms = forward.verify_blocked_total_ms;
  summary_.verify_not_compared = forward.verify_not_compared;
  summary_.verify_points = forward.verify_points;
  summary_.verify_point_failures = forward.verify_point_failures;
  if (st.code() == absl::StatusCode::kDataLoss && summary_.revert_verify_mismatches > 0)
    return absl::FailedPreconditionError(fmt::format(
        "revert refused: {} still differs from {} mapped back ({} mismatching ranges, {} repaired{}); both tables "
        "are intact and {} keeps its new definition", old, table, summary_.revert_verify_mismatches, repaired,
        may_repair ? "" : "; columns the ALTER dropped forbid a re-copy", table));
  RETURN_IF_ERROR(st);
  Log(LogLevel::kInfo, "revert: verified {} against {}: {} ranges, {}", old, table, summary_.revert_verify_ranges,
      summary_.revert_verify_mismatches == 0
          ? std::string("no mismatch")
          : fmt::format("{} mismatches found and {} ranges repaired", summary_.revert_verify_mismatches, repaired));
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
