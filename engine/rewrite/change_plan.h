// Turns a sequence of decoded row changes into apply steps (pure, no I/O).
//
// Collapsing: for each key only the final state matters (keyed replay
// converges), so runs of changes become one set of deletes plus one set of
// full-row upserts, at most one operation per key — which is also what a
// multi-row upsert needs ("cannot affect row a second time").
// A primary-key update is a delete of the old key plus an upsert of the new.
// An update that leaves TOASTed columns unchanged ('u', not sent) has no full
// row: its missing values are taken from an earlier full image of the same key
// in the batch (or from a REPLICA IDENTITY FULL old tuple); failing that it
// becomes a partial step applied on its own, in order, by the applier.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_REWRITE_CHANGE_PLAN_H_
#define SHADOWCOPY_ENGINE_REWRITE_CHANGE_PLAN_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cdc/change_stream.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine {

using Value = std::optional<std::string>;  // text form, nullopt = NULL
using Row = std::vector<Value>;            // indexed like pgoutput tuples

struct KeyedSet {
  std::vector<Row> delete_keys;  // key values, key order
  std::vector<Row> upserts;      // full rows
  bool empty() const { return delete_keys.empty() && upserts.empty(); }
};

struct PartialUpdate {
  Row old_key;
  Row new_key;
  // (tuple index, value) of the columns that were sent; unchanged TOAST omitted.
  std::vector<std::pair<int, Value>> sets;
};

struct ApplyStep {
  enum class Kind { kKeyed, kPartial, kTruncate };
  Kind kind = Kind::kKeyed;
  KeyedSet keyed;
  PartialUpdate partial;
};

struct PlanStats {
  uint64_t inserts = 0, updates = 0, deletes = 0, key_updates = 0, truncates = 0;
  uint64_t unchanged_toast = 0;
};

// Plans the changes in order. With `collapse` false every change becomes its
// own step (the fallback after a unique-constraint conflict).
// Returns DataLoss when a tuple does not match the table's shape.
absl::StatusOr<std::vector<ApplyStep>> PlanChanges(const TableModel& model,
                                                   const std::vector<const cdc::Change*>& changes,
                                                   bool collapse, PlanStats* stats);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_CHANGE_PLAN_H_
