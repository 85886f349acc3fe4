// ChunkSizer: picks the number of rows of the next copy batch.
//
// Adaptive mode sizes batches so that one takes about `target` (a batch holds
// its snapshot and its locks for that long, and the replay waits behind it):
// after each batch the observed rate (rows per second) gives the size that
// would have taken `target`; the next size moves toward it, growing by at most
// `max_growth` per batch (recovery is gradual) and shrinking at once in
// proportion to the overrun. A throttle event cuts the size sharply
// (÷ `throttle_divisor`, not below min). Fixed mode (the operator's
// `set chunk-size=N`) always returns N.
//
// Pure logic: no clock, no I/O; durations are measured by the caller.
// Thread-safety: not thread-safe; owned by the copy loop's thread.
#ifndef SHADOWCOPY_THROTTLER_CHUNK_SIZER_H_
#define SHADOWCOPY_THROTTLER_CHUNK_SIZER_H_

#include <chrono>
#include <cstdint>

namespace shadowcopy::throttler {

// How batches are sized; the live tunables of the control interface.
struct SizingSettings {
  bool fixed = false;                    // true: every batch is `fixed_size` rows
  int64_t fixed_size = 10000;            // rows, >= 1; used when `fixed`
  std::chrono::milliseconds target{500}; // adaptive: wanted batch duration, > 0
  int64_t min_size = 100;                // adaptive lower bound, >= 1
  int64_t max_size = 100000;             // adaptive upper bound, >= min_size

  bool operator==(const SizingSettings&) const = default;
};

class ChunkSizer {
 public:
  // Largest factor by which one batch may grow over the previous one.
  static constexpr double kMaxGrowth = 1.25;
  // A throttle event divides the size by this (then clamps to min).
  static constexpr int64_t kThrottleDivisor = 4;

  // `initial` is the first adaptive size (clamped to [min, max]).
  // REQUIRES: settings valid as documented on SizingSettings.
  ChunkSizer(const SizingSettings& settings, int64_t initial);

  // Rows for the next batch: the fixed size, or the adaptive size in [min, max].
  int64_t Next() const;

  // Records a finished batch: `rows` copied in `elapsed`. A batch that copied
  // fewer rows than asked (the table's end) still tells the rate. Batches of
  // zero rows are ignored. No effect in fixed mode.
  void Observe(int64_t rows, std::chrono::nanoseconds elapsed);

  // A throttle signal crossed its limit: cut the adaptive size sharply.
  void OnThrottled();

  // Applies new settings (idempotent when unchanged). Switching to adaptive
  // starts from the current size (the fixed one after fixed mode), clamped.
  // REQUIRES: settings valid.
  void Configure(const SizingSettings& settings);

  const SizingSettings& settings() const { return settings_; }
  bool fixed() const { return settings_.fixed; }

 private:
  int64_t Clamp(double rows) const;

  SizingSettings settings_;
  int64_t adaptive_size_;
};

}  // namespace shadowcopy::throttler

#endif  // SHADOWCOPY_THROTTLER_CHUNK_SIZER_H_
