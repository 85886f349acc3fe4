// engine::Control: Set/Get validation (nothing changes on a bad value),
// fixed/adaptive switching, pause/resume, cutover release, abort handler,
// status text and JSON, concurrent use.
#include <thread>

#include "engine/control/control.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

TEST(ControlValueTest, Durations) {
  EXPECT_EQ(*ParseControlDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseControlDuration("2s"), milliseconds(2000));
  EXPECT_EQ(*ParseControlDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseControlDuration("1m"), milliseconds(60000));
  EXPECT_EQ(*ParseControlDuration("250"), milliseconds(250));
  for (const char* bad : {"", "s", "2h", "-1s", "1.5.s", "nan", "1e300s"})
    EXPECT_FALSE(ParseControlDuration(bad).ok()) << bad;
  EXPECT_EQ(FormatControlDuration(milliseconds(2000)), "2s");
  EXPECT_EQ(FormatControlDuration(milliseconds(1500)), "1500ms");
}

TEST(ControlValueTest, Bytes) {
  EXPECT_EQ(*ParseControlBytes("1048576"), 1048576);
  EXPECT_EQ(*ParseControlBytes("512kB"), 512 * 1024);
  EXPECT_EQ(*ParseControlBytes("64MB"), int64_t{64} << 20);
  EXPECT_EQ(*ParseControlBytes("1GB"), int64_t{1} << 30);
  for (const char* bad : {"", "MB", "12XB", "-5", "1e30TB"}) EXPECT_FALSE(ParseControlBytes(bad).ok()) << bad;
}

TEST(ControlSettingsTest, Validation) {
  ControlSettings s;
  EXPECT_TRUE(ValidateControlSettings(s).ok());
  s.min_chunk_size = 500;
  s.max_chunk_size = 100;
  EXPECT_THAT(std::string(ValidateControlSettings(s).message()), HasSubstr("--max-chunk-size"));
  s = ControlSettings{};
  s.target_chunk_time = milliseconds(0);
  EXPECT_FALSE(ValidateControlSettings(s).ok());
  s = ControlSettings{};
  s.max_lock_waiters = -2;
  EXPECT_FALSE(ValidateControlSettings(s).ok());
}

TEST(ControlTest, DefaultsAreAdaptive) {
  Control c(ControlSettings{});
  auto z = c.Sizing();
  EXPECT_FALSE(z.fixed);
  EXPECT_EQ(z.target, milliseconds(500));
  EXPECT_EQ(z.min_size, 100);
  EXPECT_EQ(z.max_size, 100000);
  EXPECT_EQ(*c.Get("target-chunk-time"), "500ms");
  EXPECT_EQ(*c.Get("max-replica-lag"), "10s");
  EXPECT_EQ(*c.Get("max-active"), "off");
  EXPECT_EQ(*c.Get("max-lock-waiters"), "0");
}

TEST(ControlTest, ChunkSizeSwitchesToFixedAndTargetBackToAdaptive) {
  Control c(ControlSettings{});
  uint64_t rev = c.revision();
  ASSERT_TRUE(c.Set("chunk-size", "5000").ok());
  EXPECT_GT(c.revision(), rev);
  EXPECT_TRUE(c.Sizing().fixed);
  EXPECT_EQ(c.Sizing().fixed_size, 5000);
  EXPECT_EQ(*c.Get("chunk-size"), "5000");
  EXPECT_THAT(c.StatusText(), HasSubstr("(fixed size 5000)"));
  EXPECT_THAT(c.StatusJson(), HasSubstr("\"chunk_mode\":\"fixed\""));
  ASSERT_TRUE(c.Set("target-chunk-time", "2s").ok());
  EXPECT_FALSE(c.Sizing().fixed);
  EXPECT_EQ(c.Sizing().target, milliseconds(2000));
  EXPECT_THAT(c.StatusJson(), HasSubstr("\"chunk_mode\":\"adaptive\""));
  EXPECT_THAT(c.StatusJson(), HasSubstr("\"target_chunk_time_ms\":2000"));
}

TEST(ControlTest, BadValuesChangeNothing) {
  Control c(ControlSettings{});
  auto before = c.Tunables();
  uint64_t rev = c.revision();
  std::vector<std::pair<std::string, std::string>> bad = {
      {"chunk-size", "0"},         {"chunk-size", "abc"},         {"chunk-size", "12x"},
      {"chunk-size", "-5"},        {"chunk-size", "999999999999"}, {"target-chunk-time", "0"},
      {"target-chunk-time", "fast"}, {"min-chunk-size", "200000"}, {"max-chunk-size", "50"},
      {"max-replica-lag", "-1s"},  {"max-replica-lag", "2h"},      {"max-lock-waiters", "-1"},
      {"max-active", "0"},         {"max-replay-lag-bytes", "lots"}, {"no-such-thing", "1"},
      {"nice-ratio", "-1"},        {"nice-ratio", "101"},          {"nice-ratio", "nan"},
      {"nice-ratio", "1x"},        {"nice-ratio", ""},
      {"Chunk-Size", "5"}};
  for (const auto& [name, value] : bad) {
    auto st = c.Set(name, value);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << name << "=" << value;
    EXPECT_THAT(std::string(st.message()), HasSubstr(name)) << "the message names the tunable";
  }
  EXPECT_EQ(c.revision(), rev);
  auto after = c.Tunables();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i].value, after[i].value) << before[i].name;
  EXPECT_FALSE(c.Sizing().fixed) << "a rejected chunk-size must not switch to fixed";
  EXPECT_EQ(c.Get("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(ControlTest, LimitsFeedTheThrottler) {
  Control c(ControlSettings{});
  ASSERT_TRUE(c.Set("max-replica-lag", "2500ms").ok());
  ASSERT_TRUE(c.Set("max-lock-waiters", "3").ok());
  ASSERT_TRUE(c.Set("max-active", "40").ok());
  ASSERT_TRUE(c.Set("max-replay-lag-bytes", "64MB").ok());
  ASSERT_TRUE(c.Set("min-chunk-size", "10").ok());
  ASSERT_TRUE(c.Set("max-chunk-size", "20").ok());
  auto l = c.ThrottleLimits();
  EXPECT_DOUBLE_EQ(l.max_replica_lag_s, 2.5);
  EXPECT_EQ(l.max_lock_waiters, 3);
  EXPECT_EQ(l.max_active, 40);
  EXPECT_EQ(l.max_replay_lag_bytes, int64_t{64} << 20);
  EXPECT_EQ(c.Sizing().min_size, 10);
  EXPECT_EQ(c.Sizing().max_size, 20);
  EXPECT_EQ(*c.Get("max-replica-lag"), "2500ms");
  ASSERT_TRUE(c.Set("max-replica-lag", "off").ok());
  ASSERT_TRUE(c.Set("max-lock-waiters", "off").ok());
  EXPECT_DOUBLE_EQ(c.ThrottleLimits().max_replica_lag_s, 0);
  EXPECT_EQ(c.ThrottleLimits().max_lock_waiters, -1);
  EXPECT_EQ(*c.Get("max-lock-waiters"), "off");
}

TEST(ControlTest, NiceRatioIsLiveAndShownInStatus) {
  Control c(ControlSettings{});
  EXPECT_EQ(*c.Get("nice-ratio"), "0");
  EXPECT_DOUBLE_EQ(c.NiceRatio(), 0);
  EXPECT_EQ(c.StatusText().find("nice ratio"), std::string::npos);
  ASSERT_TRUE(c.Set("nice-ratio", "1.5").ok());
  EXPECT_DOUBLE_EQ(c.NiceRatio(), 1.5);
  EXPECT_EQ(*c.Get("nice-ratio"), "1.5");
  EXPECT_THAT(c.StatusText(), HasSubstr("nice ratio 1.5"));
  EXPECT_THAT(c.StatusJson(), HasSubstr("\"nice_ratio\":1.5,"));
  ASSERT_TRUE(c.Set("nice-ratio", "0").ok());
  EXPECT_DOUBLE_EQ(c.NiceRatio(), 0);
  ControlSettings s;
  s.nice_ratio = 2;
  EXPECT_DOUBLE_EQ(Control(s).NiceRatio(), 2);
  s.nice_ratio = -0.5;
  EXPECT_EQ(ValidateControlSettings(s).code(), absl::StatusCode::kInvalidArgument);
  s.nice_ratio = 1000;
  EXPECT_EQ(ValidateControlSettings(s).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ControlTest, PauseResume) {
  Control c(ControlSettings{});
  EXPECT_FALSE(c.paused());
  EXPECT_TRUE(c.Pause());
  EXPECT_FALSE(c.Pause()) << "already paused";
  EXPECT_TRUE(c.paused());
  EXPECT_FALSE(c.replay_paused());
  EXPECT_TRUE(c.Status().throttled);
  EXPECT_EQ(c.Status().throttle_reason, "throttled: paused by operator");
  EXPECT_TRUE(c.Pause(true)) << "pausing the replay too is a change";
  EXPECT_TRUE(c.replay_paused());
  EXPECT_THAT(c.StatusText(), HasSubstr("replay paused too"));
  EXPECT_TRUE(c.Resume());
  EXPECT_FALSE(c.paused());
  EXPECT_FALSE(c.replay_paused());
  EXPECT_FALSE(c.Resume());
  EXPECT_THAT(c.StatusText(), HasSubstr("running"));
}

TEST(ControlTest, CutoverPostponedUntilReleased) {
  Control plain(ControlSettings{});
  EXPECT_TRUE(plain.CutoverAllowed());
  EXPECT_FALSE(plain.ReleaseCutover()) << "nothing to release";
  EXPECT_EQ(plain.Status().cutover, "not postponed");

  ControlSettings s;
  s.postpone_cutover = true;
  Control c(s);
  EXPECT_FALSE(c.CutoverAllowed());
  EXPECT_EQ(c.Status().cutover, "postponed");
  EXPECT_THAT(c.StatusText(), HasSubstr("cutover postponed"));
  EXPECT_TRUE(c.ReleaseCutover());
  EXPECT_FALSE(c.ReleaseCutover());
  EXPECT_TRUE(c.CutoverAllowed());
  EXPECT_EQ(c.Status().cutover, "released");
}

TEST(ControlTest, CutoverFlagFileHoldsWhileItExists) {
  std::string flag = ::testing::TempDir() + "sc_postpone_flag";
  std::FILE* f = std::fopen(flag.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  ControlSettings s;
  s.postpone_cutover_flag_file = flag;
  Control c(s);
  EXPECT_FALSE(c.CutoverAllowed());
  std::remove(flag.c_str());
  EXPECT_TRUE(c.CutoverAllowed());
}

TEST(ControlTest, AbortRunsTheHandlerOnce) {
  Control c(ControlSettings{});
  int calls = 0;
  c.SetAbortHandler([&calls] { ++calls; });
  EXPECT_FALSE(c.abort_requested());
  EXPECT_TRUE(c.Abort());
  EXPECT_FALSE(c.Abort());
  EXPECT_TRUE(c.abort_requested());
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(c.StatusJson(), HasSubstr("\"abort_requested\":true"));
}

TEST(ControlTest, StatusShowsPublishedProgressAndThrottleReason) {
  Control c(ControlSettings{});
  Progress p;
  p.phase = "copy";
  p.rows_copied = 2500;
  p.estimated_rows = 10000;
  p.rows_per_s = 1234;
  p.eta_s = 6;
  p.changes_replayed = 42;
  p.queue_depth = 3;
  p.replay_lag_bytes = 2048;
  p.replay_lag_s = 0.3;
  p.batches = 5;
  p.chunk_size = 500;
  c.Publish(p);
  c.SetThrottleSource([&c] {
    // The source may call back into the Control (as Throttler::current does).
    throttler::Decision d;
    d.throttled = c.ThrottleLimits().max_replica_lag_s > 0;
    d.reason = "throttled: flag file \"/tmp/x\" exists";
    return d;
  });
  auto s = c.Status();
  EXPECT_DOUBLE_EQ(s.percent, 25);
  EXPECT_TRUE(s.throttled);
  std::string text = c.StatusText();
  EXPECT_THAT(text, HasSubstr("copy: 2500 / ~10000 rows (25.0%), 1234 rows/s, ETA 6 s"));
  EXPECT_THAT(text, HasSubstr("replayed 42 changes, 3 queued, replay lag 2.0 kB / 0.3 s"));
  EXPECT_THAT(text, HasSubstr("5 batches, chunk 500 rows (adaptive, target 500ms)"));
  EXPECT_THAT(text, HasSubstr("throttled: flag file"));
  EXPECT_EQ(text.find('\n'), std::string::npos);
  std::string json = c.StatusJson();
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_THAT(json, HasSubstr("\"phase\":\"copy\",\"rows_copied\":2500,\"estimated_rows\":10000"));
  EXPECT_THAT(json, HasSubstr("\"chunk_size\":500,\"chunk_mode\":\"adaptive\""));
  EXPECT_THAT(json, HasSubstr("\"throttled\":true,\"throttle_reason\":\"throttled: flag file \\\"/tmp/x\\\" exists\""));
  EXPECT_THAT(json, HasSubstr("\"cutover\":\"not postponed\""));
}

TEST(ControlTest, ConcurrentOperatorsAndPublisher) {
  Control c(ControlSettings{});
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    Progress p;
    while (!stop) {
      ++p.rows_copied;
      c.Publish(p);
      (void)c.Sizing();
      (void)c.ThrottleLimits();
    }
  });
  std::vector<std::thread> operators;
  for (int t = 0; t < 4; ++t)
    operators.emplace_back([&c, t] {
      for (int i = 0; i < 300; ++i) {
        (void)c.Set("chunk-size", std::to_string(100 + i));
        (void)c.Set("target-chunk-time", std::to_string(100 + t) + "ms");
        (void)c.StatusJson();
        c.Pause();
        c.Resume();
      }
    });
  for (auto& th : operators) th.join();
  stop = true;
  publisher.join();
  EXPECT_FALSE(c.paused());
}

}  // namespace
}  // namespace shadowcopy::engine

namespace shadowcopy::engine {
namespace {

TEST(BackfillControlTest, BatchNamesForTheChunkTunables) {
  Control c(ControlSettings{}, ControlKind::kBackfill);
  ASSERT_TRUE(c.Set("batch-size", "250").ok());
  EXPECT_TRUE(c.Sizing().fixed);
  EXPECT_EQ(c.Sizing().fixed_size, 250);
  EXPECT_EQ(*c.Get("batch-size"), "250");
  ASSERT_TRUE(c.Set("target-batch-time", "50ms").ok());
  EXPECT_FALSE(c.Sizing().fixed);
  EXPECT_EQ(*c.Get("target-batch-time"), "50ms");
  ASSERT_TRUE(c.Set("max-batch-size", "900").ok());
  EXPECT_EQ(c.Sizing().max_size, 900);
  auto bad = c.Set("batch-size", "0");
  EXPECT_THAT(std::string(bad.message()), HasSubstr("batch-size"));
  EXPECT_FALSE(c.Set("max-replay-lag-bytes", "1GB").ok());  // no replay in a backfill
  EXPECT_FALSE(c.Get("max-replay-lag-bytes").ok());
  std::vector<std::string> names;
  for (const auto& t : c.Tunables()) names.push_back(t.name);
  EXPECT_THAT(names, ::testing::ElementsAre("batch-size", "target-batch-time", "min-batch-size", "max-batch-size",
                                            "max-replica-lag", "max-lock-waiters", "max-active",
                                            "nice-ratio", "health-signal", "health-latency-factor",
                                            "health-latency-floor"));
  ASSERT_TRUE(c.Set("nice-ratio", "0.5").ok());
  EXPECT_EQ(c.NiceRatio(), 0.5);
  EXPECT_THAT(c.StatusText(), HasSubstr("nice ratio 0.5"));
  EXPECT_THAT(c.StatusJson(), HasSubstr("\"nice_ratio\":0.5"));
}

TEST(BackfillControlTest, StatusShowsKeysRowsAndSpan) {
  Control c(ControlSettings{}, ControlKind::kBackfill);
  Progress p;
  p.phase = "backfill";
  p.keys_covered = 500;
  p.estimated_rows = 1000;
  p.rows_changed = 123;
  p.rows_per_s = 250;
  p.eta_s = 2;
  p.span_percent = 40;
  p.key_position = "(400)";
  p.key_span = "(1) .. (1000)";
  c.Publish(p);
  std::string text = c.StatusText();
  EXPECT_THAT(text, HasSubstr("backfill: 500 / ~1000 keys (40.0%), at key (400) of span (1) .. (1000)"));
  EXPECT_THAT(text, HasSubstr("123 rows changed"));
  EXPECT_THAT(text, HasSubstr("ETA 2 s"));
  EXPECT_THAT(text, HasSubstr("running"));
  c.Pause();
  std::string json = c.StatusJson();
  EXPECT_THAT(json, HasSubstr("\"keys_covered\":500"));
  EXPECT_THAT(json, HasSubstr("\"rows_changed\":123"));
  EXPECT_THAT(json, HasSubstr("\"key_span\":\"(1) .. (1000)\""));
  EXPECT_THAT(json, HasSubstr("\"percent\":40.0"));
  EXPECT_THAT(json, HasSubstr("\"paused\":true"));
  EXPECT_THAT(json, HasSubstr("paused by operator"));
}

}  // namespace
}  // namespace shadowcopy::engine
