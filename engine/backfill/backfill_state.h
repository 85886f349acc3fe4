// BackfillState: a backfill's record in the state schema (`shadowcopy`,
// table `backfills`, next to the rewrite's `runs`), what makes --resume
// possible and what refuses a second, unrelated backfill of a table whose
// last one did not finish.
//
// Durability rule: the cursor (the upper key of the last committed batch),
// the counters and the done flag are written by Checkpoint() inside each
// batch's own transaction, so the record says exactly which key ranges are
// committed: a resumed run starts after the cursor and never redoes a batch.
// The key span's end is fixed when the record is created.
//
// Thread-safety: methods use the connection passed in; the store itself is
// immutable after construction.
#ifndef SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_STATE_H_
#define SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_STATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"

namespace shadowcopy::engine {

inline constexpr int kBackfillFormatVersion = 1;

struct BackfillRecord {
  std::string run_id;
  int format_version = kBackfillFormatVersion;
  std::string schema, table;
  uint32_t table_oid = 0;
  std::string operation;  // "update" or "delete"
  std::string set_text;   // "" for delete
  std::string where_text;
  std::vector<std::string> key_columns;
  std::vector<std::string> span_first;  // the smallest key when the run began
  std::vector<std::string> span_last;   // the largest: the span's fixed end
  std::optional<std::vector<std::string>> cursor;  // last committed batch's upper key
  bool done = false;
  int64_t rows_changed = 0;
  int64_t keys_covered = 0;
  int64_t batches = 0;
  std::string last_error;  // why the last attempt stopped ("" none)
  std::string started_at;
};

class BackfillState {
 public:
  explicit BackfillState(std::string run_id) : run_id_(std::move(run_id)) {}

  // Creates the schema and the table when missing, and adds any column an
  // older version's table lacks (idempotent).
  static absl::Status EnsureSchema(PgConn* conn);

  // The unfinished backfill of schema.table, if any (none when the state
  // table does not exist).
  static absl::StatusOr<std::optional<BackfillRecord>> FindUnfinished(PgConn* conn, const std::string& schema,
                                                                       const std::string& table);

  // Records a new run (its run_id is the store's).
  absl::Status Create(PgConn* conn, const BackfillRecord& record);

  // To run inside a batch's transaction: the new cursor (unchanged when
  // nullopt), done, and the batch's counts added.
  std::pair<std::string, PgParams> Checkpoint(const std::optional<std::vector<std::string>>& cursor, bool done,
                                              int64_t rows_changed, int64_t keys_covered) const;

  // Why the run stopped (the record stays unfinished, for --resume).
  absl::Status RecordStop(PgConn* conn, const std::string& reason) const;
  // Marks the run finished.
  absl::Status Finish(PgConn* conn, const std::string& outcome) const;

  const std::string& run_id() const { return run_id_; }

 private:
  std::string run_id_;
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_STATE_H_
