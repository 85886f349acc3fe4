#include "cli/progress_line.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "fmt/format.h"
#include "throttler/policy.h"

namespace shadowcopy::cli {
namespace {

constexpr int kMaxBarColumns = 30;  // columns inside the brackets
constexpr int kMinBarColumns = 5;
constexpr const char* kFieldGap = "  ";

std::string CutToWidth(std::string line, int width) {
  width = std::max(width, 1);
  if (static_cast<int>(line.size()) <= width) return line;
  if (width <= 3) return line.substr(0, width);
  return line.substr(0, width - 3) + "...";
}

std::string BarText(double percent, int inner) {
  int filled = static_cast<int>(std::lround(std::clamp(percent, 0.0, 100.0) / 100 * inner));
  return "[" + std::string(filled, '#') + std::string(inner - filled, '.') + "]";
}

std::string JoinFields(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += kFieldGap;
    out += p;
  }
  return out;
}

std::string ElapsedText(double s) { return s < 60 ? fmt::format("{:.1f}s", std::max(s, 0.0)) : FormatEta(s); }

}  // namespace

ProgressLineInput ProgressLineFrom(const engine::StatusSnapshot& s, engine::ControlKind kind) {
  const engine::Progress& p = s.progress;
  ProgressLineInput in;
  in.phase = p.phase;
  in.eta_s = p.eta_s;
  in.rate = p.rows_per_s;
  in.throttled = s.throttled;
  in.throttle_reason = s.throttle_reason;
  if (kind == engine::ControlKind::kBackfill) {
    in.unit = "keys";
    in.percent = p.estimated_rows > 0 || p.span_percent >= 0 ? s.percent : -1;
    return in;
  }
  in.percent = p.estimated_rows > 0 ? s.percent : -1;
  if (p.phase == "verify" && p.verify_ranges_total > 0) {
    in.percent = 100.0 * p.verify_ranges_done / p.verify_ranges_total;
    in.rate = 0;
    in.eta_s = -1;
  } else if (p.phase != "copy") {
    in.rate = 0;
    in.eta_s = -1;
  }
  in.has_replay = true;
  in.replay_lag_bytes = p.replay_lag_bytes;
  in.replay_lag_s = p.replay_lag_s;
  return in;
}

std::string FormatEta(double seconds) {
  if (!(seconds >= 0) || std::isinf(seconds)) return "--";
  if (seconds > 99.0 * 86400) return ">99d";
  auto s = static_cast<int64_t>(std::lround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string FormatRate(double per_second) {
  if (!(per_second > 0) || std::isinf(per_second)) return "0";
  if (per_second < 1000) return fmt::format("{:.0f}", per_second);
  if (per_second < 1e6) return fmt::format("{:.1f}k", per_second / 1e3);
  return fmt::format("{:.2f}M", per_second / 1e6);
}

std::string RenderProgressLine(const ProgressLineInput& in, int width) {
  width = std::max(width, 1);
  const bool known = in.percent >= 0;
  std::string pct = known ? fmt::format("{:5.1f}%", std::min(in.percent, 100.0)) : "";
  std::string rate = in.rate > 0 ? fmt::format("{} {}/s", FormatRate(in.rate), in.unit) : "";
  std::string eta = in.eta_s >= 0 ? "ETA " + FormatEta(in.eta_s) : "";
  std::string lag;
  if (in.has_replay) {
    lag = "lag " + throttler::FormatBytes(static_cast<double>(in.replay_lag_bytes));
    if (in.replay_lag_s > 0) lag += fmt::format("/{:.1f}s", in.replay_lag_s);
  }
  std::string throttle = in.throttled ? in.throttle_reason : "";
  std::string rest = JoinFields({pct, rate, eta, lag, throttle});
  // Phase, then the bar in what the rest leaves.
  const int fixed = static_cast<int>(in.phase.size() + (rest.empty() ? 0 : rest.size() + 2));
  const int room = width - fixed - 2 /*gap*/ - 2 /*brackets*/;
  if (known && room >= kMinBarColumns) return JoinFields({in.phase, BarText(in.percent, std::min(room, kMaxBarColumns)), rest});
  return CutToWidth(JoinFields({in.phase, rest}), width);
}

std::string RenderFinalLine(const engine::StatusSnapshot& s, engine::ControlKind kind, bool ok, int width) {
  const engine::Progress& p = s.progress;
  const double secs = std::max(s.elapsed_s, 1e-3);
  std::string work;
  if (kind == engine::ControlKind::kBackfill)
    work = fmt::format("{} keys walked ({} keys/s), {} rows changed", p.keys_covered,
                       FormatRate(p.keys_covered / secs), p.rows_changed);
  else
    work = fmt::format("{} rows copied ({} rows/s), {} changes replayed", p.rows_copied,
                       FormatRate(p.rows_copied / secs), p.changes_replayed);
  std::string line = ok ? fmt::format("done in {}: {}", ElapsedText(s.elapsed_s), work)
                        : fmt::format("stopped{} at {:.1f}% after {}: {}",
                                      p.phase == "cleanup" ? "" : " in " + p.phase, s.percent,
                                      ElapsedText(s.elapsed_s), work);
  return CutToWidth(line, width);
}

}  // namespace shadowcopy::cli
