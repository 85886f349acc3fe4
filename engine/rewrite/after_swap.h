// The work left once a run's swap has committed: drop the replication slot
// and the publication (named after the *original* table's oid, which is now
// `_<table>_old`'s), run the statements the swap recorded for after its
// commit (VALIDATE the foreign keys re-created NOT VALID, re-own serial
// sequences, rename identity sequences), and mark the run finished.
//
// One place for that work, used by the run itself right after the commit,
// by `--resume` and by `shadowcopy cleanup` after a kill -9.
//
// Exactly once: each statement runs in its own transaction together with
// the removal of that statement from the run's record (shadowcopy.runs
// after_swap), so a kill at any point leaves the record naming exactly what
// is left (a rename run twice would rename the wrong sequence), and two
// finishers racing for the same statement serialize on the record's row.
//
// Thread-safety: functions use the connection passed in, from one thread.
#ifndef SHADOWCOPY_ENGINE_REWRITE_AFTER_SWAP_H_
#define SHADOWCOPY_ENGINE_REWRITE_AFTER_SWAP_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"

namespace shadowcopy::engine {

// An unfinished run whose swap committed, and what it left.
struct SwappedRun {
  std::string run_id;
  std::string schema, table;      // the table's name: the new table now
  uint32_t original_oid = 0;      // the original's oid: `_<table>_old` now
  std::string slot, publication;  // shadowcopy_<original_oid>
  bool slot_exists = false;
  bool slot_active = false;  // a running process streams from it
  bool publication_exists = false;
  std::vector<std::string> statements;  // after-swap statements not run yet, in order
};

// The unfinished run recorded for the table with `original_oid` whose swap
// committed (phase 'swapped'), if any.
// REQUIRES: no transaction open on `conn`.
absl::StatusOr<std::optional<SwappedRun>> FindSwappedRun(PgConn* conn, uint32_t original_oid);

// The unfinished run on schema.table whose swap committed, if any: found by
// its record, since the table (oid `current_oid`) is the new one.
// REQUIRES: no transaction open on `conn`.
absl::StatusOr<std::optional<SwappedRun>> FindSwappedRunOn(PgConn* conn, const std::string& schema,
                                                           const std::string& table, uint32_t current_oid);

// What finishing `run` would do, for a dry run of --resume (pure).
std::string FormatFinishPlan(const SwappedRun& run);

// Runs `*statements` in order, each with `lock_timeout` and retries on lock
// timeouts, each in one transaction with its removal from run `run_id`'s
// record; erases each from `*statements` once committed (a statement already
// removed from the record by someone else is skipped). On failure the
// statements left stay in `*statements` and in the record.
// REQUIRES: no transaction open on `conn`.
absl::Status RunAfterSwapStatements(PgConn* conn, const std::string& run_id,
                                    std::vector<std::string>* statements,
                                    std::chrono::milliseconds lock_timeout,
                                    const std::atomic<bool>* stop);

struct FinishOptions {
  std::chrono::milliseconds lock_timeout{1000};
  std::string outcome;  // recorded in the run's record once all is done
  const std::atomic<bool>* stop = nullptr;
};

// Finishes `run`: drops its slot (FailedPrecondition while a process uses it)
// and publication, runs the statements left, and marks the run finished with
// options.outcome, logging each step. On failure the error says what is left
// and which command finishes it.
// REQUIRES: no transaction open on `conn`.
absl::Status FinishSwappedRun(PgConn* conn, SwappedRun run, const FinishOptions& options);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_AFTER_SWAP_H_
