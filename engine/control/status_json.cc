#include "engine/control/status_json.h"

#include "common/json.h"

namespace shadowcopy::engine {
namespace {

// The size of the current batch; before the first one, the fixed size (0
// while adaptive sizing has not picked one).
int64_t CurrentBatchSize(const StatusSnapshot& s) {
  if (s.progress.chunk_size > 0) return s.progress.chunk_size;
  return s.sizing.fixed ? s.sizing.fixed_size : 0;
}

}  // namespace

std::string RewriteStatusJson(const StatusSnapshot& s) {
  const Progress& p = s.progress;
  Json j = Json::object();
  j["phase"] = p.phase;
  j["rows_copied"] = p.rows_copied;
  j["estimated_rows"] = FixedDecimals(p.estimated_rows, 0);
  j["percent"] = FixedDecimals(s.percent, 1);
  j["rows_per_s"] = FixedDecimals(p.rows_per_s, 1);
  j["eta_s"] = FixedDecimals(p.eta_s, 1);
  j["changes_replayed"] = p.changes_replayed;
  if (p.reverse_changes_replayed > 0) j["reverse_changes_replayed"] = p.reverse_changes_replayed;
  j["queue_depth"] = p.queue_depth;
  j["replay_lag_bytes"] = p.replay_lag_bytes;
  j["replay_lag_s"] = FixedDecimals(p.replay_lag_s, 3);
  j["batches"] = p.batches;
  j["chunk_size"] = CurrentBatchSize(s);
  j["chunk_mode"] = s.sizing.fixed ? "fixed" : "adaptive";
  j["target_chunk_time_ms"] = s.sizing.target.count();
  j["min_chunk_size"] = s.sizing.min_size;
  j["max_chunk_size"] = s.sizing.max_size;
  j["nice_ratio"] = ShortNumber(s.nice_ratio);
  j["paused"] = s.paused;
  j["replay_paused"] = s.replay_paused;
  j["throttled"] = s.throttled;
  j["throttle_reason"] = s.throttle_reason;
  j["cutover"] = s.cutover;
  j["abort_requested"] = s.abort_requested;
  j["elapsed_s"] = FixedDecimals(s.elapsed_s, 1);
  j["verify"] = p.verify_state;
  j["verify_ranges_done"] = p.verify_ranges_done;
  j["verify_ranges_total"] = p.verify_ranges_total;
  j["verify_rows"] = p.verify_rows;
  j["verify_mismatches"] = p.verify_mismatches;
  j["verify_repaired"] = p.verify_repaired;
  j["verify_blocked_ms"] = FixedDecimals(p.verify_blocked_ms, 1);
  if (p.lock_wait.empty()) {
    j["lock_wait"] = nullptr;
  } else {
    Json w = Json::object();
    w["for"] = p.lock_wait;
    w["waited_s"] = FixedDecimals(p.lock_wait_s, 1);
    Json h = Json::object();
    h["pid"] = p.lock_holder_pid;
    h["application_name"] = p.lock_holder_application;
    h["usename"] = p.lock_holder_user;
    h["mode"] = p.lock_holder_mode;
    h["granted"] = p.lock_holder_granted;
    h["held_s"] = FixedDecimals(p.lock_holder_s, 1);
    h["query"] = p.lock_holder_query;
    w["holder"] = std::move(h);
    j["lock_wait"] = std::move(w);
  }
  j["app_health_throttled"] = s.app_health_throttled;
  j["health"] = s.health;
  return DumpJson(j);
}

std::string BackfillStatusJson(const StatusSnapshot& s) {
  const Progress& p = s.progress;
  Json j = Json::object();
  j["phase"] = p.phase;
  j["keys_covered"] = p.keys_covered;
  j["estimated_keys"] = FixedDecimals(p.estimated_rows, 0);
  j["percent"] = FixedDecimals(s.percent, 1);
  j["key_position"] = p.key_position;
  j["key_span"] = p.key_span;
  j["rows_changed"] = p.rows_changed;
  j["rows_per_s"] = FixedDecimals(p.rows_per_s, 1);
  j["rows_changed_per_s"] = FixedDecimals(p.changed_per_s, 1);
  j["eta_s"] = FixedDecimals(p.eta_s, 1);
  j["batches"] = p.batches;
  j["batch_size"] = CurrentBatchSize(s);
  j["batch_mode"] = s.sizing.fixed ? "fixed" : "adaptive";
  j["target_batch_time_ms"] = s.sizing.target.count();
  j["min_batch_size"] = s.sizing.min_size;
  j["max_batch_size"] = s.sizing.max_size;
  j["nice_ratio"] = ShortNumber(s.nice_ratio);
  j["paused"] = s.paused;
  j["throttled"] = s.throttled;
  j["throttle_reason"] = s.throttle_reason;
  j["abort_requested"] = s.abort_requested;
  j["elapsed_s"] = FixedDecimals(s.elapsed_s, 1);
  j["app_health_throttled"] = s.app_health_throttled;
  j["health"] = s.health;
  return DumpJson(j);
}

}  // namespace shadowcopy::engine
