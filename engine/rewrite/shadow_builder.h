// ShadowBuilder: creates the shadow table (the original's definition, then the
// user's ALTER) and derives the column mapping from the catalog, so RENAME,
// DROP, ADD and TYPE subcommands are all followed without parsing the ALTER.
//
// How the mapping is found: the shadow is created with LIKE, so before the
// ALTER its attnum i is the original's i-th live column. The ALTER keeps
// attnums (a renamed or retyped column keeps its attnum; a dropped one is
// marked dropped), so reading the shadow's attributes again gives each
// original column's name and type in the shadow.
//
// Secondary indexes and unique/exclusion constraints are dropped from the
// shadow after the ALTER and their definitions kept, to be built once the copy
// is done (building after is measured faster than maintaining them per row).
//
// Thread-safety: used by one thread; holds a borrowed connection.
#ifndef SHADOWCOPY_ENGINE_REWRITE_SHADOW_BUILDER_H_
#define SHADOWCOPY_ENGINE_REWRITE_SHADOW_BUILDER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/control/config.h"
#include "engine/rewrite/alter_text.h"  // ValidateAlterText
#include "engine/table/inspector.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine {

struct ShadowPlan {
  TableModel model;
  uint32_t shadow_oid = 0;
  // Statements that build the shadow's secondary indexes and constraints.
  std::vector<std::string> deferred_indexes;
  // (original index name, shadow index name): renamed at the swap.
  std::vector<std::pair<std::string, std::string>> index_names;
  // (original, shadow) extended statistics, renamed at the swap.
  struct StatisticsName {
    std::string orig_schema, orig_name, shadow_schema, shadow_name;
  };
  std::vector<StatisticsName> statistics_names;
  std::string key_index;  // the shadow's unique index on the key
  // The key index is dropped too and built after the copy (first of
  // deferred_indexes): replay then waits for it (DESIGN.md §3, deferred replay).
  bool key_index_deferred = false;
  bool plain_alter_rewrites = true;  // would ALTER TABLE rewrite the original?
  std::vector<std::string> notes;    // shown in the plan
  std::vector<std::string> warnings;  // shown in the plan and logged by the run
};

class ShadowBuilder {
 public:
  ShadowBuilder(PgConn* conn, const Config& config) : conn_(conn), config_(config) {}

  // Creates the shadow and applies the ALTER inside the caller's open
  // transaction (the dry run rolls it back, prepare commits it).
  // Returns InvalidArgument for an ALTER PostgreSQL rejects, FailedPrecondition
  // for one the online path cannot follow.
  absl::StatusOr<ShadowPlan> Build(const Inspection& in);

  // Rebuilds the plan of a shadow created by an earlier run (resume or
  // reconnect): the column mapping and the key come from the catalog again;
  // `recorded` supplies what only the creation knew (the deferred index
  // definitions and the index and statistics name pairs).
  absl::StatusOr<ShadowPlan> Reattach(const Inspection& in, ShadowPlan recorded);

  // Drops the shadow's key index as well, inside the creating transaction;
  // the statements that build it again go first in deferred_indexes. Only
  // for a copy that never meets a row in the shadow's range (plain INSERTs,
  // no replay before the index exists).
  absl::Status DeferKeyIndex(ShadowPlan* plan);

 private:
  absl::Status CreateLike(const Inspection& in, ShadowPlan* plan);
  absl::Status CopyTableSettings(const Inspection& in);
  absl::Status PairIndexesAndStatistics(const Inspection& in, ShadowPlan* plan);
  absl::Status ApplyAlter(const Inspection& in, ShadowPlan* plan);
  absl::Status MapColumns(const Inspection& in, ShadowPlan* plan);
  absl::Status CheckKey(const Inspection& in, ShadowPlan* plan, bool find_index);
  absl::Status DeferIndexes(ShadowPlan* plan);
  absl::Status DeferUnvalidatedChecks(const Inspection& in, ShadowPlan* plan);
  absl::StatusOr<std::string> WithStorage(const PgResult& r, int i);
  absl::Status DropAndRecord(const ShadowPlan& plan, const PgResult& r, std::vector<std::string>* out);
  struct IndexSignature {
    std::string name, signature;
    bool valid = true;
  };
  absl::StatusOr<std::vector<IndexSignature>> IndexSignatures(uint32_t oid);

  PgConn* conn_;
  const Config& config_;
  std::vector<std::pair<std::string, std::string>> like_index_pairs_;  // orig name, shadow name
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_SHADOW_BUILDER_H_
