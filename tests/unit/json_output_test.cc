// JSON output (common/json.h, engine/control/status_json.h, cli/summary_json.h): the
// status, progress and summary lines parse back with their field names in
// order, their value types and values; strings with quotes, backslashes,
// control characters and bytes that are not UTF-8 give valid JSON.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "cli/summary_json.h"
#include "common/json.h"
#include "engine/control/control.h"
#include "engine/control/status_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace shadowcopy {
namespace {

using ::testing::ElementsAreArray;

// A table name and an error text with everything JSON must escape, and bytes
// that are not UTF-8: 0xff and 0xfe, and a lead byte cut off at the end.
const std::string kTable =
    std::string("Order \"Lines\" \\ x\n\t\x01 end\xff\xfe") + "\xc3\xa4" + "\xc3";
const std::string kError =
    std::string("could not lock \"public\".\"a\\b\": \x01\x1f\r\n\t\x7f ") + "\x80" + "!";
// What they read as after a round trip: each byte that is not UTF-8 became
// U+FFFD, everything else is unchanged.
const std::string kReplacement = "\xef\xbf\xbd";
const std::string kTableBack = std::string("Order \"Lines\" \\ x\n\t\x01 end") + kReplacement +
                               kReplacement + "\xc3\xa4" + kReplacement;
const std::string kErrorBack =
    std::string("could not lock \"public\".\"a\\b\": \x01\x1f\r\n\t\x7f ") + kReplacement + "!";

// Parses `line` without exceptions; a discarded value when it is not JSON.
nlohmann::ordered_json Parse(const std::string& line) {
  return nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
}

// The space-separated words of `text`.
std::vector<std::string> Words(const char* text) { return absl::StrSplit(text, ' '); }

std::vector<std::string> Keys(const nlohmann::ordered_json& object) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.push_back(key);
  return keys;
}

// `line` is one line, with no control character or invalid byte left raw.
void ExpectOneLine(const std::string& line) {
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\r'), std::string::npos) << line;
  EXPECT_EQ(line.find('\x01'), std::string::npos) << line;
  EXPECT_EQ(line.find('\xff'), std::string::npos) << line;
}

engine::StatusSnapshot MigrationSnapshot() {
  engine::StatusSnapshot s;
  engine::Progress& p = s.progress;
  p.phase = kTable;
  p.rows_copied = 2500;
  p.estimated_rows = 10000.4;
  p.rows_per_s = 1234.56;
  p.eta_s = 6.04;
  p.changes_replayed = 77;
  p.queue_depth = 3;
  p.replay_lag_bytes = 4096;
  p.replay_lag_s = 0.0125;
  p.batches = 5;
  p.chunk_size = 500;
  p.verify_state = kError;
  p.verify_ranges_done = 3;
  p.verify_ranges_total = 8;
  p.verify_rows = 900;
  p.verify_mismatches = 1;
  p.verify_repaired = 1;
  p.verify_blocked_ms = 2.25;
  s.percent = 25;
  s.elapsed_s = 12.34;
  s.sizing.fixed = false;
  s.sizing.target = std::chrono::milliseconds(500);
  s.sizing.min_size = 100;
  s.sizing.max_size = 100000;
  s.nice_ratio = 0.5;
  s.paused = true;
  s.replay_paused = false;
  s.throttled = true;
  s.throttle_reason = "throttled: " + kError;
  s.abort_requested = false;
  s.cutover = "postponed";
  return s;
}

TEST(JsonOutputTest, DumpJsonEscapesAndReplacesWithoutThrowing) {
  Json j = Json::object();
  j["table"] = kTable;
  j["error"] = kError;
  std::string line = DumpJson(j);
  ExpectOneLine(line);
  auto back = Parse(line);
  ASSERT_FALSE(back.is_discarded()) << line;
  EXPECT_EQ(back["table"].get<std::string>(), kTableBack);
  EXPECT_EQ(back["error"].get<std::string>(), kErrorBack);
  // Valid UTF-8 and printable ASCII pass through as they are.
  EXPECT_EQ(DumpJson(Json("ä \"q\" \\")), "\"ä \\\"q\\\" \\\\\"");
  EXPECT_EQ(DumpJson(Json("\x01\n")), "\"\\u0001\\n\"");
}

TEST(JsonOutputTest, NumbersAreWhatTheOldFormatsPrinted) {
  // "%.Nf": the same value; whole with 0 decimals is an integer.
  EXPECT_EQ(DumpJson(FixedDecimals(10000.4, 0)), "10000");
  EXPECT_EQ(DumpJson(FixedDecimals(2.5, 0)), "2");  // round half to even, as printf
  EXPECT_EQ(DumpJson(FixedDecimals(12.25, 1)), "12.2");
  EXPECT_EQ(DumpJson(FixedDecimals(100, 1)), "100.0");
  EXPECT_EQ(DumpJson(FixedDecimals(0, 1)), "0.0");
  EXPECT_EQ(DumpJson(FixedDecimals(0.0125, 3)), "0.013");
  EXPECT_EQ(DumpJson(FixedDecimals(-1, 1)), "-1.0");
  EXPECT_TRUE(FixedDecimals(3, 0).is_number_integer());
  EXPECT_TRUE(FixedDecimals(3, 1).is_number_float());
  // "%g": six significant digits, an integer when whole.
  EXPECT_EQ(DumpJson(ShortNumber(0)), "0");
  EXPECT_EQ(DumpJson(ShortNumber(100)), "100");
  EXPECT_EQ(DumpJson(ShortNumber(1.5)), "1.5");
  EXPECT_EQ(DumpJson(ShortNumber(0.1234567)), "0.123457");
  // Not numbers in JSON: 0, so the line stays valid.
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    EXPECT_EQ(DumpJson(FixedDecimals(bad, 1)), "0.0");
    EXPECT_EQ(DumpJson(FixedDecimals(-bad, 0)), "0");
    EXPECT_EQ(DumpJson(ShortNumber(bad)), "0");
  }
}

TEST(JsonOutputTest, MigrationStatusRoundTrips) {
  std::string line = engine::RewriteStatusJson(MigrationSnapshot());
  ExpectOneLine(line);
  auto j = Parse(line);
  ASSERT_FALSE(j.is_discarded()) << line;
  EXPECT_EQ(Keys(j),
            Words("phase rows_copied estimated_rows percent rows_per_s eta_s changes_replayed "
                  "queue_depth replay_lag_bytes replay_lag_s batches chunk_size chunk_mode "
                  "target_chunk_time_ms min_chunk_size max_chunk_size nice_ratio paused "
                  "replay_paused throttled throttle_reason cutover abort_requested elapsed_s "
                  "verify verify_ranges_done verify_ranges_total verify_rows verify_mismatches "
                  "verify_repaired verify_blocked_ms lock_wait app_health_throttled health"));
  EXPECT_EQ(j["phase"].get<std::string>(), kTableBack);
  EXPECT_EQ(j["throttle_reason"].get<std::string>(), "throttled: " + kErrorBack);
  EXPECT_EQ(j["verify"].get<std::string>(), kErrorBack);
  EXPECT_EQ(j["cutover"], "postponed");
  EXPECT_EQ(j["chunk_mode"], "adaptive");
  EXPECT_TRUE(j["rows_copied"].is_number_integer());
  EXPECT_EQ(j["rows_copied"], 2500);
  EXPECT_TRUE(j["estimated_rows"].is_number_integer());
  EXPECT_EQ(j["estimated_rows"], 10000);
  EXPECT_EQ(j["percent"], 25.0);
  EXPECT_TRUE(j["percent"].is_number_float());
  EXPECT_EQ(j["rows_per_s"], 1234.6);
  EXPECT_EQ(j["eta_s"], 6.0);
  EXPECT_EQ(j["replay_lag_s"], 0.013);
  EXPECT_EQ(j["queue_depth"], 3);
  EXPECT_EQ(j["chunk_size"], 500);
  EXPECT_EQ(j["target_chunk_time_ms"], 500);
  EXPECT_EQ(j["nice_ratio"], 0.5);
  EXPECT_EQ(j["paused"], true);
  EXPECT_EQ(j["replay_paused"], false);
  EXPECT_EQ(j["elapsed_s"], 12.3);
  EXPECT_EQ(j["verify_blocked_ms"], 2.2);
}

// The line as the format string before nlohmann printed it, for a snapshot
// whose numbers print the same either way.
TEST(JsonOutputTest, MigrationStatusKeepsItsFormat) {
  engine::StatusSnapshot s = MigrationSnapshot();
  s.progress.phase = "copy";
  s.progress.verify_state = "running";
  s.throttle_reason = "throttled: flag file \"/tmp/x\" exists";
  EXPECT_EQ(engine::RewriteStatusJson(s),
            "{\"phase\":\"copy\",\"rows_copied\":2500,\"estimated_rows\":10000,\"percent\":25.0,"
            "\"rows_per_s\":1234.6,\"eta_s\":6.0,\"changes_replayed\":77,\"queue_depth\":3,"
            "\"replay_lag_bytes\":4096,\"replay_lag_s\":0.013,\"batches\":5,\"chunk_size\":500,"
            "\"chunk_mode\":\"adaptive\",\"target_chunk_time_ms\":500,\"min_chunk_size\":100,"
            "\"max_chunk_size\":100000,\"nice_ratio\":0.5,\"paused\":true,\"replay_paused\":false,"
            "\"throttled\":true,\"throttle_reason\":\"throttled: flag file \\\"/tmp/x\\\" exists\","
            "\"cutover\":\"postponed\",\"abort_requested\":false,\"elapsed_s\":12.3,"
            "\"verify\":\"running\",\"verify_ranges_done\":3,\"verify_ranges_total\":8,"
            "\"verify_rows\":900,\"verify_mismatches\":1,\"verify_repaired\":1,"
            "\"verify_blocked_ms\":2.2,\"lock_wait\":null,\"app_health_throttled\":false,\"health\":\"\"}");
}

TEST(JsonOutputTest, BackfillStatusRoundTrips) {
  engine::StatusSnapshot s = MigrationSnapshot();
  s.progress.phase = "backfill";
  s.progress.keys_covered = 400;
  s.progress.estimated_rows = 1000;
  s.progress.key_position = "(" + kTable + ")";
  s.progress.key_span = "(" + kError + ") .. (\xff)";
  s.progress.rows_changed = 123;
  s.progress.changed_per_s = 45.67;
  s.progress.chunk_size = 0;
  s.sizing.fixed = true;
  s.sizing.fixed_size = 50;
  s.nice_ratio = 0;
  std::string line = engine::BackfillStatusJson(s);
  ExpectOneLine(line);
  auto j = Parse(line);
  ASSERT_FALSE(j.is_discarded()) << line;
  EXPECT_EQ(Keys(j),
            Words("phase keys_covered estimated_keys percent key_position key_span rows_changed "
                  "rows_per_s rows_changed_per_s eta_s batches batch_size batch_mode "
                  "target_batch_time_ms min_batch_size max_batch_size nice_ratio paused throttled "
                  "throttle_reason abort_requested elapsed_s app_health_throttled health"));
  EXPECT_EQ(j["key_position"].get<std::string>(), "(" + kTableBack + ")");
  EXPECT_EQ(j["key_span"].get<std::string>(), "(" + kErrorBack + ") .. (" + kReplacement + ")");
  EXPECT_EQ(j["throttle_reason"].get<std::string>(), "throttled: " + kErrorBack);
  EXPECT_EQ(j["estimated_keys"], 1000);
  EXPECT_TRUE(j["estimated_keys"].is_number_integer());
  EXPECT_EQ(j["rows_changed_per_s"], 45.7);
  EXPECT_EQ(j["batch_size"], 50);  // before the first batch: the fixed size
  EXPECT_EQ(j["batch_mode"], "fixed");
  EXPECT_TRUE(j["nice_ratio"].is_number_integer());
  EXPECT_EQ(j["nice_ratio"], 0);
}

// The progress lines and `ctl status --json` go through Control::StatusJson:
// what the engine publishes and the throttle source's reason.
TEST(JsonOutputTest, ControlStatusJsonRoundTrips) {
  for (auto kind : {engine::ControlKind::kRewrite, engine::ControlKind::kBackfill}) {
    engine::Control c(engine::ControlSettings{}, kind);
    engine::Progress p;
    p.phase = kTable;
    p.key_position = kError;
    c.Publish(p);
    c.SetThrottleSource([] {
      throttler::Decision d;
      d.throttled = true;
      d.reason = "throttled: the copy cannot lock \"public\"." + kTable;
      return d;
    });
    std::string line = c.StatusJson();
    ExpectOneLine(line);
    auto j = Parse(line);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_EQ(j["phase"].get<std::string>(), kTableBack);
    EXPECT_EQ(j["throttle_reason"].get<std::string>(),
              "throttled: the copy cannot lock \"public\"." + kTableBack);
    EXPECT_EQ(j["throttled"], true);
    if (kind == engine::ControlKind::kBackfill)
      EXPECT_EQ(j["key_position"].get<std::string>(), kErrorBack);
    else
      EXPECT_FALSE(j.contains("key_position"));
  }
}

TEST(JsonOutputTest, MigrationSummaryRoundTrips) {
  engine::Summary s;
  s.names.table = kTable;  // not part of the line
  s.rows_copied = 30000;
  s.batches = 60;
  s.changes_replayed = 1234;
  s.transactions_replayed = 321;
  s.replayed.inserts = 10;
  s.replayed.updates = 20;
  s.replayed.key_updates = 2;
  s.replayed.deletes = 5;
  s.blocked_ms = 12.3456;
  s.copy_s = 3.5;
  s.elapsed_s = std::nan("");
  s.cutover_attempts = 1;
  s.old_table_dropped = true;
  s.verified = true;
  s.verify_points = 2;
  s.verify_after_s = 0.0004;
  s.parallel_apply_groups = std::numeric_limits<uint64_t>::max();
  std::string line = cli::RewriteSummaryJson(s);
  ExpectOneLine(line);
  EXPECT_EQ(line.rfind("{\"summary\":{\"rows_copied\":30000,\"batches\":60,", 0), 0u) << line;
  auto j = Parse(line);
  ASSERT_FALSE(j.is_discarded()) << line;
  ASSERT_THAT(Keys(j), ElementsAreArray({"summary"}));
  auto m = j["summary"];
  EXPECT_EQ(Keys(m),
            Words("rows_copied batches changes_replayed transactions_replayed inserts updates "
                  "key_updates deletes blocked_ms copy_s elapsed_s cutover_attempts "
                  "blocked_max_ms cutover_lock_failures cutover_lock_wait_s verify_lock_wait_s "
                  "verify_point_failures rehearsal_blocked_ms lock_holders "
                  "visibility_waits old_table_dropped verified verify_s verify_ranges verify_rows "
                  "verify_mismatches verify_repaired verify_points verify_blocked_ms "
                  "verify_blocked_total_ms verified_after verify_after_ranges "
                  "verify_after_mismatches verify_after_s replay_deferred replay_from_batch relayed_batches "
                  "key_index_s parallel_apply_groups resumed_after_swap after_swap_statements revert_window reverted "
                  "revert_blocked_ms reverse_changes revert_verified revert_verify_ranges revert_verify_mismatches"));
  EXPECT_EQ(m["rows_copied"], 30000);
  EXPECT_EQ(m["key_updates"], 2);
  EXPECT_EQ(m["blocked_ms"], 12.346);
  EXPECT_EQ(m["copy_s"], 3.5);
  EXPECT_EQ(m["elapsed_s"], 0.0);  // NaN would not parse
  EXPECT_EQ(m["verify_after_s"], 0.0);
  EXPECT_TRUE(m["verify_after_s"].is_number_float());
  EXPECT_EQ(m["old_table_dropped"], true);
  EXPECT_EQ(m["verified_after"], false);
  EXPECT_EQ(m["parallel_apply_groups"].get<uint64_t>(), std::numeric_limits<uint64_t>::max());
}

TEST(JsonOutputTest, BackfillSummaryRoundTrips) {
  engine::BackfillSummary s;
  s.table = kTable;  // not part of the line
  s.rows_changed = 1050;
  s.total_rows_changed = 2000;
  s.keys_covered = 2100;
  s.batches = 57;
  s.lock_retries = 1;
  s.batches_s = 1.25;
  s.elapsed_s = 2;
  s.resumed = true;
  std::string line = cli::BackfillSummaryJson(s);
  EXPECT_EQ(line,
            "{\"summary\":{\"rows_changed\":1050,\"total_rows_changed\":2000,\"keys_covered\":2100,"
            "\"batches\":57,\"lock_retries\":1,\"batches_s\":1.25,\"elapsed_s\":2.0,"
            "\"resumed\":true}}");
  auto j = Parse(line);
  ASSERT_FALSE(j.is_discarded()) << line;
  EXPECT_EQ(j["summary"]["rows_changed"], 1050);
  EXPECT_EQ(j["summary"]["resumed"], true);
}

}  // namespace
}  // namespace shadowcopy
