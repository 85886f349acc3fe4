// The terminal's progress line (cli/progress_line.h): ETA and rate text,
// the line fitted to every width (bar shrinks, then goes, then the line is
// cut), and the final line.
#include "cli/progress_line.h"

#include <cmath>
#include <limits>
#include <string>

#include "common/log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ProgressLineTest, FormatsEta) {
  EXPECT_EQ(FormatEta(0), "0s");
  EXPECT_EQ(FormatEta(42.4), "42s");
  EXPECT_EQ(FormatEta(59.6), "1m00s");
  EXPECT_EQ(FormatEta(185), "3m05s");
  EXPECT_EQ(FormatEta(3720), "1h02m");
  EXPECT_EQ(FormatEta(2 * 86400 + 3 * 3600 + 59), "2d03h");
  EXPECT_EQ(FormatEta(100.0 * 86400), ">99d");
  EXPECT_EQ(FormatEta(-1), "--");
  EXPECT_EQ(FormatEta(std::nan("")), "--");
  EXPECT_EQ(FormatEta(std::numeric_limits<double>::infinity()), "--");
}

TEST(ProgressLineTest, FormatsRate) {
  EXPECT_EQ(FormatRate(0), "0");
  EXPECT_EQ(FormatRate(950.4), "950");
  EXPECT_EQ(FormatRate(12345), "12.3k");
  EXPECT_EQ(FormatRate(4560000), "4.56M");
}

ProgressLineInput Copying() {
  ProgressLineInput in;
  in.phase = "copy";
  in.percent = 45.2;
  in.rate = 12345;
  in.eta_s = 65;
  in.has_replay = true;
  in.replay_lag_bytes = 3 << 20;
  return in;
}

TEST(ProgressLineTest, WideTerminalFullLine) {
  std::string line = RenderProgressLine(Copying(), 120);
  EXPECT_EQ(line, "copy  [##############................]   45.2%  12.3k rows/s  ETA 1m05s  lag 3.0 MB");
}

TEST(ProgressLineTest, EveryWidthFits) {
  auto in = Copying();
  in.throttled = true;
  in.throttle_reason = "throttled: replica lag 12.0 s > 10 s on standby1";
  for (int width = 1; width <= 200; ++width) {
    std::string line = RenderProgressLine(in, width);
    EXPECT_LE(static_cast<int>(line.size()), width) << width;
    EXPECT_EQ(line.find('\n'), std::string::npos);
    if (width >= 20) {
      EXPECT_THAT(line, StartsWith("copy")) << width;
    }
  }
  // Room for everything: the reason is shown whole.
  EXPECT_THAT(RenderProgressLine(in, 200), HasSubstr("throttled: replica lag 12.0 s > 10 s on standby1"));
  // A narrow terminal: no bar, the line cut with "...".
  std::string narrow = RenderProgressLine(in, 40);
  EXPECT_EQ(narrow.find('['), std::string::npos);
  EXPECT_EQ(narrow.size(), 40u);
  EXPECT_EQ(narrow.substr(37), "...");
}

TEST(ProgressLineTest, BarShrinksWithWidth) {
  auto in = Copying();
  std::string wide = RenderProgressLine(in, 200), mid = RenderProgressLine(in, 70);
  auto bar = [](const std::string& l) { return l.substr(l.find('['), l.find(']') - l.find('[') + 1); };
  EXPECT_EQ(bar(wide).size(), 32u);  // 30 inside
  EXPECT_LT(bar(mid).size(), 32u);
  EXPECT_LE(mid.size(), 70u);
  in.percent = 100;
  EXPECT_THAT(RenderProgressLine(in, 200), HasSubstr("[" + std::string(30, '#') + "]"));
  in.percent = 0;
  EXPECT_THAT(RenderProgressLine(in, 200), HasSubstr("[" + std::string(30, '.') + "]"));
}

TEST(ProgressLineTest, UnknownPercentHasNoBar) {
  ProgressLineInput in;
  in.phase = "prepare";
  EXPECT_EQ(RenderProgressLine(in, 80), "prepare");
}

TEST(ProgressLineTest, FromSnapshot) {
  engine::StatusSnapshot s;
  s.progress.phase = "catchup";
  s.progress.estimated_rows = 100;
  s.progress.rows_copied = 100;
  s.progress.rows_per_s = 50;
  s.progress.eta_s = 3;
  s.progress.replay_lag_bytes = 2048;
  s.percent = 100;
  auto in = ProgressLineFrom(s, engine::ControlKind::kRewrite);
  EXPECT_EQ(in.rate, 0);  // the copy's rate only while copying
  EXPECT_LT(in.eta_s, 0);
  EXPECT_EQ(RenderProgressLine(in, 80), "catchup  [##############################]  100.0%  lag 2.0 kB");
  s.progress.phase = "verify";
  s.progress.verify_ranges_done = 1;
  s.progress.verify_ranges_total = 4;
  EXPECT_EQ(ProgressLineFrom(s, engine::ControlKind::kRewrite).percent, 25);
  s.progress.phase = "backfill";
  s.progress.keys_covered = 50;
  s.percent = 50;
  auto b = ProgressLineFrom(s, engine::ControlKind::kBackfill);
  EXPECT_EQ(b.unit, "keys");
  EXPECT_FALSE(b.has_replay);
}

TEST(ProgressLineTest, FinalLines) {
  engine::StatusSnapshot s;
  s.progress.phase = "done";
  s.progress.rows_copied = 200000;
  s.progress.changes_replayed = 2042;
  s.elapsed_s = 12.44;
  s.percent = 100;
  EXPECT_EQ(RenderFinalLine(s, engine::ControlKind::kRewrite, true, 200),
            "done in 12.4s: 200000 rows copied (16.1k rows/s), 2042 changes replayed");
  s.progress.phase = "copy";
  s.percent = 45.25;
  s.elapsed_s = 125;
  EXPECT_THAT(RenderFinalLine(s, engine::ControlKind::kRewrite, false, 200),
              StartsWith("stopped in copy at 45.2% after 2m05s: "));
  EXPECT_EQ(RenderFinalLine(s, engine::ControlKind::kRewrite, false, 20).size(), 20u);
  s.progress.phase = "cleanup";
  EXPECT_THAT(RenderFinalLine(s, engine::ControlKind::kRewrite, false, 200), StartsWith("stopped at 45.2% after "));
}

// Log lines printed while the line shows: it is cleared, the log line
// printed whole, the line drawn again; the final line ends with a newline
// and nothing is redrawn after it.
TEST(StickyLineTest, LogLinesClearAndRedrawIt) {
  ::testing::internal::CaptureStderr();
  SetStickyLine("copy  [##..]  50.0%");
  LogLine(LogLevel::kWarning, "hello");
  SetStickyLine("copy  [###.]  75.0%");
  EndStickyLine("done in 1.0s");
  LogLine(LogLevel::kWarning, "after");
  EndStickyLine("");
  std::string out = ::testing::internal::GetCapturedStderr();
  const std::string clear = "\r\x1b[K";
  EXPECT_EQ(out.rfind(clear + "copy  [##..]  50.0%" + clear, 0), 0u) << out;
  EXPECT_THAT(out, HasSubstr(" warning: hello\ncopy  [##..]  50.0%" + clear + "copy  [###.]  75.0%" + clear +
                             "done in 1.0s\n"));
  EXPECT_THAT(out, ::testing::EndsWith(" warning: after\n"));
  EXPECT_EQ(out.find(clear, out.find("done in")), std::string::npos) << "drawn after the end";
}

}  // namespace
}  // namespace shadowcopy::cli
