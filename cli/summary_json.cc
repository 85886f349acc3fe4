#include "cli/summary_json.h"

#include "common/json.h"

namespace shadowcopy::cli {

std::string RewriteSummaryJson(const engine::Summary& s) {
  Json j = Json::object();
  j["rows_copied"] = s.rows_copied;
  j["batches"] = s.batches;
  j["changes_replayed"] = s.changes_replayed;
  j["transactions_replayed"] = s.transactions_replayed;
  j["inserts"] = s.replayed.inserts;
  j["updates"] = s.replayed.updates;
  j["key_updates"] = s.replayed.key_updates;
  j["deletes"] = s.replayed.deletes;
  j["blocked_ms"] = FixedDecimals(s.blocked_ms, 3);
  j["copy_s"] = FixedDecimals(s.copy_s, 3);
  j["elapsed_s"] = FixedDecimals(s.elapsed_s, 3);
  j["cutover_attempts"] = s.cutover_attempts;
  j["blocked_max_ms"] = FixedDecimals(s.blocked_max_ms, 3);
  j["cutover_lock_failures"] = s.cutover_lock_failures;
  j["cutover_lock_wait_s"] = FixedDecimals(s.cutover_lock_wait_s, 3);
  j["verify_lock_wait_s"] = FixedDecimals(s.verify_lock_wait_s, 3);
  j["verify_point_failures"] = s.verify_point_failures;
  j["rehearsal_blocked_ms"] = FixedDecimals(s.rehearsal_blocked_ms, 3);
  Json holders = Json::array();
  for (const auto& h : s.lock_holders) holders.push_back(h);
  j["lock_holders"] = std::move(holders);
  j["visibility_waits"] = s.visibility_waits;
  j["old_table_dropped"] = s.old_table_dropped;
  j["verified"] = s.verified;
  j["verify_s"] = FixedDecimals(s.verify_s, 3);
  j["verify_ranges"] = s.verify_ranges;
  j["verify_rows"] = s.verify_rows;
  j["verify_mismatches"] = s.verify_mismatches;
  j["verify_repaired"] = s.verify_repaired;
  j["verify_points"] = s.verify_points;
  j["verify_blocked_ms"] = FixedDecimals(s.verify_blocked_ms, 3);
  j["verify_blocked_total_ms"] = FixedDecimals(s.verify_blocked_total_ms, 3);
  j["verified_after"] = s.verified_after;
  j["verify_after_ranges"] = s.verify_after_ranges;
  j["verify_after_mismatches"] = s.verify_after_mismatches;
  j["verify_after_s"] = FixedDecimals(s.verify_after_s, 3);
  j["replay_deferred"] = s.replay_deferred;
  j["replay_from_batch"] = s.replay_from_batch;
  j["relayed_batches"] = s.relayed_batches;
  j["key_index_s"] = FixedDecimals(s.key_index_s, 3);
  j["parallel_apply_groups"] = s.parallel_apply_groups;
  j["resumed_after_swap"] = s.resumed_after_swap;
  j["after_swap_statements"] = s.after_swap_statements;
  j["revert_window"] = s.revert_window;
  j["reverted"] = s.reverted;
  j["revert_blocked_ms"] = FixedDecimals(s.revert_blocked_ms, 3);
  j["reverse_changes"] = s.reverse_changes;
  j["revert_verified"] = s.revert_verified;
  j["revert_verify_ranges"] = s.revert_verify_ranges;
  j["revert_verify_mismatches"] = s.revert_verify_mismatches;
  Json line = Json::object();
  line["summary"] = std::move(j);
  return DumpJson(line);
}

std::string BackfillSummaryJson(const engine::BackfillSummary& s) {
  Json j = Json::object();
  j["rows_changed"] = s.rows_changed;
  j["total_rows_changed"] = s.total_rows_changed;
  j["keys_covered"] = s.keys_covered;
  j["batches"] = s.batches;
  j["lock_retries"] = s.lock_retries;
  j["batches_s"] = FixedDecimals(s.batches_s, 3);
  j["elapsed_s"] = FixedDecimals(s.elapsed_s, 3);
  j["resumed"] = s.resumed;
  Json line = Json::object();
  line["summary"] = std::move(j);
  return DumpJson(line);
}

}  // namespace shadowcopy::cli
