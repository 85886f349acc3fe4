// Prometheus text format (cli/metrics_text.h): the --metrics-listen address,
// escaping, value formatting, and every rendered line well formed (names,
// HELP/TYPE before samples, _total on counters, one series per phase and
// throttle cause).
#include "cli/metrics_text.h"

#include <limits>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::cli {
namespace {

using ::testing::HasSubstr;

TEST(MetricsListenTest, PortAloneIsLoopback) {
  auto a = ParseListenAddress("9187");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9187);
}

TEST(MetricsListenTest, HostsAndPortZero) {
  auto a = ParseListenAddress("0.0.0.0:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 0);
  a = ParseListenAddress("[::1]:9100");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 9100);
  a = ParseListenAddress("localhost:65535");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 65535);
}

TEST(MetricsListenTest, BadAddressesOneLine) {
  for (const char* bad : {"", "65536", "abc", "9187x", "-1", "example.com:9187", ":9187", "::1:9187",
                          "[::1]9187", "[::1", "1.2.3.4:", "1.2.3.400:80", "[zz]:80"}) {
    auto a = ParseListenAddress(bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(a.status().message()), HasSubstr("--metrics-listen")) << bad;
    EXPECT_EQ(std::string(a.status().message()).find('\n'), std::string::npos) << bad;
  }
}

TEST(MetricsTextTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeHelp("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");
}

TEST(MetricsTextTest, FormatsValues) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(200000), "200000");
  EXPECT_EQ(FormatMetricValue(-3), "-3");
  EXPECT_EQ(FormatMetricValue(0.5), "0.5");
  EXPECT_EQ(FormatMetricValue(1e20), "1e+20");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(MetricsTextTest, WriterLines) {
  MetricsWriter w;
  w.Counter("x_total", "a help", 3);
  w.Family("y", "gauge", "labelled");
  w.Sample("y", {{"a", "1"}, {"b", "q\""}}, 0.25);
  EXPECT_EQ(w.text(),
            "# HELP x_total a help\n# TYPE x_total counter\nx_total 3\n"
            "# HELP y labelled\n# TYPE y gauge\ny{a=\"1\",b=\"q\\\"\"} 0.25\n");
}

engine::StatusSnapshot Snapshot() {
  engine::StatusSnapshot s;
  s.progress.phase = "copy";
  s.progress.rows_copied = 12345;
  s.progress.estimated_rows = 200000;
  s.progress.rows_per_s = 1500.5;
  s.progress.eta_s = 12;
  s.progress.changes_replayed = 77;
  s.progress.replay_lag_bytes = 4096;
  s.progress.chunk_size = 500;
  s.progress.slot_retained_wal_bytes = 1 << 20;
  s.progress.cutover_attempts = 2;
  s.progress.cutover_blocked_ms = 12.5;
  s.percent = 6.2;
  s.elapsed_s = 8.25;
  s.throttled = true;
  s.throttle_reason = "throttled: flag file /tmp/x exists";
  s.throttle_causes = {"flag_file"};
  return s;
}

// Every line is a comment (HELP/TYPE) or a sample of a family declared just
// before; returns sample (name with labels) -> value.
std::map<std::string, std::string> ParseExposition(const std::string& text) {
  static const std::regex kSample(R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (\S+)$)re");
  static const std::regex kHelp(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)");
  static const std::regex kType(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$)");
  std::map<std::string, std::string> samples;
  std::set<std::string> families;
  std::string family, type;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::string l(line);
    std::smatch m;
    if (std::regex_match(l, m, kHelp)) {
      family = m[1];
      EXPECT_TRUE(families.insert(family).second) << "family twice: " << family;
      EXPECT_EQ(family.rfind("shadowcopy_", 0), 0u) << family;
    } else if (std::regex_match(l, m, kType)) {
      EXPECT_EQ(m[1], family) << l;
      type = m[2];
      bool total = family.size() > 6 && family.substr(family.size() - 6) == "_total";
      EXPECT_EQ(type == "counter", total) << family;
    } else if (std::regex_match(l, m, kSample)) {
      EXPECT_EQ(m[1], family) << l;
      size_t space = l.rfind(' ');
      EXPECT_TRUE(samples.emplace(l.substr(0, space), l.substr(space + 1)).second) << "twice: " << l;
    } else {
      ADD_FAILURE() << "not exposition format: " << l;
    }
  }
  return samples;
}

TEST(MetricsTextTest, RewritePage) {
  auto page = RenderRunMetrics({"rewrite", "public", "orders"}, engine::ControlKind::kRewrite, Snapshot());
  auto m = ParseExposition(page);
  EXPECT_EQ(m["shadowcopy_rows_copied_total"], "12345");
  EXPECT_EQ(m["shadowcopy_rows_estimated"], "200000");
  EXPECT_EQ(m["shadowcopy_copy_rows_per_second"], "1500.5");
  EXPECT_EQ(m["shadowcopy_copy_eta_seconds"], "12");
  EXPECT_EQ(m["shadowcopy_changes_replayed_total"], "77");
  EXPECT_EQ(m["shadowcopy_replay_lag_bytes"], "4096");
  EXPECT_EQ(m["shadowcopy_slot_retained_wal_bytes"], "1048576");
  EXPECT_EQ(m["shadowcopy_chunk_size_rows"], "500");
  EXPECT_EQ(m["shadowcopy_cutover_attempts_total"], "2");
  EXPECT_EQ(m["shadowcopy_cutover_blocked_seconds"], "0.0125");
  EXPECT_EQ(m["shadowcopy_elapsed_seconds"], "8.25");
  EXPECT_EQ(m["shadowcopy_phase{phase=\"copy\"}"], "1");
  EXPECT_EQ(m["shadowcopy_phase{phase=\"cutover\"}"], "0");
  EXPECT_EQ(m["shadowcopy_throttled{reason=\"flag_file\"}"], "1");
  EXPECT_EQ(m["shadowcopy_throttled{reason=\"replica_lag\"}"], "0");
  EXPECT_EQ(m["shadowcopy_run_info{command=\"rewrite\",schema=\"public\",table=\"orders\"}"], "1");
  EXPECT_EQ(m.count("shadowcopy_backfill_keys_total"), 0u);
}

TEST(MetricsTextTest, OddTableAndPhaseAreEscaped) {
  auto s = Snapshot();
  s.progress.phase = "weird\"phase";
  s.progress.eta_s = -1;
  s.progress.slot_retained_wal_bytes = -1;
  auto page = RenderRunMetrics({"rewrite", "s\\x", "Order \"Lines\"\nx"}, engine::ControlKind::kRewrite, s);
  auto m = ParseExposition(page);
  EXPECT_EQ(m["shadowcopy_run_info{command=\"rewrite\",schema=\"s\\\\x\",table=\"Order \\\"Lines\\\"\\nx\"}"], "1");
  EXPECT_EQ(m["shadowcopy_phase{phase=\"weird\\\"phase\"}"], "1");
  EXPECT_EQ(m["shadowcopy_phase{phase=\"copy\"}"], "0");
  EXPECT_EQ(m.count("shadowcopy_copy_eta_seconds"), 0u);          // unknown: left out
  EXPECT_EQ(m.count("shadowcopy_slot_retained_wal_bytes"), 0u);   // not read yet
}

TEST(MetricsTextTest, BackfillPage) {
  engine::StatusSnapshot s;
  s.progress.phase = "backfill";
  s.progress.keys_covered = 5000;
  s.progress.rows_changed = 1200;
  s.progress.estimated_rows = 10000;
  s.percent = 50;
  s.paused = true;
  s.throttle_causes = {"operator_pause"};
  auto m = ParseExposition(RenderRunMetrics({"backfill", "public", "t"}, engine::ControlKind::kBackfill, s));
  EXPECT_EQ(m["shadowcopy_backfill_keys_total"], "5000");
  EXPECT_EQ(m["shadowcopy_backfill_rows_changed_total"], "1200");
  EXPECT_EQ(m["shadowcopy_backfill_progress_ratio"], "0.5");
  EXPECT_EQ(m["shadowcopy_paused"], "1");
  EXPECT_EQ(m["shadowcopy_throttled{reason=\"operator_pause\"}"], "1");
  EXPECT_EQ(m["shadowcopy_phase{phase=\"backfill\"}"], "1");
  EXPECT_EQ(m.count("shadowcopy_rows_copied_total"), 0u);
}

TEST(MetricsTextTest, MigratePage) {
  MigrateProgress p;
  p.phase = "apply";
  p.versions_applied = 2;
  p.versions_pending = 3;
  auto m = ParseExposition(RenderMigrateMetrics({"migrate", "", ""}, p));
  EXPECT_EQ(m["shadowcopy_migrate_versions_applied_total"], "2");
  EXPECT_EQ(m["shadowcopy_migrate_versions_pending"], "3");
  EXPECT_EQ(m["shadowcopy_phase{phase=\"apply\"}"], "1");
  EXPECT_EQ(m["shadowcopy_run_info{command=\"migrate\"}"], "1");
}

}  // namespace
}  // namespace shadowcopy::cli
