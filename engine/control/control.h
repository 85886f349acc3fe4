// Control: the one interface through which the operator (the control socket,
// the CLI) steers a run (a rewrite or a backfill) and reads its status, and
// through which the run reads the operator's wishes. The engine knows nothing
// of the socket or the CLI; they know only this class.
//
// Operator side (any thread): Pause, Resume, Set, Get, Tunables,
// ReleaseCutover, Abort, Status, StatusText, StatusJson.
// Engine side (the rewrite thread, any thread for the getters): Publish
// progress; read Sizing, ThrottleLimits, paused, replay_paused,
// abort_requested, CutoverAllowed.
//
// Every live change is logged (one info line), so the log shows who changed
// what while the run went on.
//
// Thread-safety: every method may be called from any thread. Flags are
// atomics; tunables, progress and the callbacks are guarded by one mutex,
// which is never held while a callback runs (the throttle source calls back
// into ThrottleLimits and paused).
#ifndef SHADOWCOPY_ENGINE_CONTROL_CONTROL_H_
#define SHADOWCOPY_ENGINE_CONTROL_CONTROL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "throttler/chunk_sizer.h"
#include "throttler/policy.h"

namespace shadowcopy::engine {

// Initial values of the live tunables and the cutover hold, filled from the
// command line. Defaults below are the documented flag defaults.
struct ControlSettings {
  bool fixed_chunk_size = false;                   // --chunk-size given: fixed size
  int64_t chunk_size = 10000;                      // the fixed size, or the first adaptive one
  std::chrono::milliseconds target_chunk_time{500};  // --target-chunk-time
  int64_t min_chunk_size = 100;                    // --min-chunk-size
  int64_t max_chunk_size = 100000;                 // --max-chunk-size
  double nice_ratio = 0;                           // --nice-ratio: rest ratio × batch time after each batch
  std::chrono::milliseconds max_replica_lag{10000};  // --max-replica-lag; 0: off
  int64_t max_lock_waiters = 0;                    // --max-lock-waiters; -1: off
  int64_t max_active = 0;                          // --max-active; 0: off
  int64_t max_replay_lag_bytes = int64_t{1} << 30; // --max-replay-lag-bytes; 0: off
  std::chrono::milliseconds critical_replica_lag{0};  // --critical-replica-lag; 0: off
  int64_t critical_active = 0;                     // --critical-active; 0: off
  int64_t critical_replay_lag_bytes = 0;           // --critical-replay-lag-bytes; 0: off
  bool health_signal = true;                       // --health-signal on|off: the canary (throttler/health.h)
  double health_latency_factor = 3;                // --health-latency-factor: canary p95 > factor × baseline ...
  std::chrono::milliseconds health_latency_floor{20};  // --health-latency-floor: ... and > baseline + floor
  bool postpone_cutover = false;                   // --postpone-cutover
  std::string postpone_cutover_flag_file;          // --postpone-cutover-flag-file; "" none
};

// InvalidArgument naming the flag when `s` is inconsistent (min > max, a
// size < 1, a non-positive target, a negative limit).
absl::Status ValidateControlSettings(const ControlSettings& s);

// Which run a Control steers: the online rewrite (copy, replay, cutover) or a
// backfill (batched UPDATE/DELETE). A backfill's tunables are named
// batch-size, target-batch-time, min-batch-size and max-batch-size (the
// chunk names are accepted too); it has no replay and no cutover.
enum class ControlKind { kRewrite, kBackfill };

// What the rewrite thread publishes (Control::Publish), as often as it likes.
struct Progress {
  std::string phase = "starting";  // inspect, prepare, copy, indexes, catchup, cutover, done...
  int64_t rows_copied = 0;
  double estimated_rows = 0;       // planner estimate; 0: unknown
  double rows_per_s = 0;           // recent copy rate
  double eta_s = -1;               // seconds left in the copy; < 0: unknown
  uint64_t changes_replayed = 0;
  uint64_t reverse_changes_replayed = 0;  // the revert window: changes replayed into the old table
  uint64_t queue_depth = 0;        // transactions received, not yet applied
  int64_t replay_lag_bytes = 0;    // WAL not yet applied (slot vs current)
  double replay_lag_s = 0;         // age of the last applied commit
  int64_t batches = 0;
  int64_t chunk_size = 0;          // size of the current (next) batch
  // Backfill only (estimated_rows is then the keys in the span).
  int64_t keys_covered = 0;        // keys the committed batches walked
  int64_t rows_changed = 0;        // rows the committed batches updated or deleted
  double changed_per_s = 0;        // recent rate of rows_changed
  double span_percent = -1;        // share of the span by key value; < 0: by keys_covered
  std::string key_position;        // the cursor, "(123)"; "" before the first batch
  std::string key_span;            // "(1) .. (200000)"
  // Verification (shadow vs. original), totals over the run so far.
  std::string verify_state;        // "" not started, "running", "clean", "off"
  int64_t verify_ranges_done = 0;  // ranges hashed in the current verification
  int64_t verify_ranges_total = 0;
  int64_t verify_rows = 0;         // original rows hashed in the current verification
  int64_t verify_mismatches = 0;   // ranges found different (run total)
  int64_t verify_repaired = 0;     // ranges re-copied (run total)
  double verify_blocked_ms = 0;    // longest writer block of a consistency point
  // Cutover and slot (the rewrite only).
  int cutover_attempts = 0;        // attempts started so far
  double cutover_blocked_ms = 0;   // writers blocked by the cutover that committed
  int64_t slot_retained_wal_bytes = -1;  // WAL the slot holds back at the last check; < 0: not read
  // A lock request of ours waiting, outside the lock queue, for the
  // sessions holding or awaiting a conflicting lock ("" when none).
  std::string lock_wait;           // "cutover", "verify", "rehearsal", ...
  double lock_wait_s = 0;          // how long it has waited so far
  int lock_holder_pid = 0;
  std::string lock_holder_application;
  std::string lock_holder_user;
  std::string lock_holder_mode;    // pg_locks.mode
  bool lock_holder_granted = true; // false: it waits in the queue itself
  double lock_holder_s = -1;       // its transaction's age; < 0 unknown
  std::string lock_holder_query;   // its query's first 60 characters
};

// A consistent copy of everything `status` shows.
struct StatusSnapshot {
  Progress progress;
  double percent = 0;              // of estimated rows (100 after the copy)
  double elapsed_s = 0;            // since the Control was made
  throttler::SizingSettings sizing;
  double nice_ratio = 0;
  bool paused = false;             // operator pause of the copy
  bool replay_paused = false;      // ... and of the replay
  bool throttled = false;          // the throttle source says wait (pause included)
  std::string throttle_reason;     // its reason, "" when running
  std::vector<std::string> throttle_causes;  // its causes as keys (throttler::Decision::causes)
  bool app_health_throttled = false;  // the application's health signal is among the reasons
  std::string health;              // the health signal's latest detail; "" off or not measured
  bool abort_requested = false;
  std::string cutover;             // "not postponed", "postponed", "released"
};

// One live tunable: its name (as in `set NAME=VALUE`), current value, help.
struct TunableInfo {
  std::string name;
  std::string value;
  std::string help;
};

class Control {
 public:
  using Clock = std::chrono::steady_clock;

  // REQUIRES: ValidateControlSettings(settings).ok().
  explicit Control(const ControlSettings& settings, ControlKind kind = ControlKind::kRewrite);
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  // --- operator side ---

  // Pauses the copy (the replay goes on so the slot does not fall behind);
  // with `replay_too` the replay stops as well. Returns false when it was
  // already paused that way.
  bool Pause(bool replay_too = false);
  // Ends a pause. Returns false when nothing was paused.
  bool Resume();

  // Sets a tunable from its text form. Names: chunk-size (rows; switches to
  // fixed size), target-chunk-time (duration such as 500ms, 2s; switches to
  // adaptive sizing), min-chunk-size, max-chunk-size, nice-ratio (a
  // number from 0 to 100: the copy rests that many times each batch's
  // duration after it), max-replica-lag
  // (duration or off), max-lock-waiters (count or off), max-active (count or
  // off), max-replay-lag-bytes (bytes with optional kB/MB/GB, or off),
  // health-signal (on or off; on only takes effect when the run started with
  // it on: the baseline is taken at the start), health-latency-factor (a
  // number from 1 to 100), health-latency-floor (duration).
  // InvalidArgument (nothing changes) for an unknown name or a bad value.
  absl::Status Set(const std::string& name, const std::string& value);
  // The current value in the form Set accepts; NotFound for unknown names.
  absl::StatusOr<std::string> Get(const std::string& name) const;
  // Every tunable, in a fixed order.
  std::vector<TunableInfo> Tunables() const;

  // Lets a postponed cutover go ahead. Returns false when the cutover was not
  // postponed (or was released already); nothing else changes.
  bool ReleaseCutover();

  // Asks the rewrite to verify the shadow against the original: at once
  // when the copy is done (e.g. while the cutover is postponed), else before
  // the cutover. Returns the request's number (1, 2, ...).
  uint64_t RequestVerify();
  // The outcome of request `n`: ok and a one-line report; nullopt while it is
  // pending; NotFound for a request never made.
  struct VerifyOutcome {
    bool ok = false;
    std::string text;
  };
  absl::StatusOr<std::optional<VerifyOutcome>> VerifyResult(uint64_t n) const;

  // Asks the run to stop and clean up: sets abort_requested() and runs
  // the abort handler (once). Returns false when already requested.
  bool Abort();
  // Asks a run in its revert window to swap the old table back. Returns
  // false when already requested.
  bool RequestRevert() { return !revert_.exchange(true); }
  bool revert_requested() const { return revert_.load(); }

  ControlKind kind() const { return kind_; }
  // "copy" or "backfill": what pause holds, for replies.
  const char* work_name() const { return kind_ == ControlKind::kBackfill ? "backfill" : "copy"; }

  StatusSnapshot Status() const;
  // One human line: phase, rows, rate, ETA, replay, chunk, throttle, cutover.
  std::string StatusText() const;
  // The snapshot as one JSON object on one line.
  std::string StatusJson() const;

  // --- engine side ---

  // Replaces the published progress. Any thread; cheap.
  void Publish(const Progress& progress);

  // How the copy must size its next batch (feed to ChunkSizer::Configure).
  throttler::SizingSettings Sizing() const;
  // The throttler's live limits.
  throttler::Limits ThrottleLimits() const;
  // How long the copy rests after each batch, in multiples of its duration.
  double NiceRatio() const;
  bool paused() const { return paused_.load(); }
  bool replay_paused() const { return replay_paused_.load(); }
  bool abort_requested() const { return abort_.load(); }
  // Incremented by every successful Set: a cheap "did anything change?".
  uint64_t revision() const { return revision_.load(); }

  // The number of the last verification request made.
  uint64_t verify_requested() const { return verify_requested_.load(); }
  // Records the outcome of a verification that started after request
  // `covered` was made: it answers every request up to `covered`.
  void VerifyCompleted(uint64_t covered, bool ok, std::string text);

  // False while the cutover is postponed: --postpone-cutover and no
  // ReleaseCutover yet, or the postpone flag file exists or cannot be
  // checked (stat fails other than with ENOENT).
  bool CutoverAllowed() const;

  // Where Status reads the throttle state (usually Throttler::current).
  // Called without the mutex held; must not call Status.
  void SetThrottleSource(std::function<throttler::Decision()> source);
  // Run by the first Abort (e.g. Rewrite::RequestStop), on its thread.
  void SetAbortHandler(std::function<void()> handler);
  // Told of every operator command (its text and the reply), on the thread
  // that handled it (the run's hooks); null: no one.
  using CommandObserver = std::function<void(const std::string& command, const std::string& reply)>;
  void SetCommandObserver(CommandObserver observer);
  // The operator's `command` was handled with `reply` (the control socket).
  void CommandHandled(const std::string& command, const std::string& reply);

 private:
  absl::Status SetLocked(const std::string& name, const std::string& value, std::string* log)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The internal (chunk) name of a tunable as this kind of run spells it; ""
  // when this kind has no such tunable.
  std::string InternalName(const std::string& name) const;
  std::string BackfillStatusText(const StatusSnapshot& s) const;
  std::string GetLocked(const std::string& name) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  const ControlKind kind_;
  const Clock::time_point started_;
  const bool postpone_cutover_;
  const std::string postpone_flag_file_;

  std::atomic<bool> paused_{false};
  std::atomic<bool> replay_paused_{false};
  std::atomic<bool> abort_{false};
  std::atomic<bool> revert_{false};
  std::atomic<bool> cutover_released_{false};
  std::atomic<uint64_t> revision_{0};
  std::atomic<uint64_t> verify_requested_{0};
  mutable std::atomic<bool> flag_unreadable_logged_{false};  // warned once per spell

  mutable absl::Mutex mu_;
  ControlSettings settings_ ABSL_GUARDED_BY(mu_);
  Progress progress_ ABSL_GUARDED_BY(mu_);
  std::function<throttler::Decision()> throttle_source_ ABSL_GUARDED_BY(mu_);
  std::function<void()> abort_handler_ ABSL_GUARDED_BY(mu_);
  CommandObserver command_observer_ ABSL_GUARDED_BY(mu_);
  uint64_t verify_completed_ ABSL_GUARDED_BY(mu_) = 0;
  VerifyOutcome verify_outcome_ ABSL_GUARDED_BY(mu_);
};

// Value parsers shared with the command line (text → value; InvalidArgument
// on bad input). Durations: 500ms, 2s, 1.5s, 1m, 250 (milliseconds).
absl::StatusOr<std::chrono::milliseconds> ParseControlDuration(const std::string& text);
// Bytes: 1048576, 512kB, 64MB, 1GB, 1TB (powers of 1024).
absl::StatusOr<int64_t> ParseControlBytes(const std::string& text);
// "2s" for whole seconds, else "1500ms".
std::string FormatControlDuration(std::chrono::milliseconds d);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_CONTROL_CONTROL_H_
