// Pacing of the copy between batches, pure arithmetic:
//
// - the nice ratio (as gh-ost's --nice-ratio): after a batch that took d,
//   the copy rests ratio × d, so it uses at most 1 / (1 + ratio) of the
//   time it would at full speed and leaves the server to the application in
//   between (the replay keeps running during the rest);
// - the back-off after the copy could not take a lock: it never waits in
//   the lock queue (anyone queued behind it would wait for it), it retries
//   later, doubling the delay each time up to a cap.
//
// Pure logic: no clock, no I/O. Thread-safety: stateless functions.
#ifndef SHADOWCOPY_THROTTLER_PACING_H_
#define SHADOWCOPY_THROTTLER_PACING_H_

#include <chrono>

namespace shadowcopy::throttler {

// Largest nice ratio accepted (a batch of 1 s then rests 100 s).
inline constexpr double kMaxNiceRatio = 100;

// How long the copy rests after a batch that took `batch`: ratio × batch.
// A ratio <= 0 (or NaN) gives zero; a ratio above kMaxNiceRatio counts as
// kMaxNiceRatio; a negative `batch` counts as zero.
std::chrono::nanoseconds NicePause(std::chrono::nanoseconds batch, double ratio);

// Delay before retry number `failures` (1 for the first failure): `first`
// doubled for every further failure, never above `cap`. failures < 1: zero.
std::chrono::milliseconds LockBackoff(int failures, std::chrono::milliseconds first,
                                      std::chrono::milliseconds cap);

}  // namespace shadowcopy::throttler

#endif  // SHADOWCOPY_THROTTLER_PACING_H_
