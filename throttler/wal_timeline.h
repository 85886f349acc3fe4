// WalTimeline: estimates how far behind (in seconds) a standby replays, from
// the primary alone. pg_stat_replication's replay_lag is only sampled when the
// standby's replay position advances: a standby whose replay is stuck (or
// paused) keeps showing its last small value. So the throttler also records
// (time, pg_current_wal_lsn()) at every poll; a standby that has replayed up
// to L is behind by at least now − (time of the first sample past L).
//
// Pure logic: the caller passes the times. Granularity: the poll interval
// (the estimate errs low by at most one interval).
// Thread-safety: not thread-safe; owned by the throttler's thread.
#ifndef SHADOWCOPY_THROTTLER_WAL_TIMELINE_H_
#define SHADOWCOPY_THROTTLER_WAL_TIMELINE_H_

#include <chrono>
#include <cstddef>
#include <deque>

#include "common/lsn.h"
#include "throttler/policy.h"

namespace shadowcopy::throttler {

class WalTimeline {
 public:
  // Keeps at most `max_samples` samples (the estimate saturates at the
  // oldest sample's age).
  explicit WalTimeline(size_t max_samples = 4096) : max_samples_(max_samples) {}

  // Records the primary's WAL position `lsn` at `at`. Samples must come in
  // time order; one that does not advance the LSN is not kept.
  void Record(TimePoint at, Lsn lsn);

  // Seconds a standby that replayed up to `replayed` is behind at `now`:
  // 0 when it has replayed everything recorded.
  double LagSeconds(Lsn replayed, TimePoint now) const;

 private:
  struct Sample {
    TimePoint at;
    Lsn lsn;
  };
  const size_t max_samples_;
  std::deque<Sample> samples_;  // increasing lsn and time
};

}  // namespace shadowcopy::throttler

#endif  // SHADOWCOPY_THROTTLER_WAL_TIMELINE_H_
