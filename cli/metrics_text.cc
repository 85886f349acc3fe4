#include "cli/metrics_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "boost/asio/ip/address.hpp"
#include "fmt/format.h"
#include "throttler/policy.h"

namespace shadowcopy::cli {
namespace {

absl::Status BadListen(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      fmt::format("--metrics-listen {}: {} (expected PORT, HOST:PORT or [IPV6]:PORT, HOST an IP address)", text,
                  why));
}

// Why `host` is not an IP literal; "" when it is.
std::string HostProblem(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  return ec ? fmt::format("'{}' is not an IP address", host) : "";
}

std::vector<std::string> ThrottleCauseKeys() {
  using throttler::Signal;
  std::vector<std::string> keys = {"operator_pause"};
  for (Signal s : {Signal::kReplicaLag, Signal::kReplayLagBytes, Signal::kLockWaiters, Signal::kActiveBackends,
                   Signal::kThrottleQuery, Signal::kFlagFile, Signal::kTableLock, Signal::kAppHealth})
    keys.push_back(throttler::SignalKey(s));
  return keys;
}

// shadowcopy_phase: one series per known phase, 1 for the current one.
void WritePhase(MetricsWriter& w, std::string_view command, const std::string& phase) {
  w.Family("shadowcopy_phase", "gauge", "1 for the phase the run is in, 0 for the others");
  std::vector<std::string> phases = KnownPhases(command);
  if (std::find(phases.begin(), phases.end(), phase) == phases.end()) phases.push_back(phase);
  for (const auto& p : phases) w.Sample("shadowcopy_phase", {{"phase", p}}, p == phase ? 1 : 0);
}

void WriteRunInfo(MetricsWriter& w, const RunLabels& run) {
  w.Family("shadowcopy_run_info", "gauge", "the run: its command and table (always 1)");
  MetricsWriter::Labels labels = {{"command", run.command}};
  if (!run.table.empty()) labels.push_back({"schema", run.schema}), labels.push_back({"table", run.table});
  w.Sample("shadowcopy_run_info", labels, 1);
}

// The state every run controlled by engine::Control shares.
void WriteControlState(MetricsWriter& w, const engine::StatusSnapshot& s) {
  w.Gauge("shadowcopy_elapsed_seconds", "time since the run started", s.elapsed_s);
  w.Gauge("shadowcopy_paused", "1 while the operator has paused the work", s.paused ? 1 : 0);
  w.Family("shadowcopy_throttled", "gauge",
           "1 for each cause holding the work now (operator_pause or a throttle signal), 0 for the others");
  std::vector<std::string> keys = ThrottleCauseKeys();
  for (const auto& c : s.throttle_causes)
    if (std::find(keys.begin(), keys.end(), c) == keys.end()) keys.push_back(c);
  for (const auto& k : keys) {
    bool on = std::find(s.throttle_causes.begin(), s.throttle_causes.end(), k) != s.throttle_causes.end();
    w.Sample("shadowcopy_throttled", {{"reason", k}}, on ? 1 : 0);
  }
}

void WriteRewrite(MetricsWriter& w, const engine::StatusSnapshot& s) {
  const engine::Progress& p = s.progress;
  w.Counter("shadowcopy_rows_copied_total", "rows copied into the shadow table", static_cast<double>(p.rows_copied));
  w.Gauge("shadowcopy_rows_estimated", "rows the planner estimates in the table (0: unknown)", p.estimated_rows);
  w.Gauge("shadowcopy_copy_progress_ratio", "share of the estimated rows copied, 0 to 1", s.percent / 100);
  w.Gauge("shadowcopy_copy_rows_per_second", "copy rate", p.rows_per_s);
  if (p.eta_s >= 0) w.Gauge("shadowcopy_copy_eta_seconds", "estimated time left in the copy", p.eta_s);
  w.Counter("shadowcopy_copy_batches_total", "copy batches committed", static_cast<double>(p.batches));
  w.Gauge("shadowcopy_chunk_size_rows", "rows in the current copy batch", static_cast<double>(p.chunk_size));
  w.Counter("shadowcopy_changes_replayed_total", "row changes replayed from the WAL into the shadow table",
            static_cast<double>(p.changes_replayed));
  w.Counter("shadowcopy_reverse_changes_replayed_total",
            "revert window: row changes replayed from the new table into the old one",
            static_cast<double>(p.reverse_changes_replayed));
  w.Gauge("shadowcopy_replay_queue_transactions", "transactions received, not yet replayed",
          static_cast<double>(p.queue_depth));
  w.Gauge("shadowcopy_replay_lag_bytes", "WAL not yet replayed", static_cast<double>(p.replay_lag_bytes));
  w.Gauge("shadowcopy_replay_lag_seconds", "age of the last replayed commit", p.replay_lag_s);
  if (p.slot_retained_wal_bytes >= 0)
    w.Gauge("shadowcopy_slot_retained_wal_bytes", "WAL the replication slot holds back on the server",
            static_cast<double>(p.slot_retained_wal_bytes));
  w.Counter("shadowcopy_cutover_attempts_total", "cutover attempts started", p.cutover_attempts);
  w.Gauge("shadowcopy_cutover_blocked_seconds", "how long the committed cutover blocked writers",
          p.cutover_blocked_ms / 1000);
  w.Gauge("shadowcopy_cutover_postponed", "1 while the cutover waits for `ctl cutover` or the flag file",
          s.cutover == "postponed" ? 1 : 0);
  w.Gauge("shadowcopy_verify_ranges_done", "key ranges compared in the current verification",
          static_cast<double>(p.verify_ranges_done));
  w.Gauge("shadowcopy_verify_ranges", "key ranges in the current verification",
          static_cast<double>(p.verify_ranges_total));
  w.Gauge("shadowcopy_verify_rows", "original rows hashed in the current verification",
          static_cast<double>(p.verify_rows));
  w.Counter("shadowcopy_verify_mismatches_total", "key ranges found different", static_cast<double>(p.verify_mismatches));
  w.Counter("shadowcopy_verify_repaired_total", "key ranges copied again after a mismatch",
            static_cast<double>(p.verify_repaired));
  w.Gauge("shadowcopy_verify_blocked_seconds", "longest writer block of a verification's consistency point",
          p.verify_blocked_ms / 1000);
}

void WriteBackfill(MetricsWriter& w, const engine::StatusSnapshot& s) {
  const engine::Progress& p = s.progress;
  w.Counter("shadowcopy_backfill_keys_total", "keys the committed batches walked",
            static_cast<double>(p.keys_covered));
  w.Gauge("shadowcopy_backfill_keys_estimated", "keys in the span (estimate)", p.estimated_rows);
  w.Counter("shadowcopy_backfill_rows_changed_total", "rows the committed batches updated or deleted",
            static_cast<double>(p.rows_changed));
  w.Gauge("shadowcopy_backfill_progress_ratio", "share of the key span done, 0 to 1", s.percent / 100);
  w.Gauge("shadowcopy_backfill_keys_per_second", "rate of keys walked", p.rows_per_s);
  w.Gauge("shadowcopy_backfill_rows_changed_per_second", "rate of rows changed", p.changed_per_s);
  if (p.eta_s >= 0) w.Gauge("shadowcopy_backfill_eta_seconds", "estimated time left", p.eta_s);
  w.Counter("shadowcopy_backfill_batches_total", "batches committed", static_cast<double>(p.batches));
  w.Gauge("shadowcopy_batch_size_keys", "keys in the current batch", static_cast<double>(p.chunk_size));
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text) {
  ListenAddress a;
  std::string_view port = text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return BadListen(text, "an IPv6 address is written [ADDR]:PORT");
    a.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else if (size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    a.host = std::string(text.substr(0, colon));
    if (a.host.find(':') != std::string::npos) return BadListen(text, "an IPv6 address is written [ADDR]:PORT");
    port = text.substr(colon + 1);
  }
  if (a.host.empty() && text.find(':') != std::string_view::npos) return BadListen(text, "the host is empty");
  if (a.host.empty() || a.host == "localhost") a.host = "127.0.0.1";
  if (std::string why = HostProblem(a.host); !why.empty()) return BadListen(text, why);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535)
    return BadListen(text, "the port must be a number from 0 to 65535");
  a.port = static_cast<uint16_t>(value);
  return a;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 1e15) return fmt::format("{:.0f}", value);
  return fmt::format("{}", value);
}

void MetricsWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(help), name, type);
}

void MetricsWriter::Sample(std::string_view name, const Labels& labels, double value) {
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    for (size_t i = 0; i < labels.size(); ++i)
      text_ += fmt::format("{}{}=\"{}\"", i == 0 ? "" : ",", labels[i].first, EscapeLabelValue(labels[i].second));
    text_ += '}';
  }
  text_ += ' ' + FormatMetricValue(value) + '\n';
}

void MetricsWriter::Gauge(std::string_view name, std::string_view help, double value) {
  Family(name, "gauge", help);
  Sample(name, value);
}

void MetricsWriter::Counter(std::string_view name, std::string_view help, double value) {
  Family(name, "counter", help);
  Sample(name, value);
}

const std::vector<std::string>& KnownPhases(std::string_view command) {
  static const std::vector<std::string> kRewrite = {"starting", "inspect", "prepare",  "resume",
                                                    "copy",     "indexes", "catchup",  "verify",
                                                    "postponed", "cutover", "cleanup", "done",
                                                    "verify-after", "revert-window", "revert"};
  static const std::vector<std::string> kBackfill = {"starting", "backfill"};
  static const std::vector<std::string> kMigrate = {"starting", "apply", "done", "failed"};
  if (command == "backfill") return kBackfill;
  if (command == "migrate") return kMigrate;
  return kRewrite;
}

std::string RenderRunMetrics(const RunLabels& run, engine::ControlKind kind, const engine::StatusSnapshot& s) {
  MetricsWriter w;
  WriteRunInfo(w, run);
  WritePhase(w, run.command, s.progress.phase);
  WriteControlState(w, s);
  if (kind == engine::ControlKind::kBackfill) WriteBackfill(w, s);
  else WriteRewrite(w, s);
  return w.text();
}

std::string RenderMigrateMetrics(const RunLabels& run, const MigrateProgress& m) {
  MetricsWriter w;
  WriteRunInfo(w, run);
  WritePhase(w, run.command, m.phase);
  w.Gauge("shadowcopy_elapsed_seconds", "time since the run started", m.elapsed_s);
  w.Counter("shadowcopy_migrate_versions_applied_total", "migration versions this run applied",
            static_cast<double>(m.versions_applied));
  w.Gauge("shadowcopy_migrate_versions_pending", "migration versions left to apply",
          static_cast<double>(m.versions_pending));
  return w.text();
}

}  // namespace shadowcopy::cli
