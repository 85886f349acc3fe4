#include "throttler/pacing.h"

#include <algorithm>
#include <cmath>

namespace shadowcopy::throttler {

std::chrono::nanoseconds NicePause(std::chrono::nanoseconds batch, double ratio) {
  if (!(ratio > 0) || batch.count() <= 0) return std::chrono::nanoseconds(0);
  ratio = std::min(ratio, kMaxNiceRatio);
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(static_cast<double>(batch.count()) * ratio)));
}

std::chrono::milliseconds LockBackoff(int failures, std::chrono::milliseconds first,
                                      std::chrono::milliseconds cap) {
  if (failures < 1) return std::chrono::milliseconds(0);
  std::chrono::milliseconds delay = std::min(first, cap);
  for (int i = 1; i < failures && delay < cap; ++i) delay = std::min(delay * 2, cap);
  return delay;
}

}  // namespace shadowcopy::throttler
