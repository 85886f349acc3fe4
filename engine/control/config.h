// The run's configuration: validated once by the CLI, immutable after
// the run starts. Defaults are documented beside each field.
//
// Thread-safety: immutable value.
#ifndef SHADOWCOPY_ENGINE_CONTROL_CONFIG_H_
#define SHADOWCOPY_ENGINE_CONTROL_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/control/control.h"
#include "engine/control/hooks.h"

namespace shadowcopy::engine {

struct TestHooks {
  // Pause points for forcing interleavings in tests (never set by users):
  // "before-batch" or "before-commit", at copy batch number `pause_batch`.
  std::string pause_dir;
  std::string pause_point;
  int pause_batch = 0;
  bool disable_ordering = false;    // replay while a copy batch is open
  bool disable_visibility = false;  // skip the visibility check
  // Corrupt one shadow row at each verification's consistency point:
  // "once" (the first only) or "always".
  std::string corrupt;
  // Build the deferred key index and start replaying during the copy once
  // this many batches are copied, as if the backlog had grown (0: never).
  int early_key_after_batch = 0;
  // Split replay groups over the apply connections from this many keyed
  // rows on (0: the applier's default).
  int parallel_apply_min_rows = 0;
};

// `shadowcopy backfill`: what each batch does.
struct BackfillSpec {
  std::string set;           // --set: the UPDATE's SET list
  bool delete_rows = false;  // --delete
  std::string where;         // --where: required ("true" for every row)
  int lock_retries = 30;     // attempts of a batch that meets a lock timeout
};

struct Config {
  std::string dsn;                 // libpq conninfo/URI; empty: PG* variables
  std::string schema = "public";
  std::string table;
  std::string alter;               // what follows ALTER TABLE <name>; empty: rebuild
  bool execute = false;            // false: dry run, nothing changes
  int64_t chunk_size = 10000;      // rows per copy batch (mirrors control.chunk_size)
  ControlSettings control;         // live tunables' initial values, cutover hold
  std::string socket_path;         // control socket; "" = the default (cli/socket_path.h)
  bool no_socket = false;          // --socket none
  std::string replica_dsn;         // --replica-dsn: measure lag on the replica itself
  std::string throttle_query;      // --throttle-query: a number > 0 throttles
  std::string throttle_flag_file;  // --throttle-flag-file: exists -> throttled
  bool drop_old_table = false;     // drop _<table>_old after a successful cutover
  bool resume = false;             // continue the unfinished run recorded for the table
  bool keep_on_error = false;      // on failure keep slot, publication and shadow for --resume
  int64_t max_retained_wal = int64_t{8} << 30;  // bytes of WAL the slot may retain
  std::chrono::milliseconds lock_timeout{2000};          // DDL while preparing
  std::chrono::milliseconds cutover_lock_timeout{1000};  // the cutover's LOCK TABLE
  int cutover_retries = 30;
  std::chrono::milliseconds cutover_drain_timeout{3000}; // fence drain under the lock
  std::chrono::milliseconds progress_interval{2000};
  int copy_workers = 1;            // copy batches run side by side, each on its connection
  // Replay during the copy into a shadow that has its key index from the
  // start. Default: the key index is built after the copy and replay waits
  // for it, unless the backlog grows (then both start at once).
  bool replay_during_copy = false;
  bool copy_relay = false;  // --copy-relay: copy batches by COPY relay (copier.h)
  // --parallel-index-builds: index builds take the server's parallel
  // maintenance workers even while other sessions of the database are at
  // work (by default only when none is).
  bool parallel_index_builds = false;
  // Connections a large replay group is split over by key (1: one session).
  int apply_workers = 1;
  bool verify = true;              // compare shadow and original before the cutover
  int verify_workers = 2;          // connections hashing ranges in parallel
  int64_t verify_range_rows = 100000;  // rows per verified key range (the largest copy batch: its ends cut the ranges)
  std::chrono::milliseconds verify_max_snapshot_age{600000};  // then a fresh consistency point
  int verify_max_mismatches = 3;   // the same range differing this often stops the run
  bool verify_after = false;       // after the cutover, compare the new table with _<table>_old
  // --revert-window: after the swap, a reverse stream keeps the old table
  // current for this long, and `revert` swaps back losslessly (0: off).
  std::chrono::milliseconds revert_window{0};
  std::vector<std::string> revert_accept;  // --revert-accept: risk kinds accepted (revertibility.h)
  // During the window: a query that must return true / a command that must
  // exit 0, every health_interval; health_max_failures in a row revert.
  std::string health_check_sql;
  std::string health_check_cmd;
  std::chrono::milliseconds health_interval{10000};
  int health_max_failures = 1;
  bool progress_json = false;
  bool progress_tty = false;       // a terminal's self-updating line replaces the text progress lines
  BackfillSpec backfill;           // `shadowcopy backfill` only
  HookSettings hooks;              // --hooks-path, --hooks-timeout, --hooks-status-interval
  TestHooks test;
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_CONTROL_CONFIG_H_
