#include "cli/options.h"

#include <cctype>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <map>

#include "cli/command_line.h"
#include "cli/metrics_text.h"
#include "common/status.h"
#include "engine/control/control.h"
#include "engine/rewrite/revertibility.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

absl::StatusOr<int64_t> ParseInt(const std::string& flag, const std::string& text, int64_t min) {
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || v < min)
    return absl::InvalidArgumentError(fmt::format("{} needs an integer >= {}, got '{}'", flag, min, text));
  return v;
}

// A count of connections: 1 to `max`.
absl::StatusOr<int> ParseWorkers(const std::string& flag, const std::string& text, int max) {
  ASSIGN_OR_RETURN(int64_t n, ParseInt(flag, text, 1));
  if (n > max) return absl::InvalidArgumentError(fmt::format("{} must be at most {}", flag, max));
  return static_cast<int>(n);
}

// Flags of the online rewrite that mean nothing to a backfill, and the
// reverse.
bool RewriteOnly(const std::string& arg) {
  for (const char* f : {"--alter", "--chunk-size", "--target-chunk-time", "--min-chunk-size", "--max-chunk-size",
                        "--max-replay-lag", "--critical-replay-lag", "--max-replay-lag-bytes",
                        "--critical-replay-lag-bytes", "--postpone-cutover", "--postpone-cutover-flag-file",
                        "--drop-old-table", "--keep-on-error", "--max-retained-wal", "--cutover-lock-timeout",
                        "--cutover-retries", "--cutover-drain-timeout", "--all", "--verify", "--verify-workers",
                        "--verify-range-rows", "--verify-max-snapshot-age", "--copy-workers",
                        "--replay-during-copy", "--apply-workers", "--copy-relay", "--parallel-index-builds",
                        "--revert-window", "--revert-accept", "--health-check", "--health-check-cmd",
                        "--health-interval", "--health-max-failures"})
    if (arg == f) return true;
  return false;
}

bool BackfillOnly(const std::string& arg) {
  for (const char* f : {"--set", "--delete", "--where", "--batch-size", "--target-batch-time", "--min-batch-size",
                        "--max-batch-size", "--lock-retries"})
    if (arg == f) return true;
  return false;
}

// A backfill's batches hold row locks the application may wait for: smaller
// and shorter than the copy's by default.
void BackfillDefaults(engine::Config* c) {
  c->control.chunk_size = 1000;
  c->control.target_chunk_time = std::chrono::milliseconds(200);
  c->control.min_chunk_size = 10;
  c->control.max_chunk_size = 50000;
  c->lock_timeout = std::chrono::milliseconds(500);
}

absl::Status ValidateBackfill(const engine::Config& c, bool where_given) {
  const auto& b = c.backfill;
  if (b.delete_rows && !b.set.empty()) return absl::InvalidArgumentError("give either --set or --delete, not both");
  if (!b.delete_rows && b.set.empty())
    return absl::InvalidArgumentError("give --set \"COLUMN = EXPR, ...\" or --delete (see backfill --help)");
  if (!where_given)
    return absl::InvalidArgumentError("--where is required (--where true changes every row in the key span)");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> ParseSize(const std::string& text) {
  double value = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (r.ec != std::errc() || !(value > 0) || value > 1e18)
    return absl::InvalidArgumentError(fmt::format("invalid size '{}' (e.g. 512MB, 8GB)", text));
  std::string unit(r.ptr, text.data() + text.size());
  for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  double mult;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KB" || unit == "KIB") mult = 1024.0;
  else if (unit == "MB" || unit == "MIB") mult = 1024.0 * 1024;
  else if (unit == "GB" || unit == "GIB") mult = 1024.0 * 1024 * 1024;
  else if (unit == "TB" || unit == "TIB") mult = 1024.0 * 1024 * 1024 * 1024;
  else return absl::InvalidArgumentError(fmt::format("invalid size '{}' (e.g. 512MB, 8GB)", text));
  if (!(value * mult < 9.2e18)) return absl::InvalidArgumentError(fmt::format("size '{}' is too large", text));
  return static_cast<int64_t>(value * mult);
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  // One grammar for the flags and the control socket's `set`.
  return engine::ParseControlDuration(text);
}

std::string UsageText() { return BuildCommandLine()->app.help(); }

std::string BackfillUsageText() {
  auto cl = BuildCommandLine();
  return BackfillHelp(*cl);
}

namespace {

absl::StatusOr<std::string> need(const std::string& value) { return value; }

// Applies one given option (its long name, and its value when it takes one).
absl::Status ApplyOption(Options& o, const std::string& arg, const std::string& value,
                         bool has_value) {
  auto& c = o.config;
  if (arg == "--table") {
    ASSIGN_OR_RETURN(c.table, need(value));
  } else if (arg == "--schema") {
    ASSIGN_OR_RETURN(c.schema, need(value));
  } else if (arg == "--set") {
    ASSIGN_OR_RETURN(c.backfill.set, need(value));
    if (c.backfill.set.empty()) return absl::InvalidArgumentError("--set must not be empty");
  } else if (arg == "--delete") {
    c.backfill.delete_rows = true;
  } else if (arg == "--where") {
    ASSIGN_OR_RETURN(c.backfill.where, need(value));
  } else if (arg == "--lock-retries") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(int64_t n, ParseInt(arg, v, 1));
    if (n > 100000) return absl::InvalidArgumentError("--lock-retries must be at most 100000");
    c.backfill.lock_retries = static_cast<int>(n);
  } else if (arg == "--alter") {
    ASSIGN_OR_RETURN(c.alter, need(value));
  } else if (arg == "--dsn") {
    ASSIGN_OR_RETURN(c.dsn, need(value));
  } else if (arg == "--execute") {
    c.execute = true;
  } else if (arg == "--resume") {
    c.resume = true;
  } else if (arg == "--keep-on-error") {
    c.keep_on_error = true;
  } else if (arg == "--max-retained-wal") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.max_retained_wal, ParseSize(v));
  } else if (arg == "--drop-old-table") {
    c.drop_old_table = true;
  } else if (arg == "--all") {
    o.cleanup_all = true;
  } else if (arg == "--verbose") {
    o.verbose = true;
  } else if (arg == "--chunk-size" || arg == "--batch-size") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.chunk_size, ParseInt(arg, v, 1));
    c.control.chunk_size = c.chunk_size;
    c.control.fixed_chunk_size = true;
  } else if (arg == "--min-chunk-size" || arg == "--max-chunk-size" || arg == "--min-batch-size" ||
             arg == "--max-batch-size" || arg == "--max-lock-waiters" || arg == "--max-active" ||
             arg == "--critical-active") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(int64_t n, ParseInt(arg, v, arg == "--max-lock-waiters" ? -1 : 0));
    if (arg == "--min-chunk-size" || arg == "--min-batch-size")
      c.control.min_chunk_size = n;
    else if (arg == "--max-chunk-size" || arg == "--max-batch-size")
      c.control.max_chunk_size = n;
    else if (arg == "--max-lock-waiters")
      c.control.max_lock_waiters = n;
    else if (arg == "--max-active")
      c.control.max_active = n;
    else
      c.control.critical_active = n;
  } else if (arg == "--max-replay-lag" || arg == "--critical-replay-lag" ||
             arg == "--max-replay-lag-bytes" || arg == "--critical-replay-lag-bytes") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(int64_t n, ParseSize(v));
    if (arg.rfind("--max-replay-lag", 0) == 0)
      c.control.max_replay_lag_bytes = n;
    else
      c.control.critical_replay_lag_bytes = n;
  } else if (arg == "--target-chunk-time" || arg == "--target-batch-time" ||
             arg == "--max-replica-lag" || arg == "--critical-replica-lag") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(auto d, ParseDuration(v));
    if (arg == "--target-chunk-time" || arg == "--target-batch-time")
      c.control.target_chunk_time = d;
    else if (arg == "--max-replica-lag")
      c.control.max_replica_lag = d;
    else
      c.control.critical_replica_lag = d;
  } else if (arg == "--health-signal") {
    ASSIGN_OR_RETURN(auto v, need(value));
    if (v != "on" && v != "off")
      return absl::InvalidArgumentError(fmt::format("--health-signal is on or off, got '{}'", v));
    c.control.health_signal = v == "on";
  } else if (arg == "--health-latency-factor") {
    ASSIGN_OR_RETURN(auto v, need(value));
    auto r = std::from_chars(v.data(), v.data() + v.size(), c.control.health_latency_factor);
    if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size())
      return absl::InvalidArgumentError(fmt::format("--health-latency-factor needs a number, got '{}'", v));
  } else if (arg == "--health-latency-floor") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.control.health_latency_floor, ParseDuration(v));
  } else if (arg == "--nice-ratio") {
    ASSIGN_OR_RETURN(auto v, need(value));
    auto r = std::from_chars(v.data(), v.data() + v.size(), c.control.nice_ratio);
    if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size())
      return absl::InvalidArgumentError(fmt::format("--nice-ratio needs a number, got '{}'", v));
  } else if (arg == "--verify") {
    if (has_value && value != "on" && value != "off")
      return absl::InvalidArgumentError(fmt::format("--verify is on or off, got '{}'", value));
    c.verify = !has_value || value == "on";
  } else if (arg == "--verify-after") {
    c.verify_after = true;
  } else if (arg == "--revert-window") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.revert_window, ParseDuration(v));
    if (c.revert_window.count() <= 0) return absl::InvalidArgumentError("--revert-window must be positive");
  } else if (arg == "--health-check") {
    ASSIGN_OR_RETURN(c.health_check_sql, need(value));
  } else if (arg == "--health-check-cmd") {
    ASSIGN_OR_RETURN(c.health_check_cmd, need(value));
  } else if (arg == "--health-interval") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.health_interval, ParseDuration(v));
    if (c.health_interval.count() <= 0) return absl::InvalidArgumentError("--health-interval must be positive");
  } else if (arg == "--health-max-failures") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(int64_t n, ParseInt(arg, v, 1));
    c.health_max_failures = static_cast<int>(std::min<int64_t>(n, 1000000));
  } else if (arg == "--revert-accept") {
    ASSIGN_OR_RETURN(auto v, need(value));
    RETURN_IF_ERROR(engine::ParseRevertAccept(v, &c.revert_accept));
  } else if (arg == "--copy-workers") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.copy_workers, ParseWorkers(arg, v, 16));
  } else if (arg == "--apply-workers") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.apply_workers, ParseWorkers(arg, v, 16));
  } else if (arg == "--replay-during-copy") {
    c.replay_during_copy = true;
  } else if (arg == "--copy-relay") {
    c.copy_relay = true;
  } else if (arg == "--parallel-index-builds") {
    c.parallel_index_builds = true;
  } else if (arg == "--verify-workers") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.verify_workers, ParseWorkers(arg, v, 32));
  } else if (arg == "--verify-range-rows") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.verify_range_rows, ParseInt(arg, v, 1));
  } else if (arg == "--verify-max-snapshot-age") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.verify_max_snapshot_age, ParseDuration(v));
    if (c.verify_max_snapshot_age.count() <= 0)
      return absl::InvalidArgumentError("--verify-max-snapshot-age must be positive");
  } else if (arg == "--postpone-cutover") {
    c.control.postpone_cutover = true;
  } else if (arg == "--postpone-cutover-flag-file") {
    ASSIGN_OR_RETURN(c.control.postpone_cutover_flag_file, need(value));
  } else if (arg == "--socket") {
    ASSIGN_OR_RETURN(c.socket_path, need(value));
    if (c.socket_path == "none") {
      c.no_socket = true;
      c.socket_path.clear();
    }
  } else if (arg == "--replica-dsn") {
    ASSIGN_OR_RETURN(c.replica_dsn, need(value));
  } else if (arg == "--throttle-query") {
    ASSIGN_OR_RETURN(c.throttle_query, need(value));
  } else if (arg == "--throttle-flag-file") {
    ASSIGN_OR_RETURN(c.throttle_flag_file, need(value));
  } else if (arg == "--metrics-listen") {
    RETURN_IF_ERROR(ParseListenAddress(value).status());
    o.metrics_listen = value;
  } else if (arg == "--progress") {
    ASSIGN_OR_RETURN(auto v, need(value));
    if (v != "json" && v != "text") return absl::InvalidArgumentError("--progress is text or json");
    c.progress_json = v == "json";
  } else if (arg == "--cutover-retries") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(int64_t n, ParseInt(arg, v, 1));
    if (n > 100000) return absl::InvalidArgumentError("--cutover-retries must be at most 100000");
    c.cutover_retries = static_cast<int>(n);
  } else if (arg == "--hooks-path") {
    ASSIGN_OR_RETURN(c.hooks.path, need(value));
    if (c.hooks.path.empty()) return absl::InvalidArgumentError("--hooks-path must not be empty");
  } else if (arg == "--hooks-timeout" || arg == "--hooks-status-interval") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(auto d, ParseDuration(v));
    if (d.count() <= 0) return absl::InvalidArgumentError(fmt::format("{} must be positive", arg));
    (arg == "--hooks-timeout" ? c.hooks.timeout : c.hooks.status_interval) = d;
  } else if (arg == "--lock-timeout" || arg == "--cutover-lock-timeout" ||
             arg == "--cutover-drain-timeout" || arg == "--progress-interval") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(auto d, ParseDuration(v));
    if (d.count() <= 0) return absl::InvalidArgumentError(fmt::format("{} must be positive", arg));
    if (arg == "--lock-timeout")
      c.lock_timeout = d;
    else if (arg == "--cutover-lock-timeout")
      c.cutover_lock_timeout = d;
    else if (arg == "--cutover-drain-timeout")
      c.cutover_drain_timeout = d;
    else
      c.progress_interval = d;
  }
  return absl::OkStatus();
}

// Options given to `app` (and its subcommands) that it does not know, in order.
absl::Status CheckExtras(const std::vector<std::string>& extras, bool backfill) {
  if (extras.empty()) return absl::OkStatus();
  std::string arg = extras.front();
  if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos)
    arg = arg.substr(0, eq);
  if (arg == "--password" || arg == "-W")
    return absl::InvalidArgumentError(
        "passwords are not taken on the command line; use .pgpass or PGPASSWORD");
  if (backfill && RewriteOnly(arg))
    return absl::InvalidArgumentError(
        fmt::format("{} is not a backfill option (see backfill --help)", arg));
  if (!backfill && BackfillOnly(arg))
    return absl::InvalidArgumentError(
        fmt::format("{} belongs to `shadowcopy backfill` (see backfill --help)", arg));
  return absl::InvalidArgumentError(fmt::format("unknown option '{}' (see --help)", arg));
}

}  // namespace

absl::StatusOr<Options> ParseOptions(const std::vector<std::string>& args) {
  Options o;
  auto cl = BuildCommandLine();
  CLI::App& app = cl->app;
  CLI::App* cleanup = cl->cleanup;
  CLI::App* backfill = cl->backfill;
  CLI::App* ctl = cl->ctl;
  CLI::App* verify_cmd = cl->verify;
  const auto& main_opts = cl->rewrite_options;
  const auto& backfill_opts = cl->backfill_options;

  // A flag given a value (`--execute=yes`) is refused, not read as a boolean.
  for (const std::string& a : args) {
    if (a.rfind("--", 0) != 0) continue;
    auto eq = a.find('=');
    if (eq == std::string::npos) continue;
    std::string name = a.substr(0, eq);
    for (const auto* list : {&main_opts, &backfill_opts})
      for (const auto& r : *list)
        if (!r.takes_value && r.name == name)
          return absl::InvalidArgumentError(fmt::format("{} takes no value", name));
    if (name == "--all" || name == "--old-tables" || name == "--version" || name == "--help")
      return absl::InvalidArgumentError(fmt::format("{} takes no value", name));
  }

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    o.command = Command::kHelp;
    o.backfill_help = backfill->parsed();
    return o;
  } catch (const CLI::ArgumentMismatch& e) {
    std::string what = e.what();
    return absl::InvalidArgumentError(
        fmt::format("{} needs a value", what.substr(0, what.find(':'))));
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(fmt::format("{} (see --help)", e.what()));
  }

  // A subcommand is the first word; later it is a stray argument, as any other word.
  for (const CLI::App* sub : app.get_subcommands())
    if (args.front() != sub->get_name())
      return absl::InvalidArgumentError(fmt::format("unknown option '{}' (see --help)", sub->get_name()));
  if (cl->migrations->parsed()) {
    o.command = Command::kMigrations;
    o.ctl_args = cl->migrations->remaining();
    return o;
  }
  if (ctl->parsed() || verify_cmd->parsed()) {
    o.command = ctl->parsed() ? Command::kCtl : Command::kVerify;
    o.ctl_args = (ctl->parsed() ? ctl : verify_cmd)->remaining();
    return o;
  }
  if (cl->plan->parsed()) {
    o.command = Command::kPlan;
    o.ctl_args = cl->plan->remaining();
    return o;
  }
  const bool is_backfill = backfill->parsed();
  if (cl->version->count() > 0 || cl->backfill_version->count() > 0) {
    o.command = Command::kVersion;
    return o;
  }
  RETURN_IF_ERROR(CheckExtras(app.remaining(true), is_backfill));
  auto& c = o.config;
  if (cleanup->parsed()) o.command = Command::kCleanup;
  if (is_backfill) {
    o.command = Command::kBackfill;
    BackfillDefaults(&c);
  }
  for (const CommandLine::Registered& r : is_backfill ? backfill_opts : main_opts) {
    if (r.option->count() == 0) continue;
    std::string value = r.takes_value ? r.option->results().back() : std::string();
    RETURN_IF_ERROR(ApplyOption(o, r.name, value, r.takes_value));
  }
  if (!is_backfill && cl->verify_flag->count() > 0) {
    std::string value = cl->verify_flag->results().empty() ? std::string() : cl->verify_flag->results().back();
    RETURN_IF_ERROR(ApplyOption(o, "--verify", value, !value.empty()));
  }
  if (cl->cleanup_all->count() > 0) o.cleanup_all = true;
  if (cl->cleanup_old_tables->count() > 0) o.cleanup_old_tables = true;
  const bool table_given = is_backfill ? backfill->count("--table") > 0 : app.count("--table") > 0;
  const bool where_given = backfill->count("--where") > 0;
  if (!table_given && !(o.command == Command::kCleanup && (o.cleanup_all || o.cleanup_old_tables)))
    return absl::InvalidArgumentError("--table is required (see --help)");
  if (table_given && c.table.empty())
    return absl::InvalidArgumentError("--table must not be empty");
  if (c.schema.empty()) return absl::InvalidArgumentError("--schema must not be empty");
  if (is_backfill) {
    RETURN_IF_ERROR(ValidateBackfill(c, where_given));
    // A fixed --batch-size outside the adaptive bounds is what was asked for.
    if (c.control.fixed_chunk_size) {
      c.control.min_chunk_size = std::min(c.control.min_chunk_size, c.control.chunk_size);
      c.control.max_chunk_size = std::max(c.control.max_chunk_size, c.control.chunk_size);
    }
  }
  if ((!c.health_check_sql.empty() || !c.health_check_cmd.empty()) && c.revert_window.count() == 0)
    return absl::InvalidArgumentError("--health-check and --health-check-cmd run during a revert window: "
                                      "give --revert-window too");
  RETURN_IF_ERROR(engine::ValidateControlSettings(c.control));
  return o;
}

absl::Status ApplyTestEnvironment(engine::TestHooks* hooks) {
  if (const char* dir = std::getenv("SHADOWCOPY_TEST_PAUSE_DIR")) hooks->pause_dir = dir;
  if (const char* at = std::getenv("SHADOWCOPY_TEST_PAUSE_AT")) {
    std::string s(at);
    auto colon = s.find(':');
    if (colon == std::string::npos) return absl::InvalidArgumentError("SHADOWCOPY_TEST_PAUSE_AT is point:batch");
    hooks->pause_point = s.substr(0, colon);
    ASSIGN_OR_RETURN(int64_t n, ParseInt("SHADOWCOPY_TEST_PAUSE_AT", s.substr(colon + 1), 1));
    hooks->pause_batch = static_cast<int>(n);
  }
  if (const char* corrupt = std::getenv("SHADOWCOPY_TEST_CORRUPT")) {
    std::string s(corrupt);
    if (s != "once" && s != "always" && !s.empty())
      return absl::InvalidArgumentError("SHADOWCOPY_TEST_CORRUPT is once or always");
    hooks->corrupt = s;
  }
  if (const char* early = std::getenv("SHADOWCOPY_TEST_EARLY_KEY")) {
    ASSIGN_OR_RETURN(int64_t n, ParseInt("SHADOWCOPY_TEST_EARLY_KEY", early, 1));
    hooks->early_key_after_batch = static_cast<int>(n);
  }
  if (const char* rows = std::getenv("SHADOWCOPY_TEST_PARALLEL_APPLY_ROWS")) {
    ASSIGN_OR_RETURN(int64_t n, ParseInt("SHADOWCOPY_TEST_PARALLEL_APPLY_ROWS", rows, 1));
    hooks->parallel_apply_min_rows = static_cast<int>(n);
  }
  if (const char* unsafe = std::getenv("SHADOWCOPY_TEST_UNSAFE")) {
    std::string s(unsafe);
    if (s == "ordering") hooks->disable_ordering = true;
    else if (s == "visibility") hooks->disable_visibility = true;
    else if (!s.empty()) return absl::InvalidArgumentError("SHADOWCOPY_TEST_UNSAFE is ordering or visibility");
  }
  return absl::OkStatus();
}

}  // namespace shadowcopy::cli
