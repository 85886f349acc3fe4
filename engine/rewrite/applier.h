// Applier: makes the shadow converge to the decoded changes. Each call applies
// a group of whole source transactions, in commit order, as one transaction on
// the shadow, collapsed per key (ChangePlan) and sent as multi-row statements,
// pipelined (libpq pipeline mode): BEGIN and the keyed statements go out
// without waiting for each other's results, the next statement is built while
// the server runs the previous one, and one Sync collects them. Steps that
// need a result (partial updates, re-reads) run synchronously, in order.
//
// The caller acknowledges the slot only after Apply() returns OK: the changes
// are then committed into the shadow (DESIGN.md §3, acknowledging the slot).
//
// A unique-constraint conflict on a collapsed group can be an artefact of
// collapsing (two rows swapping a unique value): the group is replayed event
// by event in source order; a conflict then is real and stops the run.
//
// A large group made only of keyed upserts and deletes (no re-read, no
// TRUNCATE) is split by a hash of the key over the extra connections as well:
// every key's final row is written by exactly one of them, all of them run
// their statements side by side, the extra ones commit first and the main one
// commits last with the checkpoint. Never while the shadow has a unique index
// besides the key's (two sessions inserting one value would wait on each
// other). A failure before any commit rolls everything back; one between the
// commits leaves part of the group applied and unacknowledged, which keyed
// upserts and deletes tolerate (applied again from the durable position).
//
// Thread-safety: used by the rewrite thread only (it runs the extra
// connections on threads of its own for the length of a group).
#ifndef SHADOWCOPY_ENGINE_REWRITE_APPLIER_H_
#define SHADOWCOPY_ENGINE_REWRITE_APPLIER_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cdc/change_stream.h"
#include "common/pg.h"
#include "common/pg_pipeline.h"
#include "engine/rewrite/change_plan.h"
#include "engine/table/snapshot.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine {

struct ApplyStats {
  uint64_t transactions = 0;
  uint64_t changes = 0;
  uint64_t rereads = 0;
  uint64_t event_by_event_retries = 0;
  uint64_t parallel_groups = 0;  // groups split over several connections
  uint64_t parallel_fallbacks = 0;  // split groups that failed and went again on one connection
  PlanStats plan;
};

class Applier {
 public:
  // Pointers are borrowed.
  Applier(PgConn* conn, const TableModel* model, VisibilityTracker* visibility,
          const std::atomic<bool>* stop);

  // Applies `txns` and commits. On success every xid is handed to the
  // VisibilityTracker and every 'shadowcopy' message content is appended to
  // *messages (fences). On error nothing of the group is applied.
  absl::Status Apply(const std::vector<cdc::Transaction>& txns, std::vector<std::string>* messages);

  // Runs inside each group's transaction, before COMMIT, with the group's
  // last end LSN: the applied position is durable exactly when the changes are.
  using Checkpoint = std::function<absl::Status(PgConn*, Lsn)>;

  // Where the copy stands, asked before each group: changes to keys above the
  // copy's high-water mark need not be written — the copy will read those
  // rows later, under a snapshot that sees these changes (the visibility
  // rule), and the range then stays empty in the shadow so the copy can use a
  // plain INSERT. `active` false: the copy is done, write everything.
  struct CopyHorizon {
    bool active = false;
    std::optional<std::vector<std::string>> high_water;  // nullopt: nothing copied yet
  };
  using HorizonFn = std::function<CopyHorizon()>;
  void set_horizon(HorizonFn f) { horizon_ = std::move(f); }
  void set_checkpoint(Checkpoint c) { checkpoint_ = std::move(c); }
  void set_extra_connections(std::vector<PgConn*> conns) { extra_ = std::move(conns); }
  // Whether a group may be split over the extra connections now (false while
  // the shadow has another unique index).
  void set_parallel_allowed(bool allowed) { parallel_allowed_ = allowed; }
  void set_parallel_min_rows(size_t rows) { parallel_min_rows_ = rows; }

  const ApplyStats& stats() const { return stats_; }

 private:
  absl::Status ApplyOnce(const std::vector<const cdc::Change*>& changes,
                         const std::vector<uint32_t>& xids, bool collapse, Lsn end_lsn);
  absl::Status BeginForRereads(const std::vector<uint32_t>& xids);
  absl::Status ApplyParallel(std::vector<ApplyStep>& steps, Lsn end_lsn, bool* committed_any);
  // Sends the set's statements into `pipe`; their results come with its Finish().
  absl::Status SendKeyed(PgPipeline* pipe, const KeyedSet& set);
  absl::Status RunKeyed(PgConn* conn, const KeyedSet& set);
  absl::Status RunPartial(const PartialUpdate& p);

  PgConn* conn_;
  const TableModel* model_;
  VisibilityTracker* visibility_;
  const std::atomic<bool>* stop_;
  ApplyStats stats_;
  Checkpoint checkpoint_;
  HorizonFn horizon_;
  CopyHorizon current_horizon_;
  std::vector<PgConn*> extra_;
  bool parallel_allowed_ = false;
  size_t parallel_min_rows_;
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_APPLIER_H_
