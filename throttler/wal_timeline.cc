#include "throttler/wal_timeline.h"

#include <algorithm>

namespace shadowcopy::throttler {

void WalTimeline::Record(TimePoint at, Lsn lsn) {
  if (!samples_.empty() && lsn <= samples_.back().lsn) return;
  samples_.push_back({at, lsn});
  while (samples_.size() > max_samples_) samples_.pop_front();
}

double WalTimeline::LagSeconds(Lsn replayed, TimePoint now) const {
  // The first sample past `replayed`: WAL the standby has not replayed
  // existed at that time already.
  auto it = std::upper_bound(samples_.begin(), samples_.end(), replayed,
                             [](Lsn l, const Sample& s) { return l < s.lsn; });
  if (it == samples_.end()) return 0;
  return std::max(0.0, std::chrono::duration<double>(now - it->at).count());
}

}  // namespace shadowcopy::throttler
