// Retry with exponential backoff and jitter for operations that fail with a
// retryable status (Unavailable: lock timeout, lost connection; Aborted:
// serialization failure, deadlock).
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_COMMON_RETRY_H_
#define SHADOWCOPY_COMMON_RETRY_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <string_view>

#include "absl/status/status.h"

namespace shadowcopy {

struct RetryPolicy {
  int attempts = 10;
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
};

bool IsRetryable(const absl::Status& status);

// Sleep before attempt `attempt` (1-based): initial * 2^(attempt-1), capped,
// with +-50% jitter so competing retries spread out.
std::chrono::milliseconds Backoff(const RetryPolicy& policy, int attempt);

// Runs `fn` until it succeeds, fails with a non-retryable status, the attempts
// run out or `stop` is set. `what` names the operation in log lines.
absl::Status Retry(const RetryPolicy& policy, std::string_view what,
                   const std::function<absl::Status()>& fn, const std::atomic<bool>* stop);

// As Retry, retrying only the failures `retryable` accepts.
absl::Status RetryIf(const RetryPolicy& policy, std::string_view what,
                     const std::function<absl::Status()>& fn, const std::atomic<bool>* stop,
                     const std::function<bool(const absl::Status&)>& retryable);

}  // namespace shadowcopy

#endif  // SHADOWCOPY_COMMON_RETRY_H_
