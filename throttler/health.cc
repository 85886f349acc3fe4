#include "throttler/health.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"

namespace shadowcopy::throttler {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double rank = std::ceil(p / 100.0 * static_cast<double>(v.size()));
  size_t i = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return v[std::min(i, v.size() - 1)];
}

std::string FormatMs(double ms) {
  if (ms < 10) return fmt::format("{:.1f} ms", ms);
  return fmt::format("{:.0f} ms", ms);
}

void HealthMonitor::AddBaseline(double latency_ms) { baseline_.push_back(std::max(0.0, latency_ms)); }

void HealthMonitor::EndBaseline() {
  if (baseline_.empty()) return;
  baseline_p50_ = Percentile(baseline_, 50);
  baseline_p95_ = Percentile(baseline_, 95);
}

std::string HealthMonitor::DescribeBaseline() const {
  if (!baseline_p95_) return "none";
  return fmt::format("{} p50 {}, p95 {} over {} samples", name_, FormatMs(*baseline_p50_), FormatMs(*baseline_p95_),
                     baseline_.size());
}

void HealthMonitor::Add(double latency_ms, TimePoint at) { window_.emplace_back(at, std::max(0.0, latency_ms)); }

HealthMonitor::Verdict HealthMonitor::Evaluate(const HealthSettings& s, TimePoint now) {
  while (!window_.empty() && now - window_.front().first > s.window) window_.pop_front();
  Verdict v;
  if (!baseline_p95_) {
    v.detail = "no baseline";
    return v;
  }
  std::vector<double> recent;
  for (const auto& sample : window_) recent.push_back(sample.second);
  v.samples = recent.size();
  v.baseline_p50_ms = *baseline_p50_;
  v.baseline_p95_ms = *baseline_p95_;
  const double floor_ms = std::chrono::duration<double, std::milli>(s.floor).count();
  const double factor = std::max(s.factor, 1.0);
  v.threshold_ms = std::max(factor * v.baseline_p95_ms, v.baseline_p95_ms + floor_ms);
  v.median_threshold_ms = std::max(factor * v.baseline_p50_ms, v.baseline_p50_ms + floor_ms / 4);
  if (recent.size() < s.min_window_samples) {
    // Too few samples for a verdict (the canary itself may be stuck: a
    // sample that never comes back is counted when its timeout ends it).
    v.suffering = suffering_;
    v.detail = fmt::format("{}: {} samples in the window, baseline p95 {}", name_, recent.size(),
                           FormatMs(v.baseline_p95_ms));
    return v;
  }
  v.p50_ms = Percentile(recent, 50);
  v.p90_ms = Percentile(recent, 90);
  const bool tail = v.p90_ms > v.threshold_ms;
  const bool typical = v.p50_ms > v.median_threshold_ms;
  const bool tail_back = v.p90_ms < (v.baseline_p95_ms + v.threshold_ms) / 2;
  const bool typical_back = v.p50_ms < (v.baseline_p50_ms + v.median_threshold_ms) / 2;
  if (!suffering_ && (tail || typical)) suffering_ = true;
  else if (suffering_ && tail_back && typical_back) suffering_ = false;
  v.suffering = suffering_;
  v.detail = fmt::format("{} p90 {} vs baseline p95 {} (limit {}); p50 {} vs {} (limit {})", name_,
                         FormatMs(v.p90_ms), FormatMs(v.baseline_p95_ms), FormatMs(v.threshold_ms),
                         FormatMs(v.p50_ms), FormatMs(v.baseline_p50_ms), FormatMs(v.median_threshold_ms));
  return v;
}

}  // namespace shadowcopy::throttler
