// What the rehearsal reads on the production database, and nothing else:
// its version, name, encoding and search_path, the sizes of relations from
// its catalogs, and a rewrite throughput measured on a small temporary table
// of the session's own (never a user table). The session is read-only by
// default (default_transaction_read_only) and waits at most a short
// lock_timeout for a catalog-level lock.
//
// Thread-safety: one thread per connection.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_SIZES_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_SIZES_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/workflow/plan_facts.h"

namespace shadowcopy::workflow {

struct ProductionInfo {
  int server_version_num = 0;
  std::string database;
  std::string encoding;
  std::string search_path;
};

// Connects to production read-only. Unavailable when it cannot be reached.
absl::StatusOr<std::unique_ptr<PgConn>> ConnectProduction(const std::string& dsn);

absl::StatusOr<ProductionInfo> ReadProductionInfo(PgConn* prod);

// Sizes of the relations `names` resolve to (to_regclass with production's
// search_path: quoted or not, qualified or not), keyed by
// quote_ident(schema) || '.' || quote_ident(name). Names that resolve to
// nothing, or to something other than a table, materialized view or index,
// are left out. Rows are pg_class.reltuples, or the planner's estimate from
// the table's size when it was never analyzed (0 for an empty heap).
absl::StatusOr<std::map<std::string, RelationSize>> ReadSizes(PgConn* prod, const std::vector<std::string>& names);

// Bytes per second of a table rewrite on production's server: a temporary
// table of the session's (a few MB, in a transaction rolled back; temporary
// buffers kept at their minimum so the rewrite goes through the storage
// layer) rewritten by ALTER COLUMN TYPE with its index, its total size over
// the time taken. Writes nothing durable and no WAL; touches no user table.
absl::StatusOr<double> MeasureRewriteThroughput(PgConn* prod);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_SIZES_H_
