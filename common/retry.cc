#include "common/retry.h"

#include <algorithm>
#include <random>
#include <thread>

#include "common/log.h"

namespace shadowcopy {

bool IsRetryable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable || status.code() == absl::StatusCode::kAborted;
}

std::chrono::milliseconds Backoff(const RetryPolicy& policy, int attempt) {
  thread_local std::mt19937 rng{std::random_device{}()};
  double base = static_cast<double>(policy.initial_backoff.count());
  for (int i = 1; i < attempt && base < policy.max_backoff.count(); ++i) base *= 2;
  base = std::min(base, static_cast<double>(policy.max_backoff.count()));
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  return std::chrono::milliseconds(static_cast<int64_t>(base * jitter(rng)));
}

absl::Status Retry(const RetryPolicy& policy, std::string_view what,
                   const std::function<absl::Status()>& fn, const std::atomic<bool>* stop) {
  return RetryIf(policy, what, fn, stop, IsRetryable);
}

absl::Status RetryIf(const RetryPolicy& policy, std::string_view what,
                     const std::function<absl::Status()>& fn, const std::atomic<bool>* stop,
                     const std::function<bool(const absl::Status&)>& retryable) {
  absl::Status st;
  for (int attempt = 1; attempt <= policy.attempts; ++attempt) {
    st = fn();
    if (st.ok() || !retryable(st)) return st;
    if (stop && *stop) return absl::CancelledError("stopped");
    if (attempt == policy.attempts) break;
    auto wait = Backoff(policy, attempt);
    Log(LogLevel::kInfo, "{}: {} (attempt {}/{}, retrying in {} ms)", what, st.message(), attempt,
        policy.attempts, wait.count());
    std::this_thread::sleep_for(wait);
  }
  return st;
}

}  // namespace shadowcopy
