#include "engine/control/control.h"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "common/log.h"
#include "engine/control/status_json.h"
#include "fmt/format.h"
#include "throttler/pacing.h"

namespace shadowcopy::engine {
namespace {

constexpr int64_t kMaxRows = 100'000'000;

struct TunableDef {
  const char* name;
  const char* help;
};

constexpr TunableDef kTunables[] = {
    {"chunk-size", "rows per copy batch; setting it switches to that fixed size"},
    {"target-chunk-time", "wanted duration of a copy batch; setting it switches to adaptive sizing"},
    {"min-chunk-size", "smallest adaptive batch (rows)"},
    {"max-chunk-size", "largest adaptive batch (rows)"},
    {"nice-ratio", "after each batch the copy rests this many times the batch's duration (0: no rest)"},
    {"max-replica-lag", "throttle while a standby lags more (duration, or off)"},
    {"max-lock-waiters", "throttle while more lock waits involve our sessions (count, or off)"},
    {"max-active", "throttle while more client backends are active (count, or off)"},
    {"max-replay-lag-bytes", "throttle while our slot is behind by more WAL (bytes, or off)"},
    {"health-signal", "throttle every heavy phase while the application's canary is slow (on or off)"},
    {"health-latency-factor", "the canary is slow above this many times its baseline p95 (1 to 100)"},
    {"health-latency-floor", "... and above its baseline p95 plus this duration"},
};

constexpr TunableDef kBackfillTunables[] = {
    {"batch-size", "keys per batch; setting it switches to that fixed size"},
    {"target-batch-time", "wanted duration of a batch; setting it switches to adaptive sizing"},
    {"min-batch-size", "smallest adaptive batch (keys)"},
    {"max-batch-size", "largest adaptive batch (keys)"},
    {"max-replica-lag", "throttle while a standby lags more (duration, or off)"},
    {"max-lock-waiters", "throttle while more lock waits involve our sessions (count, or off)"},
    {"max-active", "throttle while more client backends are active (count, or off)"},
    {"nice-ratio", "after each batch the backfill rests this many times the batch's duration (0: no rest)"},
    {"health-signal", "throttle while the application's canary is slow (on or off)"},
    {"health-latency-factor", "the canary is slow above this many times its baseline p95 (1 to 100)"},
    {"health-latency-floor", "... and above its baseline p95 plus this duration"},
};

// The backfill's names for the batch tunables, as the copy's chunk names.
std::string ChunkName(const std::string& name) {
  if (name == "batch-size") return "chunk-size";
  if (name == "target-batch-time") return "target-chunk-time";
  if (name == "min-batch-size") return "min-chunk-size";
  if (name == "max-batch-size") return "max-chunk-size";
  return name;
}

// A log line about chunk tunables, in the backfill's words.
std::string BatchWords(std::string text) {
  for (size_t at = text.find("chunk"); at != std::string::npos; at = text.find("chunk", at))
    text.replace(at, 5, "batch");
  return text;
}

absl::Status BadValue(const std::string& name, const std::string& value, std::string_view want) {
  return absl::InvalidArgumentError(fmt::format("{} needs {}, got '{}'", name, want, value));
}

absl::StatusOr<int64_t> ParseCount(const std::string& name, const std::string& value, int64_t min) {
  int64_t v = 0;
  auto r = std::from_chars(value.data(), value.data() + value.size(), v);
  if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() || v < min || v > kMaxRows)
    return BadValue(name, value, fmt::format("an integer from {} to {}", min, kMaxRows));
  return v;
}

// A nice ratio: a plain decimal number in [0, kMaxNiceRatio].
std::optional<double> ParseRatio(const std::string& value) {
  double v = 0;
  auto r = std::from_chars(value.data(), value.data() + value.size(), v);
  if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() || !(v >= 0) ||
      v > throttler::kMaxNiceRatio)
    return std::nullopt;
  return v;
}

std::string Off(bool off, std::string value) { return off ? "off" : value; }

}  // namespace

absl::StatusOr<std::chrono::milliseconds> ParseControlDuration(const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto r = std::from_chars(text.data(), end, value);
  if (text.empty() || r.ec != std::errc() || !(value >= 0) || !std::isfinite(value))
    return absl::InvalidArgumentError(fmt::format("invalid duration '{}'", text));
  std::string unit(r.ptr, end);
  double ms;
  if (unit.empty() || unit == "ms") ms = value;
  else if (unit == "s") ms = value * 1000;
  else if (unit == "m" || unit == "min") ms = value * 60000;
  else return absl::InvalidArgumentError(fmt::format("invalid duration '{}' (use ms, s or m)", text));
  if (ms > 1e12) return absl::InvalidArgumentError(fmt::format("duration '{}' is too long", text));
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

absl::StatusOr<int64_t> ParseControlBytes(const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto r = std::from_chars(text.data(), end, value);
  if (text.empty() || r.ec != std::errc() || !(value >= 0) || !std::isfinite(value))
    return absl::InvalidArgumentError(fmt::format("invalid size '{}'", text));
  std::string unit(r.ptr, end);
  double mult;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "kB" || unit == "KB") mult = 1024.0;
  else if (unit == "MB") mult = 1024.0 * 1024;
  else if (unit == "GB") mult = 1024.0 * 1024 * 1024;
  else if (unit == "TB") mult = 1024.0 * 1024 * 1024 * 1024;
  else return absl::InvalidArgumentError(fmt::format("invalid size '{}' (use B, kB, MB, GB or TB)", text));
  if (value * mult > 9e18) return absl::InvalidArgumentError(fmt::format("size '{}' is too large", text));
  return static_cast<int64_t>(value * mult);
}

std::string FormatControlDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

absl::Status ValidateControlSettings(const ControlSettings& s) {
  auto bad = [](std::string_view msg) { return absl::InvalidArgumentError(std::string(msg)); };
  if (s.chunk_size < 1) return bad("--chunk-size must be at least 1");
  if (s.target_chunk_time.count() <= 0) return bad("--target-chunk-time must be positive");
  if (s.min_chunk_size < 1) return bad("--min-chunk-size must be at least 1");
  if (s.max_chunk_size < s.min_chunk_size) return bad("--max-chunk-size must be at least --min-chunk-size");
  if (!(s.nice_ratio >= 0 && s.nice_ratio <= throttler::kMaxNiceRatio))
    return bad(fmt::format("--nice-ratio must be from 0 to {:g}", throttler::kMaxNiceRatio));
  if (s.max_replica_lag.count() < 0 || s.critical_replica_lag.count() < 0)
    return bad("replica lag limits must not be negative");
  if (s.max_lock_waiters < -1) return bad("--max-lock-waiters must be -1 (off) or more");
  if (s.max_active < 0 || s.critical_active < 0) return bad("active backend limits must not be negative");
  if (s.max_replay_lag_bytes < 0 || s.critical_replay_lag_bytes < 0)
    return bad("replay lag limits must not be negative");
  if (!(s.health_latency_factor >= 1 && s.health_latency_factor <= 100))
    return bad("--health-latency-factor must be from 1 to 100");
  if (s.health_latency_floor.count() < 0) return bad("--health-latency-floor must not be negative");
  return absl::OkStatus();
}

Control::Control(const ControlSettings& settings, ControlKind kind)
    : kind_(kind),
      started_(Clock::now()),
      postpone_cutover_(settings.postpone_cutover || !settings.postpone_cutover_flag_file.empty()),
      postpone_flag_file_(settings.postpone_cutover_flag_file),
      settings_(settings) {}

bool Control::Pause(bool replay_too) {
  bool was_paused = paused_.exchange(true);
  bool was_replay_paused = replay_too ? replay_paused_.exchange(true) : replay_paused_.load();
  bool changed = !was_paused || (replay_too && !was_replay_paused);
  if (changed && kind_ == ControlKind::kBackfill) Log(LogLevel::kInfo, "control: paused the backfill");
  else if (changed)
    Log(LogLevel::kInfo, "control: paused the copy{}", replay_too ? " and the replay" : " (replay continues)");
  return changed;
}

bool Control::Resume() {
  bool was = paused_.exchange(false);
  bool was_replay = replay_paused_.exchange(false);
  if (was || was_replay) Log(LogLevel::kInfo, "control: resumed");
  return was || was_replay;
}

std::string Control::InternalName(const std::string& name) const {
  if (kind_ == ControlKind::kRewrite) return name;
  std::string internal = ChunkName(name);
  if (internal == "max-replay-lag-bytes") return "";
  return internal;
}

absl::Status Control::Set(const std::string& name, const std::string& value) {
  std::string log;
  {
    absl::MutexLock lock(&mu_);
    std::string internal = InternalName(name);
    if (internal.empty()) return absl::InvalidArgumentError(fmt::format("unknown tunable '{}' (see help)", name));
    absl::Status st = SetLocked(internal, value, &log);
    if (!st.ok()) return kind_ == ControlKind::kBackfill ? absl::InvalidArgumentError(BatchWords(std::string(st.message()))) : st;
  }
  if (kind_ == ControlKind::kBackfill) log = BatchWords(log);
  ++revision_;
  Log(LogLevel::kInfo, "control: {}", log);
  return absl::OkStatus();
}

absl::Status Control::SetLocked(const std::string& name, const std::string& value, std::string* log) {
  ControlSettings& s = settings_;
  std::string before = GetLocked(name);
  bool off = value == "off";
  if (name == "chunk-size") {
    auto v = ParseCount(name, value, 1);
    if (!v.ok()) return v.status();
    bool was_fixed = s.fixed_chunk_size;
    s.fixed_chunk_size = true;
    s.chunk_size = *v;
    *log = fmt::format("chunk-size set to {} (fixed size; was {})", *v,
                       was_fixed ? before : "adaptive");
    return absl::OkStatus();
  } else if (name == "target-chunk-time") {
    auto d = ParseControlDuration(value);
    if (!d.ok() || d->count() <= 0) return BadValue(name, value, "a positive duration such as 500ms or 2s");
    s.target_chunk_time = *d;
    bool was_fixed = s.fixed_chunk_size;
    s.fixed_chunk_size = false;
    *log = fmt::format("target-chunk-time set to {} (adaptive sizing; was {}{})", FormatControlDuration(*d),
                       before, was_fixed ? ", fixed size" : "");
    return absl::OkStatus();
  } else if (name == "min-chunk-size" || name == "max-chunk-size") {
    auto v = ParseCount(name, value, 1);
    if (!v.ok()) return v.status();
    bool is_min = name == "min-chunk-size";
    int64_t lo = is_min ? *v : s.min_chunk_size;
    int64_t hi = is_min ? s.max_chunk_size : *v;
    if (lo > hi)
      return absl::InvalidArgumentError(
          fmt::format("min-chunk-size ({}) must not exceed max-chunk-size ({})", lo, hi));
    (is_min ? s.min_chunk_size : s.max_chunk_size) = *v;
  } else if (name == "nice-ratio") {
    auto v = ParseRatio(value);
    if (!v) return BadValue(name, value, fmt::format("a number from 0 to {:g}", throttler::kMaxNiceRatio));
    s.nice_ratio = *v;
  } else if (name == "max-replica-lag") {
    if (off) {
      s.max_replica_lag = std::chrono::milliseconds(0);
    } else {
      auto d = ParseControlDuration(value);
      if (!d.ok() || d->count() <= 0) return BadValue(name, value, "a positive duration such as 2s, or off");
      s.max_replica_lag = *d;
    }
  } else if (name == "max-lock-waiters") {
    if (off) {
      s.max_lock_waiters = -1;
    } else {
      auto v = ParseCount(name, value, 0);
      if (!v.ok()) return v.status();
      s.max_lock_waiters = *v;
    }
  } else if (name == "max-active") {
    if (off) {
      s.max_active = 0;
    } else {
      auto v = ParseCount(name, value, 1);
      if (!v.ok()) return v.status();
      s.max_active = *v;
    }
  } else if (name == "max-replay-lag-bytes") {
    if (off) {
      s.max_replay_lag_bytes = 0;
    } else {
      auto v = ParseControlBytes(value);
      if (!v.ok() || *v <= 0) return BadValue(name, value, "a positive size such as 512MB, or off");
      s.max_replay_lag_bytes = *v;
    }
  } else if (name == "health-signal") {
    if (value != "on" && value != "off") return BadValue(name, value, "on or off");
    s.health_signal = value == "on";
  } else if (name == "health-latency-factor") {
    auto v = ParseRatio(value);
    if (!v || *v < 1) return BadValue(name, value, "a number from 1 to 100");
    s.health_latency_factor = *v;
  } else if (name == "health-latency-floor") {
    auto d = ParseControlDuration(value);
    if (!d.ok()) return BadValue(name, value, "a duration such as 20ms");
    s.health_latency_floor = *d;
  } else {
    return absl::InvalidArgumentError(fmt::format("unknown tunable '{}' (see help)", name));
  }
  *log = fmt::format("{} set to {} (was {})", name, GetLocked(name), before);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Control::Get(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  std::string internal = InternalName(name);
  std::string v = internal.empty() ? "" : GetLocked(internal);
  if (v.empty()) return absl::NotFoundError(fmt::format("unknown tunable '{}' (see help)", name));
  return v;
}

std::string Control::GetLocked(const std::string& name) const {
  const ControlSettings& s = settings_;
  if (name == "chunk-size") return std::to_string(s.chunk_size);
  if (name == "target-chunk-time") return FormatControlDuration(s.target_chunk_time);
  if (name == "min-chunk-size") return std::to_string(s.min_chunk_size);
  if (name == "max-chunk-size") return std::to_string(s.max_chunk_size);
  if (name == "nice-ratio") return fmt::format("{:g}", s.nice_ratio);
  if (name == "max-replica-lag")
    return Off(s.max_replica_lag.count() == 0, FormatControlDuration(s.max_replica_lag));
  if (name == "max-lock-waiters") return Off(s.max_lock_waiters < 0, std::to_string(s.max_lock_waiters));
  if (name == "max-active") return Off(s.max_active == 0, std::to_string(s.max_active));
  if (name == "max-replay-lag-bytes")
    return Off(s.max_replay_lag_bytes == 0, std::to_string(s.max_replay_lag_bytes));
  if (name == "health-signal") return s.health_signal ? "on" : "off";
  if (name == "health-latency-factor") return fmt::format("{:g}", s.health_latency_factor);
  if (name == "health-latency-floor") return FormatControlDuration(s.health_latency_floor);
  return "";
}

std::vector<TunableInfo> Control::Tunables() const {
  absl::MutexLock lock(&mu_);
  std::vector<TunableInfo> out;
  if (kind_ == ControlKind::kBackfill) {
    for (const auto& t : kBackfillTunables) out.push_back({t.name, GetLocked(ChunkName(t.name)), t.help});
    return out;
  }
  for (const auto& t : kTunables) out.push_back({t.name, GetLocked(t.name), t.help});
  return out;
}

bool Control::ReleaseCutover() {
  if (!postpone_cutover_) return false;
  bool was = cutover_released_.exchange(true);
  if (!was) Log(LogLevel::kInfo, "control: cutover released by the operator");
  return !was;
}

bool Control::CutoverAllowed() const {
  if (!postpone_cutover_) return true;
  if (!postpone_flag_file_.empty()) {
    struct stat st;
    // The flag file holds the cutover while it exists; its removal releases
    // it. A file that cannot be checked (EACCES on its directory...) holds it
    // too, like an unreadable throttle signal throttles.
    if (::stat(postpone_flag_file_.c_str(), &st) != 0) {
      int err = errno;
      if (err == ENOENT) return true;
      if (!flag_unreadable_logged_.exchange(true))
        Log(LogLevel::kWarning, "cannot check --postpone-cutover-flag-file {}: {}; the cutover stays postponed",
            postpone_flag_file_, std::strerror(err));
    } else {
      flag_unreadable_logged_ = false;
    }
  }
  return cutover_released_.load();
}

bool Control::Abort() {
  if (abort_.exchange(true)) return false;
  Log(LogLevel::kWarning, "control: abort requested by the operator; stopping and cleaning up");
  std::function<void()> handler;
  {
    absl::MutexLock lock(&mu_);
    handler = abort_handler_;
  }
  if (handler) handler();
  return true;
}

uint64_t Control::RequestVerify() {
  uint64_t n = ++verify_requested_;
  Log(LogLevel::kInfo, "control: verification requested by the operator (request {})", n);
  return n;
}

absl::StatusOr<std::optional<Control::VerifyOutcome>> Control::VerifyResult(uint64_t n) const {
  if (n == 0 || n > verify_requested_.load())
    return absl::NotFoundError(fmt::format("no verification request {}", n));
  absl::MutexLock lock(&mu_);
  if (n > verify_completed_) return std::optional<VerifyOutcome>();
  return std::optional<VerifyOutcome>(verify_outcome_);
}

void Control::VerifyCompleted(uint64_t covered, bool ok, std::string text) {
  absl::MutexLock lock(&mu_);
  verify_completed_ = std::max(verify_completed_, covered);
  verify_outcome_ = VerifyOutcome{ok, std::move(text)};
}

void Control::Publish(const Progress& progress) {
  absl::MutexLock lock(&mu_);
  progress_ = progress;
}

throttler::SizingSettings Control::Sizing() const {
  absl::MutexLock lock(&mu_);
  throttler::SizingSettings z;
  z.fixed = settings_.fixed_chunk_size;
  z.fixed_size = settings_.chunk_size;
  z.target = settings_.target_chunk_time;
  z.min_size = settings_.min_chunk_size;
  z.max_size = settings_.max_chunk_size;
  return z;
}

double Control::NiceRatio() const {
  absl::MutexLock lock(&mu_);
  return settings_.nice_ratio;
}

throttler::Limits Control::ThrottleLimits() const {
  absl::MutexLock lock(&mu_);
  throttler::Limits l;
  l.max_replica_lag_s = settings_.max_replica_lag.count() / 1000.0;
  l.max_lock_waiters = settings_.max_lock_waiters;
  l.max_active = settings_.max_active;
  l.max_replay_lag_bytes = settings_.max_replay_lag_bytes;
  l.critical_replica_lag_s = settings_.critical_replica_lag.count() / 1000.0;
  l.critical_active = settings_.critical_active;
  l.critical_replay_lag_bytes = settings_.critical_replay_lag_bytes;
  l.health_signal = settings_.health_signal;
  l.health_latency_factor = settings_.health_latency_factor;
  l.health_latency_floor = settings_.health_latency_floor;
  return l;
}

void Control::SetThrottleSource(std::function<throttler::Decision()> source) {
  absl::MutexLock lock(&mu_);
  throttle_source_ = std::move(source);
}

void Control::SetAbortHandler(std::function<void()> handler) {
  absl::MutexLock lock(&mu_);
  abort_handler_ = std::move(handler);
}

void Control::SetCommandObserver(CommandObserver observer) {
  absl::MutexLock lock(&mu_);
  command_observer_ = std::move(observer);
}

void Control::CommandHandled(const std::string& command, const std::string& reply) {
  CommandObserver observer;
  {
    absl::MutexLock lock(&mu_);
    observer = command_observer_;
  }
  if (observer) observer(command, reply);
}

StatusSnapshot Control::Status() const {
  std::function<throttler::Decision()> source;
  {
    absl::MutexLock lock(&mu_);
    source = throttle_source_;
  }
  // Outside the lock: the source reads ThrottleLimits() and paused().
  throttler::Decision decision;
  if (source) decision = source();
  StatusSnapshot s;
  s.sizing = Sizing();
  s.nice_ratio = NiceRatio();
  {
    absl::MutexLock lock(&mu_);
    s.progress = progress_;
  }
  const Progress& p = s.progress;
  if (kind_ == ControlKind::kBackfill && p.span_percent >= 0) s.percent = std::min(100.0, p.span_percent);
  else if (kind_ == ControlKind::kBackfill && p.estimated_rows > 0)
    s.percent = std::min(100.0, 100.0 * p.keys_covered / p.estimated_rows);
  else if (p.estimated_rows > 0) s.percent = std::min(100.0, 100.0 * p.rows_copied / p.estimated_rows);
  s.elapsed_s = std::chrono::duration<double>(Clock::now() - started_).count();
  s.paused = paused();
  s.replay_paused = replay_paused();
  s.abort_requested = abort_requested();
  s.throttled = decision.throttled || s.paused;
  s.throttle_reason = decision.reason;
  s.health = decision.health;
  s.app_health_throttled = decision.app_health;
  if (s.throttle_reason.empty() && s.paused) s.throttle_reason = "throttled: paused by operator";
  s.throttle_causes = decision.causes;
  if (s.throttle_causes.empty() && s.paused) s.throttle_causes.push_back("operator_pause");
  if (!postpone_cutover_) s.cutover = "not postponed";
  else s.cutover = CutoverAllowed() ? "released" : "postponed";
  return s;
}

std::string Control::StatusText() const {
  StatusSnapshot s = Status();
  if (kind_ == ControlKind::kBackfill) return BackfillStatusText(s);
  const Progress& p = s.progress;
  std::string line = fmt::format("{}: {} / ~{:.0f} rows ({:.1f}%), {:.0f} rows/s", p.phase, p.rows_copied,
                                 std::max(p.estimated_rows, static_cast<double>(p.rows_copied)), s.percent,
                                 p.rows_per_s);
  if (p.eta_s >= 0) line += fmt::format(", ETA {:.0f} s", p.eta_s);
  line += fmt::format("; replayed {} changes, {} queued, replay lag {} / {:.1f} s", p.changes_replayed,
                      p.queue_depth, throttler::FormatBytes(static_cast<double>(p.replay_lag_bytes)),
                      p.replay_lag_s);
  if (s.sizing.fixed)
    line += fmt::format("; {} batches, chunk {} rows (fixed size {})", p.batches, p.chunk_size,
                        s.sizing.fixed_size);
  else
    line += fmt::format("; {} batches, chunk {} rows (adaptive, target {})", p.batches, p.chunk_size,
                        FormatControlDuration(s.sizing.target));
  if (s.nice_ratio > 0) line += fmt::format(", nice ratio {:g}", s.nice_ratio);
  if (p.verify_state == "off")
    line += "; verify off";
  else if (!p.verify_state.empty())
    line += fmt::format("; verify {}: {}/{} ranges, {} mismatches, {} repaired", p.verify_state,
                        p.verify_ranges_done, p.verify_ranges_total, p.verify_mismatches, p.verify_repaired);
  line += "; " + (s.throttled ? s.throttle_reason : std::string("running"));
  if (!s.app_health_throttled && !s.health.empty()) line += "; health: " + s.health;
  if (s.replay_paused) line += " (replay paused too)";
  if (!p.lock_wait.empty())
    line += fmt::format("; {} waiting {:.1f} s for pid {} (application {}, user {}) {} {}{}: {}", p.lock_wait,
                        p.lock_wait_s, p.lock_holder_pid, p.lock_holder_application, p.lock_holder_user,
                        p.lock_holder_granted ? "holding" : "waiting for", p.lock_holder_mode,
                        p.lock_holder_s >= 0 ? fmt::format(" for {:.1f} s", p.lock_holder_s) : "",
                        p.lock_holder_query);
  if (s.cutover != "not postponed") line += "; cutover " + s.cutover;
  if (s.abort_requested) line += "; abort requested";
  return line;
}

std::string Control::StatusJson() const {
  StatusSnapshot s = Status();
  return kind_ == ControlKind::kBackfill ? BackfillStatusJson(s) : RewriteStatusJson(s);
}

std::string Control::BackfillStatusText(const StatusSnapshot& s) const {
  const Progress& p = s.progress;
  std::string line = fmt::format("{}: {} / ~{:.0f} keys ({:.1f}%)", p.phase, p.keys_covered,
                                 std::max(p.estimated_rows, static_cast<double>(p.keys_covered)), s.percent);
  if (!p.key_position.empty()) line += fmt::format(", at key {}", p.key_position);
  if (!p.key_span.empty()) line += fmt::format(" of span {}", p.key_span);
  line += fmt::format("; {} rows changed; {:.0f} keys/s, {:.0f} rows changed/s", p.rows_changed, p.rows_per_s,
                      p.changed_per_s);
  if (p.eta_s >= 0) line += fmt::format(", ETA {:.0f} s", p.eta_s);
  if (s.sizing.fixed)
    line += fmt::format("; {} batches, batch {} keys (fixed size {})", p.batches, p.chunk_size, s.sizing.fixed_size);
  else
    line += fmt::format("; {} batches, batch {} keys (adaptive, target {})", p.batches, p.chunk_size,
                        FormatControlDuration(s.sizing.target));
  if (s.nice_ratio > 0) line += fmt::format(", nice ratio {:g}", s.nice_ratio);
  line += "; " + (s.throttled ? s.throttle_reason : std::string("running"));
  if (!s.app_health_throttled && !s.health.empty()) line += "; health: " + s.health;
  if (s.abort_requested) line += "; abort requested";
  return line;
}

}  // namespace shadowcopy::engine
