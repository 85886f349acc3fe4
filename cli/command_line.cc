#include "cli/command_line.h"

namespace shadowcopy::cli {
namespace {

constexpr const char* kThrottling =
    "Throttling (the work waits; an unreadable signal counts as over its limit)";
constexpr const char* kVerification =
    "Verification (before the cutover, shadow vs. original, range by range)";
constexpr const char* kControl = "Control";
constexpr const char* kOptions = "Options";

enum Where { kBoth, kRewrite, kBackfill };

struct Spec {
  const char* name;
  const char* type;  // nullptr: a flag
  Where where;
  const char* group;
  const char* help;
  const char* backfill_help = nullptr;  // kBoth: the backfill's own text (nullptr: hidden there)
};

// Order is the order of --help.
const Spec kSpecs[] = {
    {"--table", "T", kBoth, kOptions, "table to migrate (required)", "table to change (required)"},
    {"--schema", "S", kBoth, kOptions, "its schema (default: public)",
     "its schema (default: public)"},
    {"--alter", "\"...\"", kRewrite, kOptions,
     "what follows ALTER TABLE <name>, e.g. \"ALTER COLUMN id TYPE bigint\";\nseveral "
     "comma-separated "
     "subcommands, one statement. Without it the\ntable is rebuilt as it is (removes bloat)."},
    {"--set", "\"EXPR\"", kBackfill, kOptions,
     "the SET list, e.g. \"display_name = username, updated = now()\""},
    {"--delete", nullptr, kBackfill, kOptions, "delete the matching rows instead"},
    {"--where", "\"COND\"", kBackfill, kOptions,
     "which rows (required; --where true means every row in the span)"},
    {"--dsn", "DSN", kBoth, kOptions,
     "libpq conninfo or URI; default: PG* environment variables and\n.pgpass. Never put a password "
     "on the "
     "command line.",
     "libpq conninfo or URI; default: PG* environment variables and .pgpass"},
    {"--execute", nullptr, kBoth, kOptions, "really migrate (default: dry run)",
     "really change the rows (default: dry run)"},
    {"--resume", nullptr, kBoth, kOptions,
     "continue the unfinished run recorded for the table (after kill -9,\na lost machine or "
     "--keep-on-error); "
     "pass the same --alter",
     "continue the unfinished backfill recorded for the table, after its\ncheckpoint (same "
     "--set/--delete and "
     "--where); a new backfill of a\ntable with an unfinished one is refused"},
    {"--chunk-size", "N", kRewrite, kOptions,
     "fixed rows per copy batch (default: adaptive, see --target-chunk-time)"},
    {"--target-chunk-time", "D", kRewrite, kOptions,
     "adaptive batch size aiming at this batch duration (default 500ms)"},
    {"--min-chunk-size", "N", kRewrite, kOptions, "lower bound of the adaptive size (default 100)"},
    {"--max-chunk-size", "N", kRewrite, kOptions,
     "upper bound of the adaptive size (default 100000)"},
    {"--batch-size", "N", kBackfill, kOptions,
     "fixed keys per batch (default: adaptive, see --target-batch-time)"},
    {"--target-batch-time", "D", kBackfill, kOptions,
     "adaptive batch size aiming at this batch duration (default 200ms)"},
    {"--min-batch-size", "N", kBackfill, kOptions, "lower bound of the adaptive size (default 10)"},
    {"--max-batch-size", "N", kBackfill, kOptions,
     "upper bound of the adaptive size (default 50000)"},
    {"--copy-workers", "N", kRewrite, kOptions,
     "copy batches run side by side on N connections (default 1)"},
    {"--nice-ratio", "R", kBoth, kOptions,
     "after each batch rest R times its duration, replaying meanwhile\n(default 0; 1 halves the "
     "copy's share of "
     "the server)",
     "after each batch rest R times its duration (default 0)"},
    {"--apply-workers", "N", kRewrite, kOptions,
     "a large replay group is split by key over N connections\n(default 1; never while the new "
     "table has "
     "another unique index)"},
    {"--copy-relay", nullptr, kRewrite, kOptions,
     "copy batches with COPY TO STDOUT into COPY FROM STDIN (binary)\nwhere every column's type allows: "
     "less WAL and half the\nwalsender's CPU, a slower copy on a busy machine (default off)"},
    {"--parallel-index-builds", nullptr, kRewrite, kOptions,
     "build the new table's indexes with the server's parallel\nmaintenance workers even while other "
     "sessions of the database\nare at work (default: only when none is; one process otherwise,\nso "
     "the application keeps the other cores)"},
    {"--replay-during-copy", nullptr, kRewrite, kOptions,
     "give the new table its key index before the copy and replay\nconcurrent writes during it. "
     "Default: the key "
     "index is built\nafter the copy (faster) and replay waits for it, unless the\nbacklog grows "
     "or the copy is "
     "throttled: then both start at once."},
    {"--lock-timeout", "D", kBoth, kOptions, "lock_timeout of the DDL while preparing (default 2s)",
     "lock_timeout of each batch (default 500ms): a batch that cannot\nlock its rows in time rolls "
     "back and is "
     "retried with half the keys\nafter a jittered backoff; the application never waits behind it "
     "longer"},
    {"--lock-retries", "N", kBackfill, kOptions,
     "attempts per batch before giving up (default 30)"},
    {"--max-replica-lag", "D", kBoth, kThrottling,
     "physical standbys' replay lag (default 10s; 0 off)",
     "physical standbys' replay lag (default 10s; 0 off)"},
    {"--replica-dsn", "DSN", kBoth, kThrottling, "also measure the lag on this replica itself",
     "also measure the lag on this replica itself"},
    {"--max-lock-waiters", "N", kBoth, kThrottling,
     "application sessions waiting on locks our sessions hold (default 0; -1 off)",
     "application sessions waiting on locks our session holds (default 0; -1 off)"},
    {"--max-active", "N", kBoth, kThrottling, "active backends (default 0 = off)",
     "active backends (default 0 = off)"},
    {"--max-replay-lag", "SIZE", kRewrite, kThrottling,
     "WAL our replay has not applied yet (default 1GB)"},
    {"--max-replay-lag-bytes", "SIZE", kRewrite, "", ""},
    {"--throttle-query", "SQL", kBoth, kThrottling, "a query returning a number; > 0 throttles",
     "a query returning a number; > 0 throttles"},
    {"--throttle-flag-file", "F", kBoth, kThrottling, "throttled while F exists",
     "throttled while F exists"},
    {"--health-signal", "on|off", kBoth, kThrottling,
     "the application's health: a canary's latency against its baseline\ntaken at the start "
     "(default on)",
     "the application's health: a canary's latency against its baseline\ntaken at the start "
     "(default on)"},
    {"--health-latency-factor", "X", kBoth, kThrottling,
     "unhealthy while the canary's p95 > X times its baseline p95 (default 3)",
     "unhealthy while the canary's p95 > X times its baseline p95 (default 3)"},
    {"--health-latency-floor", "D", kBoth, kThrottling,
     "... and > its baseline p95 + D (default 20ms)", "... and > its baseline p95 + D (default 20ms)"},
    {"--critical-replica-lag", "D", kBoth, kThrottling,
     "abort the migration (cleanly) beyond this replica lag",
     "stop the backfill beyond this replica lag"},
    {"--critical-active", "N", kBoth, kThrottling,
     "abort the migration (cleanly) beyond this many active backends",
     "stop the backfill beyond this many active backends"},
    {"--critical-replay-lag", "SIZE", kRewrite, kThrottling,
     "abort the migration (cleanly) beyond this replay lag"},
    {"--critical-replay-lag-bytes", "SIZE", kRewrite, "", ""},
    {"--verify-workers", "N", kRewrite, kVerification,
     "connections hashing ranges in parallel (default 2)"},
    {"--verify-range-rows", "N", kRewrite, kVerification, "rows per key range (default 100000)"},
    {"--verify-max-snapshot-age", "D", kRewrite, kVerification,
     "beyond it, a fresh consistency point for the ranges left (default 10m)"},
    {"--verify-after", nullptr, kBoth, kVerification,
     "after the cutover, compare the new table with the old table as they\nwere at the swap (report "
     "only)"},
    {"--revert-window", "D", kRewrite, kOptions,
     "after the cutover, keep the old table current for D (a reverse\nstream) so that `revert` "
     "swaps back without losing a write"},
    {"--revert-accept", "RISKS", kRewrite, kOptions,
     "accept the named risks of the way back (see the dry run's\n`revertible:` line; comma-separated, or all)"},
    {"--health-check", "\"SQL\"", kRewrite, kOptions,
     "during the revert window: a query that must return true; failing\nreverts the run (and it exits non-zero)"},
    {"--health-check-cmd", "CMD", kRewrite, kOptions, "... or a command that must exit 0"},
    {"--health-interval", "D", kRewrite, kOptions, "how often the health checks run (default 10s)"},
    {"--health-max-failures", "N", kRewrite, kOptions, "failures in a row that revert (default 1)"},
    {"--socket", "PATH", kBoth, kControl,
     "control socket (default: private, per table; see README; none: off)",
     "control socket (default: private, per table; see README; none: off)"},
    {"--postpone-cutover", nullptr, kRewrite, kControl,
     "keep replaying after the copy until `ctl cutover`"},
    {"--postpone-cutover-flag-file", "F", kRewrite, kControl, "... or until F is removed"},
    {"--progress", "text|json", kBoth, kControl,
     "progress lines as text on stderr (default) or JSON on stdout",
     "progress lines as text on stderr (default) or JSON on stdout"},
    {"--drop-old-table", nullptr, kRewrite, kControl,
     "drop the run's old table (_<table>_old_<time>) after a successful cutover\n(default: keep it)"},
    {"--keep-on-error", nullptr, kRewrite, kControl,
     "on failure keep the slot, publication and shadow for --resume\n(the slot retains WAL until "
     "resumed or "
     "cleaned up)"},
    {"--max-retained-wal", "SIZE", kRewrite, kControl,
     "stop the run (dropping the slot) when the slot retains more WAL than\nthis; near it the copy "
     "waits for "
     "replay (default 8GB)"},
    {"--cutover-lock-timeout", "D", kRewrite, kControl,
     "how long writers may queue behind the cutover lock (default 1s)"},
    {"--cutover-retries", "N", kRewrite, kControl,
     "cutover attempts before giving up (default 30)"},
    {"--cutover-drain-timeout", "D", kRewrite, kControl,
     "time allowed under the lock to replay the last changes (default 3s)"},
    {"--metrics-listen", "ADDR:PORT", kBoth, kControl,
     "serve Prometheus metrics at http://ADDR:PORT/metrics (PORT alone:\nloopback; port 0: any free one, logged)",
     "serve Prometheus metrics at http://ADDR:PORT/metrics (PORT alone:\nloopback; port 0: any free one, logged)"},
    {"--progress-interval", "D", kBoth, kControl, "progress line interval (default 2s)",
     "progress line interval (default 2s)"},
    {"--hooks-path", "DIR", kBoth, kControl,
     "run DIR/shadowcopy-on-<event> at each phase (see README: Hooks)",
     "run DIR/shadowcopy-on-<event> at each phase (see README: Hooks)"},
    {"--hooks-timeout", "D", kBoth, kControl, "a hook is killed after this (default 30s)",
     "a hook is killed after this (default 30s)"},
    {"--hooks-status-interval", "D", kBoth, kControl, "the status hook's interval (default 60s)",
     "the status hook's interval (default 60s)"},
    {"--verbose", nullptr, kBoth, kControl, "debug logging", "debug logging"},
};

constexpr const char* kMainFooter = R"(
usage:
  shadowcopy --table T [--schema S] [--alter "SUBCOMMANDS"] [--dsn DSN] [--execute] [options]
  shadowcopy cleanup --table T [--schema S] [--dsn DSN] [--execute]
  shadowcopy cleanup --all [--dsn DSN] [--execute]
  shadowcopy cleanup --old-tables [--table T [--schema S]] [--dsn DSN] [--execute]
                             list (drop) the originals finished runs kept
  shadowcopy backfill --table T (--set "EXPR" | --delete) --where "COND" [--execute] [options]
                             batched online UPDATE or DELETE (see shadowcopy backfill --help)
  shadowcopy verify --table T [--schema S] [--socket PATH]   verify a running migration now
  shadowcopy revert --table T [--schema S] [--socket PATH] [--execute]
                             swap the old table back during the run's --revert-window
  shadowcopy plan [--dsn DSN] [--format text|json] [--fail-on LEVEL] [--rehearsal local|dsn|none] FILE...|-
                             what each migration statement locks and rewrites (see plan --help)
  shadowcopy migrate [status|validate|baseline|down|ci] --dir D [--execute]   versioned migrations
  shadowcopy ctl --socket PATH status|status --json|pause|resume|set NAME=VALUE|get NAME|cutover|verify|abort|help

Without --execute nothing changes: the table is inspected, the ALTER is validated on an
empty copy in a rolled-back transaction, and the plan is printed.
--verify is on by default; a range that differs is re-copied and checked again, the cutover
happens only after a clean pass (--verify=off skips it).

Durations: 500ms, 2s, 1.5s, 1m. Exit status: 0 success, 1 error, 2 usage, 130 interrupted.
Objects created: table _<table>_shadow, publication and replication slot shadowcopy_<oid>;
all removed on failure or Ctrl-C. After a kill -9, run `shadowcopy cleanup --table T --execute`.
The original is kept as _<table>_old_<UTC yyyymmddhhmmss of the run's start> (--drop-old-table
drops it at the end); `shadowcopy cleanup --old-tables` lists those of finished runs.
)";

constexpr const char* kBackfillDescription =
    R"(shadowcopy backfill: throttled online UPDATE or DELETE in short keyed batches

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
)";

constexpr const char* kBackfillFooter = R"(
  shadowcopy ctl --socket PATH status|status --json|pause|resume|set NAME=VALUE|get NAME|abort|help
  (tunables: batch-size, target-batch-time, min-batch-size, max-batch-size, max-replica-lag,
  max-lock-waiters, max-active, nice-ratio, health-signal, health-latency-factor,
  health-latency-floor)

A failing batch (e.g. a constraint violation) stops the run with its key range and the error;
committed batches stay committed. SIGINT, SIGTERM and `ctl abort` roll back the batch in flight
and stop. The run's record (shadowcopy.backfills) keeps the checkpoint: --resume continues, or
`shadowcopy cleanup --table T --execute` discards it. Exit status: 0 success, 1 error, 2 usage,
130 interrupted.
)";

void Add(CLI::App* app, std::vector<CommandLine::Registered>* out, const Spec& s,
         const char* help) {
  const bool takes_value = s.type != nullptr;
  const std::string text = help == nullptr ? "" : help;
  CLI::Option* opt = takes_value ? app->add_option(s.name, text) : app->add_flag(s.name, text);
  if (takes_value) opt->type_name(s.type)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  opt->group(text.empty() ? "" : s.group);  // "" hides it
  out->push_back({opt, s.name, takes_value});
}

}  // namespace

std::unique_ptr<CommandLine> BuildCommandLine() {
  auto cl = std::make_unique<CommandLine>();
  CLI::App& app = cl->app;
  app.allow_extras();
  app.set_help_flag("-h,--help", "print this help and exit");
  app.footer(kMainFooter);
  app.get_formatter()->column_width(32);
  cl->version = app.add_flag("--version")->description("print the version and exit");
  cl->cleanup =
      app.add_subcommand("cleanup", "drop what a killed run left behind (--table T or --all)");
  cl->cleanup->allow_extras()->fallthrough();
  cl->cleanup_all = cl->cleanup->add_flag("--all")->description("every table's leftovers");
  cl->cleanup_old_tables = cl->cleanup->add_flag("--old-tables")->description(
      "the old tables finished runs kept (of --table T, or of every table)");
  cl->backfill =
      app.add_subcommand("backfill", "batched online UPDATE or DELETE (see backfill --help)");
  cl->backfill->allow_extras();
  cl->backfill->footer(kBackfillFooter);
  cl->backfill->set_help_flag("-h,--help", "print this help and exit");
  cl->backfill_version = cl->backfill->add_flag("--version");
  cl->backfill_version->group("");
  for (const Spec& s : kSpecs) {
    if (s.name == std::string("--verify-workers")) {
      cl->verify_flag = app.add_option("--verify", "on by default (see below)")->expected(0, 1);
      cl->verify_flag->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
      cl->verify_flag->type_name("[=on|off]")->group(kVerification);
    }
    if (s.where != kBackfill) Add(&app, &cl->rewrite_options, s, s.help);
    if (s.where == kBackfill) Add(cl->backfill, &cl->backfill_options, s, s.help);
    if (s.where == kBoth) Add(cl->backfill, &cl->backfill_options, s, s.backfill_help);
  }
  // `ctl` and `verify` hand every word after them to their own parser.
  cl->ctl = app.add_subcommand(
      "ctl", "control a running migration or backfill (ctl help for the commands)");
  cl->verify = app.add_subcommand("verify", "verify a running migration now");
  cl->plan = app.add_subcommand(
      "plan", "what each migration statement locks and rewrites, and its safe path (plan --help)");
  cl->migrations = app.add_subcommand(
      "migrate", "versioned migrations from a directory (migrate --help)");
  for (CLI::App* sub : {cl->ctl, cl->verify, cl->plan, cl->migrations}) {
    sub->set_help_flag();
    sub->prefix_command();
  }
  app.require_subcommand(0, 1);
  return cl;
}

std::string BackfillHelp(CommandLine& cl) {
  cl.backfill->description(kBackfillDescription);
  return cl.backfill->help("shadowcopy");
}

}  // namespace shadowcopy::cli
