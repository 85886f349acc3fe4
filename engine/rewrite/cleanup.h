// Cleanup of what an interrupted run left behind (kill -9, lost machine):
// the replication slot (which retains WAL until the disk fills), the
// publication and the shadow table, and the state records of unfinished
// runs (a rewrite's, or a backfill's checkpoint, which would otherwise
// refuse a new backfill of the table). A run killed after its swap committed
// is finished instead: slot and publication dropped, the post-swap work run
// (the same code as --resume), the run marked finished. Runs are found by
// their record as well as by the table's oid: after a swap the table has
// another oid than the one the slot is named after. Lists first; acts only
// with execute. Never touches an old table (_<table>_old_<time>), which holds
// the user's data (engine/rewrite/old_tables.h lists and drops those).
//
// Thread-safety: used by one thread.
#ifndef SHADOWCOPY_ENGINE_REWRITE_CLEANUP_H_
#define SHADOWCOPY_ENGINE_REWRITE_CLEANUP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/control/config.h"

namespace shadowcopy::engine {

struct Leftover {
  std::string kind;  // "replication slot", "publication", "table", "post-swap statement", ...
  std::string name;  // as printed (identifiers quoted)
  std::string drop_sql;  // empty: part of finishing a swapped run (engine/rewrite/after_swap.h)
  bool active = false;   // slot in use by a running process
  std::string would = "would remove";  // what the dry run says it would do
  std::string did = "removed";         // what --execute says it did
};

// Finds the leftovers for config.table (or every shadowcopy object in the
// database when `all`), drops them when config.execute. Returns what it found.
absl::StatusOr<std::vector<Leftover>> RunCleanup(const Config& config, bool all);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_CLEANUP_H_
