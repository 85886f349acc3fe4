// The application's health, from the latency of a tiny canary statement run
// on its own connection every ~100 ms: a baseline taken before the run does
// any heavy work, then a sliding window of recent samples compared with it.
//
// The application is suffering when, over the window, either
//  - the tail rose: the window's p90 exceeds
//      max(factor × baseline p95, baseline p95 + floor)
//    (p90 against the baseline's p95: a sample or two of a busy machine's
//    hiccups, a scheduler delay or a checkpoint's fsync, stay above p90's
//    rank; 0.3 s of slow samples in 3 s do not), or
//  - the typical latency rose: the window's p50 exceeds
//      max(factor × baseline p50, baseline p50 + floor / 4)
//    (an application already busy at the baseline has a wide tail whose
//    p95 hides its suffering; its median does not).
// The floor keeps a sub-millisecond baseline from firing on scheduler
// noise. Hysteresis: once fired, the signal holds until both are back below
// the middle of their baseline and threshold.
//
// Pure logic: no clock (callers pass `now`), no I/O.
// Thread-safety: none; one owner (the throttler's polling thread).
#ifndef SHADOWCOPY_THROTTLER_HEALTH_H_
#define SHADOWCOPY_THROTTLER_HEALTH_H_

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "throttler/policy.h"

namespace shadowcopy::throttler {

struct HealthSettings {
  double factor = 3;                          // window p95 > factor × baseline p95 ...
  std::chrono::milliseconds floor{20};        // ... and > baseline p95 + floor
  std::chrono::milliseconds window{3000};     // the sliding window
  size_t min_window_samples = 5;              // fewer: no verdict yet (healthy)
};

// p-th percentile (0..100, nearest rank) of `v`; 0 for none.
double Percentile(std::vector<double> v, double p);

class HealthMonitor {
 public:
  // `name` starts the details ("canary", "statements in flight").
  explicit HealthMonitor(std::string name = "canary") : name_(std::move(name)) {}

  // A baseline sample (ms), taken before the run's heavy work starts.
  void AddBaseline(double latency_ms);
  // Ends the baseline: samples from now on go to the window. A monitor
  // with no baseline sample never fires.
  void EndBaseline();
  bool has_baseline() const { return baseline_p95_.has_value(); }
  size_t baseline_samples() const { return baseline_.size(); }
  // "p50 0.4 ms, p95 0.9 ms over 10 samples"; "none" without a baseline.
  std::string DescribeBaseline() const;

  // A sample of the running canary (ms); a statement that failed or timed
  // out counts with the time it took.
  void Add(double latency_ms, TimePoint at);

  struct Verdict {
    bool suffering = false;
    double p50_ms = 0, p90_ms = 0;    // the window's
    double baseline_p50_ms = 0, baseline_p95_ms = 0;
    double threshold_ms = 0;          // for the window's p90
    double median_threshold_ms = 0;   // for the window's p50
    size_t samples = 0;               // in the window
    // "canary p90 48 ms vs baseline p95 6.0 ms (limit 26 ms); p50 6.0 ms vs
    // 5.0 ms (limit 15 ms)"
    std::string detail;
  };
  // The verdict over the samples within `settings.window` of `now`
  // (older ones are dropped); updates the hysteresis state.
  Verdict Evaluate(const HealthSettings& settings, TimePoint now);

 private:
  std::string name_;
  std::vector<double> baseline_;
  std::optional<double> baseline_p50_, baseline_p95_;
  std::deque<std::pair<TimePoint, double>> window_;
  bool suffering_ = false;
};

// Milliseconds with one decimal below 10 ("0.4 ms", "48 ms").
std::string FormatMs(double ms);

}  // namespace shadowcopy::throttler

#endif  // SHADOWCOPY_THROTTLER_HEALTH_H_
