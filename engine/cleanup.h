// Cleanup of what an interrupted run left behind (kill -9, lost machine):
// the replication slot (which retains WAL until the disk fills), the
// publication and the shadow table, and the state records of unfinished
// runs (a rewrite's, or a backfill's checkpoint, which would otherwise
// refuse a new backfill of the table). Lists first; drops only with execute.
// Never touches _<table>_old, which holds the user's data.
//
// Thread-safety: used by one thread.
#ifndef SHADOWCOPY_ENGINE_CLEANUP_H_
#define SHADOWCOPY_ENGINE_CLEANUP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/config.h"

namespace shadowcopy::engine {

struct Leftover {
  std::string kind;  // "replication slot", "publication", "table"
  std::string name;  // as printed (identifiers quoted)
  std::string drop_sql;
  bool active = false;  // slot in use by a running process
};

// Finds the leftovers for config.table (or every shadowcopy object in the
// database when `all`), drops them when config.execute. Returns what it found.
absl::StatusOr<std::vector<Leftover>> RunCleanup(const Config& config, bool all);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_CLEANUP_H_
