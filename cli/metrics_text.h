// The Prometheus text exposition format (version 0.0.4) of a run's status,
// and the `--metrics-listen` address. Pure: a snapshot in, the page out.
//
// Names follow Prometheus conventions: a `shadowcopy_` prefix, base units
// (`_seconds`, `_bytes`), counters ending in `_total`, every family with its
// HELP and TYPE lines; an enumeration (the phase, the throttle causes) is one
// 0/1 gauge per value, labelled, so each series keeps its label set.
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_CLI_METRICS_TEXT_H_
#define SHADOWCOPY_CLI_METRICS_TEXT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/control/control.h"

namespace shadowcopy::cli {

// Where the metrics endpoint listens.
struct ListenAddress {
  std::string host;   // an IP literal ("127.0.0.1", "::1", "0.0.0.0")
  uint16_t port = 0;  // 0: the system picks one
};

// "PORT" (loopback), "HOST:PORT", "[V6]:PORT"; HOST is an IPv4 or IPv6
// literal or "localhost". InvalidArgument with one line naming
// --metrics-listen otherwise.
absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text);

// Writes families in the text format, each HELP/TYPE once before its samples.
class MetricsWriter {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // `type` is "counter" or "gauge"; a counter's `name` ends in "_total".
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const Labels& labels, double value);
  void Sample(std::string_view name, double value) { Sample(name, {}, value); }
  // Family and one unlabelled sample.
  void Gauge(std::string_view name, std::string_view help, double value);
  void Counter(std::string_view name, std::string_view help, double value);

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// A label value with `\`, `"` and newlines escaped.
std::string EscapeLabelValue(std::string_view value);
// HELP text with `\` and newlines escaped.
std::string EscapeHelp(std::string_view help);
// "42", "0.5", "NaN", "+Inf", "-Inf" (integers exactly, others shortest
// round-trip).
std::string FormatMetricValue(double value);

// What the run is, for shadowcopy_run_info.
struct RunLabels {
  std::string command;  // "rewrite", "backfill", "migrate"
  std::string schema;
  std::string table;
};

// The page of a rewrite or a backfill (by `kind`) from its status snapshot.
std::string RenderRunMetrics(const RunLabels& run, engine::ControlKind kind, const engine::StatusSnapshot& s);

// What `migrate` publishes while it applies its versions.
struct MigrateProgress {
  std::string phase = "starting";  // starting, apply, done, failed
  int64_t versions_applied = 0;    // by this run
  int64_t versions_pending = 0;    // left to apply
  double elapsed_s = 0;
};
std::string RenderMigrateMetrics(const RunLabels& run, const MigrateProgress& m);

// The phases each kind of run goes through, in order (every one gets a
// shadowcopy_phase series; an unknown current phase is added).
const std::vector<std::string>& KnownPhases(std::string_view command);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_METRICS_TEXT_H_
