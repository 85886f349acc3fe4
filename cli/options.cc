#include "cli/options.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <map>

#include "CLI/CLI.hpp"
#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

absl::StatusOr<int64_t> ParseInt(const std::string& flag, const std::string& text, int64_t min) {
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || v < min)
    return absl::InvalidArgumentError(
        fmt::format("{} needs an integer >= {}, got '{}'", flag, min, text));
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
  for (const char* f : {"--alter",
                        "--chunk-size",
                        "--target-chunk-time",
                        "--min-chunk-size",
                        "--max-chunk-size",
                        "--max-replay-lag",
                        "--critical-replay-lag",
                        "--max-replay-lag-bytes",
                        "--critical-replay-lag-bytes",
                        "--postpone-cutover",
                        "--postpone-cutover-flag-file",
                        "--drop-old-table",
                        "--keep-on-error",
                        "--max-retained-wal",
                        "--cutover-lock-timeout",
                        "--cutover-retries",
                        "--cutover-drain-timeout",
                        "--all",
                        "--verify",
                        "--verify-workers",
                        "--verify-range-rows",
                        "--verify-max-snapshot-age",
                        "--copy-workers",
                        "--replay-during-copy",
                        "--apply-workers"})
    if (arg == f) return true;
  return false;
}

bool BackfillOnly(const std::string& arg) {
  for (const char* f : {"--set", "--delete", "--where", "--batch-size", "--target-batch-time",
                        "--min-batch-size", "--max-batch-size", "--lock-retries"})
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
  if (b.delete_rows && !b.set.empty())
    return absl::InvalidArgumentError("give either --set or --delete, not both");
  if (!b.delete_rows && b.set.empty())
    return absl::InvalidArgumentError(
        "give --set \"COLUMN = EXPR, ...\" or --delete (see backfill --help)");
  if (!where_given)
    return absl::InvalidArgumentError(
        "--where is required (--where true changes every row in the key span)");
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
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "KB" || unit == "KIB")
    mult = 1024.0;
  else if (unit == "MB" || unit == "MIB")
    mult = 1024.0 * 1024;
  else if (unit == "GB" || unit == "GIB")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "TB" || unit == "TIB")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else
    return absl::InvalidArgumentError(fmt::format("invalid size '{}' (e.g. 512MB, 8GB)", text));
  if (!(value * mult < 9.2e18))
    return absl::InvalidArgumentError(fmt::format("size '{}' is too large", text));
  return static_cast<int64_t>(value * mult);
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  double value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto r = std::from_chars(begin, end, value);
  if (r.ec != std::errc() || !(value >= 0) || value > 1e12)
    return absl::InvalidArgumentError(fmt::format("invalid duration '{}'", text));
  std::string unit(r.ptr, end);
  double ms;
  if (unit.empty() || unit == "ms")
    ms = value;
  else if (unit == "s")
    ms = value * 1000;
  else if (unit == "m" || unit == "min")
    ms = value * 60000;
  else
    return absl::InvalidArgumentError(fmt::format("invalid duration '{}' (use ms, s or m)", text));
  if (!(ms <= 1e12))
    return absl::InvalidArgumentError(fmt::format("duration '{}' is too long", text));
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

std::string UsageText() {
  return R"(shadowcopy: online schema change and table rebuild for PostgreSQL

usage:
  shadowcopy --table T [--schema S] [--alter "SUBCOMMANDS"] [--dsn DSN] [--execute] [options]
  shadowcopy cleanup --table T [--schema S] [--dsn DSN] [--execute]
  shadowcopy cleanup --all [--dsn DSN] [--execute]
  shadowcopy backfill --table T (--set "EXPR" | --delete) --where "COND" [--execute] [options]
                             batched online UPDATE or DELETE (see shadowcopy backfill --help)
  shadowcopy verify --table T [--schema S] [--socket PATH]   verify a running migration now

Without --execute nothing changes: the table is inspected, the ALTER is validated on an
empty copy in a rolled-back transaction, and the plan is printed.

  --table T                  table to migrate (required)
  --schema S                 its schema (default: public)
  --alter "..."              what follows ALTER TABLE <name>, e.g. "ALTER COLUMN id TYPE bigint";
                             several comma-separated subcommands, one statement. Without it the
                             table is rebuilt as it is (removes bloat).
  --dsn DSN                  libpq conninfo or URI; default: PG* environment variables and
                             .pgpass. Never put a password on the command line.
  --execute                  really migrate (default: dry run)
  --chunk-size N             fixed rows per copy batch (default: adaptive, see --target-chunk-time)
  --target-chunk-time D      adaptive batch size aiming at this batch duration (default 500ms)
  --min-chunk-size N, --max-chunk-size N   bounds of the adaptive size (default 100, 100000)
  --copy-workers N           copy batches run side by side on N connections (default 1)
  --nice-ratio R             after each batch rest R times its duration, replaying meanwhile
                             (default 0; 1 halves the copy's share of the server)
  --apply-workers N          a large replay group is split by key over N connections
                             (default 1; never while the new table has another unique index)
  --replay-during-copy       give the new table its key index before the copy and replay
                             concurrent writes during it. Default: the key index is built
                             after the copy (faster) and replay waits for it, unless the
                             backlog grows or the copy is throttled: then both start at once.

Throttling (the copy waits, replay goes on; an unreadable signal counts as over its limit):
  --max-replica-lag D        physical standbys' replay lag (default 10s; 0 off)
  --replica-dsn DSN          also measure the lag on this replica itself
  --max-lock-waiters N       application sessions waiting on locks our sessions hold (default 0; -1 off)
  --max-active N             active backends (default 0 = off)
  --max-replay-lag SIZE      WAL our replay has not applied yet (default 1GB)
  --throttle-query SQL       a query returning a number; > 0 throttles
  --throttle-flag-file F     throttled while F exists
  --critical-replica-lag D, --critical-active N, --critical-replay-lag SIZE
                             abort the migration (cleanly) beyond these
Verification (before the cutover, shadow vs. original, range by range inside the server):
  --verify[=on|off]          on by default; a range that differs is re-copied and checked again,
                             the cutover happens only after a clean pass
  --verify-workers N         connections hashing ranges in parallel (default 2)
  --verify-range-rows N      rows per key range (default 50000)
  --verify-max-snapshot-age D   beyond it, a fresh consistency point for the ranges left (default 10m)
  --verify-after             after the cutover, compare the new table with _<table>_old as they
                             were at the swap (report only)
Control:
  --socket PATH              control socket (default: private, per table; see README; none: off)
  --postpone-cutover         keep replaying after the copy until `ctl cutover`
  --postpone-cutover-flag-file F   ... or until F is removed
  --progress text|json       progress lines as text on stderr (default) or JSON on stdout
  shadowcopy ctl --socket PATH status|status --json|pause|resume|set NAME=VALUE|get NAME|cutover|verify|abort|help
  --drop-old-table           drop _<table>_old after a successful cutover (default: keep it)
  --resume                   continue the unfinished run recorded for the table (after kill -9,
                             a lost machine or --keep-on-error); pass the same --alter
  --keep-on-error            on failure keep the slot, publication and shadow for --resume
                             (the slot retains WAL until resumed or cleaned up)
  --max-retained-wal SIZE    stop the run (dropping the slot) when the slot retains more WAL than
                             this; near it the copy waits for replay (default 8GB)
  --lock-timeout D           lock_timeout of the DDL while preparing (default 2s)
  --cutover-lock-timeout D   how long writers may queue behind the cutover lock (default 1s)
  --cutover-retries N        cutover attempts before giving up (default 30)
  --cutover-drain-timeout D  time allowed under the lock to replay the last changes (default 3s)
  --progress-interval D      progress line interval (default 2s)
  --verbose                  debug logging
  --help, --version

Durations: 500ms, 2s, 1.5s, 1m. Exit status: 0 success, 1 error, 2 usage, 130 interrupted.
Objects created: table _<table>_shadow, publication and replication slot shadowcopy_<oid>;
all removed on failure or Ctrl-C. After a kill -9, run `shadowcopy cleanup --table T --execute`.
)";
}

std::string BackfillUsageText() {
  return R"usage(shadowcopy backfill: throttled online UPDATE or DELETE in short keyed batches

usage:
  shadowcopy backfill --table T [--schema S] (--set "EXPR" | --delete) --where "COND"
                      [--dsn DSN] [--execute] [--resume] [options]

Walks the table in key order (primary key, else a unique index over NOT NULL columns) and runs
  UPDATE T SET <EXPR> WHERE <key in (cursor, next boundary]> AND (<COND>)     (or DELETE)
one short transaction per batch, the checkpoint (the batch's last key) written in the same
transaction. No long-running snapshot, no table lock: only the row locks of the batch in flight.

The key span is fixed at the start: from the smallest key up to the largest key present then.
Rows inserted later above it, or behind the cursor, are not the backfill's job (make the
application write new rows correctly first). Triggers fire per row as for any UPDATE/DELETE,
and the changes replicate normally (the run throttles on replica lag by default). Expressions
are evaluated per batch: now() is each batch's own transaction time. Do not change key columns
in --set.

Without --execute nothing changes: the first batch runs in a transaction that is rolled back
(PostgreSQL validates --set and --where), the matching rows and the time are estimated, and
the plan is printed.

  --table T                  table to change (required); --schema S (default: public)
  --set "EXPR"               the SET list, e.g. "display_name = username, updated = now()"
  --delete                   delete the matching rows instead
  --where "COND"             which rows (required; --where true means every row in the span)
  --dsn DSN                  libpq conninfo or URI; default: PG* environment variables and .pgpass
  --execute                  really change the rows (default: dry run)
  --resume                   continue the unfinished backfill recorded for the table, after its
                             checkpoint (same --set/--delete and --where); a new backfill of a
                             table with an unfinished one is refused
  --batch-size N             fixed keys per batch (default: adaptive, see --target-batch-time)
  --target-batch-time D      adaptive batch size aiming at this batch duration (default 200ms)
  --min-batch-size N, --max-batch-size N   bounds of the adaptive size (default 10, 50000)
  --lock-timeout D           lock_timeout of each batch (default 500ms): a batch that cannot
                             lock its rows in time rolls back and is retried with half the keys
                             after a jittered backoff; the application never waits behind it longer
  --lock-retries N           attempts per batch before giving up (default 30)
  --nice-ratio R             after each batch rest R times its duration (default 0)

Throttling (the backfill waits between batches; an unreadable signal counts as over its limit):
  --max-replica-lag D        physical standbys' replay lag (default 10s; 0 off)
  --replica-dsn DSN          also measure the lag on this replica itself
  --max-lock-waiters N       application sessions waiting on locks our session holds (default 0; -1 off)
  --max-active N             active backends (default 0 = off)
  --throttle-query SQL       a query returning a number; > 0 throttles
  --throttle-flag-file F     throttled while F exists
  --critical-replica-lag D, --critical-active N   stop the backfill beyond these
Control:
  --socket PATH              control socket (default: private, per table; see README; none: off)
  shadowcopy ctl --socket PATH status|status --json|pause|resume|set NAME=VALUE|get NAME|abort|help
                             (tunables: batch-size, target-batch-time, min-batch-size,
                             max-batch-size, max-replica-lag, max-lock-waiters, max-active,
                             nice-ratio)
  --progress text|json       progress lines as text on stderr (default) or JSON on stdout
  --progress-interval D      progress line interval (default 2s)
  --verbose                  debug logging

A failing batch (e.g. a constraint violation) stops the run with its key range and the error;
committed batches stay committed. SIGINT, SIGTERM and `ctl abort` roll back the batch in flight
and stop. The run's record (shadowcopy.backfills) keeps the checkpoint: --resume continues, or
`shadowcopy cleanup --table T --execute` discards it. Exit status: 0 success, 1 error, 2 usage,
130 interrupted.
)usage";
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
  } else if (arg == "--copy-workers") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.copy_workers, ParseWorkers(arg, v, 16));
  } else if (arg == "--apply-workers") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(c.apply_workers, ParseWorkers(arg, v, 16));
  } else if (arg == "--replay-during-copy") {
    c.replay_during_copy = true;
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
  } else if (arg == "--progress") {
    ASSIGN_OR_RETURN(auto v, need(value));
    if (v != "json" && v != "text") return absl::InvalidArgumentError("--progress is text or json");
    c.progress_json = v == "json";
  } else if (arg == "--cutover-retries") {
    ASSIGN_OR_RETURN(auto v, need(value));
    ASSIGN_OR_RETURN(int64_t n, ParseInt(arg, v, 1));
    if (n > 100000) return absl::InvalidArgumentError("--cutover-retries must be at most 100000");
    c.cutover_retries = static_cast<int>(n);
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

struct Registered {
  CLI::Option* option;
  std::string name;
  bool takes_value;
};

const char* const kCommonValues[] = {"--table",
                                     "--schema",
                                     "--dsn",
                                     "--lock-timeout",
                                     "--nice-ratio",
                                     "--max-replica-lag",
                                     "--replica-dsn",
                                     "--max-lock-waiters",
                                     "--max-active",
                                     "--critical-replica-lag",
                                     "--critical-active",
                                     "--throttle-query",
                                     "--throttle-flag-file",
                                     "--socket",
                                     "--progress",
                                     "--progress-interval"};
const char* const kCommonFlags[] = {"--execute", "--resume", "--verbose", "--verify-after"};
const char* const kRewriteValues[] = {"--alter",
                                      "--chunk-size",
                                      "--target-chunk-time",
                                      "--min-chunk-size",
                                      "--max-chunk-size",
                                      "--max-replay-lag",
                                      "--critical-replay-lag",
                                      "--max-replay-lag-bytes",
                                      "--critical-replay-lag-bytes",
                                      "--postpone-cutover-flag-file",
                                      "--max-retained-wal",
                                      "--cutover-lock-timeout",
                                      "--cutover-retries",
                                      "--cutover-drain-timeout",
                                      "--verify-workers",
                                      "--verify-range-rows",
                                      "--verify-max-snapshot-age",
                                      "--copy-workers",
                                      "--apply-workers"};
const char* const kRewriteFlags[] = {"--postpone-cutover", "--drop-old-table", "--keep-on-error",
                                     "--replay-during-copy"};
const char* const kBackfillValues[] = {"--set",
                                       "--where",
                                       "--batch-size",
                                       "--target-batch-time",
                                       "--min-batch-size",
                                       "--max-batch-size",
                                       "--lock-retries"};
const char* const kBackfillFlags[] = {"--delete"};

void Register(CLI::App* app, std::vector<Registered>* out, const char* name, bool takes_value) {
  CLI::Option* opt = takes_value ? app->add_option(name) : app->add_flag(name);
  if (takes_value) opt->type_name("VALUE");
  out->push_back({opt, name, takes_value});
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
  CLI::App app{"shadowcopy: online schema change and table rebuild for PostgreSQL", "shadowcopy"};
  app.allow_extras();
  app.set_help_flag("-h,--help");
  CLI::Option* version = app.add_flag("--version");
  std::vector<Registered> main_opts, backfill_opts;
  for (const char* n : kCommonValues) Register(&app, &main_opts, n, true);
  for (const char* n : kCommonFlags) Register(&app, &main_opts, n, false);
  for (const char* n : kRewriteValues) Register(&app, &main_opts, n, true);
  for (const char* n : kRewriteFlags) Register(&app, &main_opts, n, false);
  CLI::Option* verify = app.add_option("--verify")->expected(0, 1)->type_name("on|off");

  CLI::App* cleanup = app.add_subcommand("cleanup", "drop what an interrupted run left behind");
  cleanup->allow_extras()->fallthrough();
  CLI::Option* cleanup_all = cleanup->add_flag("--all");

  CLI::App* backfill = app.add_subcommand("backfill", "batched online UPDATE or DELETE");
  backfill->allow_extras();
  backfill->set_help_flag("-h,--help");
  CLI::Option* backfill_version = backfill->add_flag("--version");
  for (const char* n : kCommonValues) Register(backfill, &backfill_opts, n, true);
  for (const char* n : kCommonFlags) Register(backfill, &backfill_opts, n, false);
  for (const char* n : kBackfillValues) Register(backfill, &backfill_opts, n, true);
  for (const char* n : kBackfillFlags) Register(backfill, &backfill_opts, n, false);

  // `ctl` and `verify` hand every word after them to their own parser.
  CLI::App* ctl = app.add_subcommand("ctl", "talk to a running migration or backfill");
  CLI::App* verify_cmd = app.add_subcommand("verify", "verify a running migration now");
  for (CLI::App* sub : {ctl, verify_cmd}) {
    sub->set_help_flag();
    sub->prefix_command();
  }
  app.require_subcommand(0, 1);

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
    if (name == "--all" || name == "--version" || name == "--help")
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

  if (ctl->parsed() || verify_cmd->parsed()) {
    o.command = ctl->parsed() ? Command::kCtl : Command::kVerify;
    o.ctl_args = (ctl->parsed() ? ctl : verify_cmd)->remaining();
    return o;
  }
  const bool is_backfill = backfill->parsed();
  if (version->count() > 0 || backfill_version->count() > 0) {
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
  for (const Registered& r : is_backfill ? backfill_opts : main_opts) {
    if (r.option->count() == 0) continue;
    std::string value = r.takes_value ? r.option->results().back() : std::string();
    RETURN_IF_ERROR(ApplyOption(o, r.name, value, r.takes_value));
  }
  if (!is_backfill && verify->count() > 0) {
    std::string value = verify->results().empty() ? std::string() : verify->results().back();
    RETURN_IF_ERROR(ApplyOption(o, "--verify", value, !value.empty()));
  }
  if (cleanup_all->count() > 0) o.cleanup_all = true;
  const bool table_given = is_backfill ? backfill->count("--table") > 0 : app.count("--table") > 0;
  const bool where_given = backfill->count("--where") > 0;
  if (!table_given && !(o.command == Command::kCleanup && o.cleanup_all))
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
  RETURN_IF_ERROR(engine::ValidateControlSettings(c.control));
  return o;
}

absl::Status ApplyTestEnvironment(engine::TestHooks* hooks) {
  if (const char* dir = std::getenv("SHADOWCOPY_TEST_PAUSE_DIR")) hooks->pause_dir = dir;
  if (const char* at = std::getenv("SHADOWCOPY_TEST_PAUSE_AT")) {
    std::string s(at);
    auto colon = s.find(':');
    if (colon == std::string::npos)
      return absl::InvalidArgumentError("SHADOWCOPY_TEST_PAUSE_AT is point:batch");
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
    if (s == "ordering")
      hooks->disable_ordering = true;
    else if (s == "visibility")
      hooks->disable_visibility = true;
    else if (!s.empty())
      return absl::InvalidArgumentError("SHADOWCOPY_TEST_UNSAFE is ordering or visibility");
  }
  return absl::OkStatus();
}

}  // namespace shadowcopy::cli
