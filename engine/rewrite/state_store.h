// StateStore: the run's record in the user's database (schema `shadowcopy`,
// table `runs`), what makes --resume possible.
//
// Durability rule: the copy's high-water key and the replay's applied LSN are
// written in the same transaction as the work they describe (the copy batch,
// the replay group), through CopyCheckpointSql()/ApplyCheckpointSql(), so a
// restart never skips a range or a change. The slot's own confirmed_flush is
// not durable on PG15 (a restart can re-deliver acknowledged transactions),
// so replay skips commits at or below the recorded applied LSN.
//
// Thread-safety: methods use the connection passed in; the store itself is
// immutable after construction.
#ifndef SHADOWCOPY_ENGINE_REWRITE_STATE_STORE_H_
#define SHADOWCOPY_ENGINE_REWRITE_STATE_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/lsn.h"
#include "common/pg.h"
#include "engine/rewrite/schema_fingerprint.h"
#include "engine/rewrite/shadow_builder.h"
#include "engine/table/state_tables.h"

namespace shadowcopy::engine {

// 2: the schema fingerprint the shadow was built from (schema_fingerprint).
inline constexpr int kStateFormatVersion = 2;

struct RunRecord {
  std::string run_id;
  int format_version = 0;
  std::string schema, table;
  uint32_t table_oid = 0;
  std::string alter;
  std::string phase;
  std::optional<std::vector<std::string>> copy_high_water;  // last copied key
  bool copy_done = false;
  Lsn applied_lsn = 0;
  // What the shadow's creation decided and the catalog cannot tell again.
  std::vector<std::string> deferred_indexes;
  std::vector<std::pair<std::string, std::string>> index_names;
  std::vector<ShadowPlan::StatisticsName> statistics_names;
  std::string key_index;
  std::vector<std::string> after_swap;  // recorded by the swap's own transaction
  SchemaFingerprint schema_fingerprint;  // the original's definition the shadow was built from
  std::string old_suffix;               // of the old table's name (ObjectNames::old_suffix)
};

class StateStore {
 public:
  explicit StateStore(std::string run_id) : run_id_(std::move(run_id)) {}

  // Creates the schema and table when missing (idempotent).
  static absl::Status EnsureSchema(PgConn* conn);

  // Records a new run right after the shadow was created, with the
  // fingerprint of the original's definition it was created from.
  absl::Status Create(PgConn* conn, const ShadowPlan& plan, const std::string& alter,
                      const SchemaFingerprint& fingerprint);

  // The unfinished run on schema.table, if any.
  static absl::StatusOr<std::optional<RunRecord>> FindUnfinished(PgConn* conn, const std::string& schema,
                                                                  const std::string& table);

  absl::Status SetPhase(PgConn* conn, const std::string& phase);
  absl::Status Finish(PgConn* conn, const std::string& outcome);
  // Deletes the run's row (cleanup of an abandoned run).
  static absl::Status Delete(PgConn* conn, const std::string& run_id);

  // Statements (with their parameters) to run inside the work's transaction.
  std::pair<std::string, PgParams> CopyCheckpoint(const std::optional<std::vector<std::string>>& high_water,
                                                  bool done) const;
  std::pair<std::string, PgParams> ApplyCheckpoint(Lsn end_lsn) const;
  // Run inside the swap's transaction: what is left to do once it committed
  // (re-owning sequences, validating foreign keys), for a resume after a crash.
  std::pair<std::string, PgParams> AfterSwap(const std::vector<std::string>& statements) const;
  // Run in the transaction of one of those statements: removes it from the
  // record, where it must be the first one left (else it updates no row and
  // returns none: someone else ran it).
  std::pair<std::string, PgParams> AfterSwapStatementDone(const std::string& statement) const;

  const std::string& run_id() const { return run_id_; }

 private:
  std::string run_id_;
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_STATE_STORE_H_
