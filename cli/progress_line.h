// The one-line progress display of a terminal: phase, bar, percent, rate,
// ETA, replay lag and throttle reason, fitted to the terminal's width; and
// the summary line that replaces it at the end. Pure: values in, text out.
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_CLI_PROGRESS_LINE_H_
#define SHADOWCOPY_CLI_PROGRESS_LINE_H_

#include <cstdint>
#include <string>

#include "engine/control/control.h"

namespace shadowcopy::cli {

// What the line shows.
struct ProgressLineInput {
  std::string phase;
  double percent = -1;        // 0..100; < 0: unknown (no bar)
  double rate = 0;            // units per second
  std::string unit = "rows";  // of the rate
  double eta_s = -1;          // < 0: unknown
  bool has_replay = false;    // show the replay lag
  int64_t replay_lag_bytes = 0;
  double replay_lag_s = 0;
  bool throttled = false;
  std::string throttle_reason;  // "throttled: ..." as the throttler says it
};

// From a rewrite's or a backfill's status.
ProgressLineInput ProgressLineFrom(const engine::StatusSnapshot& s, engine::ControlKind kind);

// "42s", "3m05s", "1h02m", "2d03h"; "--" when unknown (< 0, NaN, infinite);
// beyond 99 days ">99d".
std::string FormatEta(double seconds);
// "950", "12.3k", "4.56M" (per second, no unit).
std::string FormatRate(double per_second);

// The line, at most `width` columns (ASCII only, so bytes are columns);
// the bar takes what the other fields leave (up to 30 columns inside its
// brackets); below 5 it is left out and the line, if still too long, is cut
// with "..." (the throttle reason, last, goes first). `width` < 1 counts as 1.
std::string RenderProgressLine(const ProgressLineInput& in, int width);

// The line left on screen at the end, e.g.
// "done in 12.4s: 200000 rows copied (16.1k rows/s), 2042 changes replayed";
// `ok` false: "stopped in copy at 45.2% after 12.4s" (the phase left out
// once the run is cleaning up after the stop).
std::string RenderFinalLine(const engine::StatusSnapshot& s, engine::ControlKind kind, bool ok, int width);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_PROGRESS_LINE_H_
