#include "throttler/chunk_sizer.h"

#include <algorithm>
#include <cmath>

namespace shadowcopy::throttler {

ChunkSizer::ChunkSizer(const SizingSettings& settings, int64_t initial)
    : settings_(settings), adaptive_size_(0) {
  adaptive_size_ = Clamp(static_cast<double>(initial));
}

int64_t ChunkSizer::Clamp(double rows) const {
  double lo = static_cast<double>(settings_.min_size);
  double hi = static_cast<double>(std::max(settings_.min_size, settings_.max_size));
  if (!(rows >= lo)) return settings_.min_size;  // also NaN
  if (rows > hi) return static_cast<int64_t>(hi);
  return static_cast<int64_t>(std::llround(rows));
}

int64_t ChunkSizer::Next() const {
  return settings_.fixed ? std::max<int64_t>(1, settings_.fixed_size) : adaptive_size_;
}

void ChunkSizer::Observe(int64_t rows, std::chrono::nanoseconds elapsed) {
  if (settings_.fixed || rows <= 0) return;
  double current = static_cast<double>(adaptive_size_);
  double seconds = std::chrono::duration<double>(elapsed).count();
  double target = std::chrono::duration<double>(settings_.target).count();
  double wanted;
  if (seconds <= 0) {
    wanted = current * kMaxGrowth;  // too fast to measure: grow
  } else {
    wanted = rows / seconds * target;  // the size that would have taken `target`
  }
  // Grow gradually; shrink at once (an overrun holds locks and delays replay).
  wanted = std::min(wanted, current * kMaxGrowth);
  adaptive_size_ = Clamp(wanted);
}

void ChunkSizer::OnThrottled() {
  if (settings_.fixed) return;
  adaptive_size_ = Clamp(static_cast<double>(adaptive_size_ / kThrottleDivisor));
}

void ChunkSizer::Configure(const SizingSettings& settings) {
  if (settings == settings_) return;
  bool was_fixed = settings_.fixed;
  int64_t previous = Next();
  settings_ = settings;
  adaptive_size_ = Clamp(static_cast<double>(was_fixed ? previous : adaptive_size_));
}

}  // namespace shadowcopy::throttler
