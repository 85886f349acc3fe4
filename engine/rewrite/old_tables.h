// The originals finished runs kept (_<table>_old_<time>): each run's old
// table has a name of its own, recorded with the run, so a second run of a
// table never meets the first one's. They hold the user's data as it was
// before the swap, so they are only listed, with their sizes, and dropped on
// request (`shadowcopy cleanup --old-tables [--table T] --execute`).
//
// Thread-safety: used by one thread.
#ifndef SHADOWCOPY_ENGINE_REWRITE_OLD_TABLES_H_
#define SHADOWCOPY_ENGINE_REWRITE_OLD_TABLES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "engine/control/config.h"
#include "engine/rewrite/cleanup.h"

namespace shadowcopy::engine {

// Finds the old tables of finished runs (of config.table, or of every table
// when `all`) and drops them when config.execute. A run's old table is the
// relation with the original's oid, under another name than the table's:
// found by oid, it is found even if someone renamed it since.
absl::StatusOr<std::vector<Leftover>> RunOldTableCleanup(const Config& config, bool all);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_OLD_TABLES_H_
