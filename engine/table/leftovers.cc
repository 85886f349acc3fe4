#include "engine/table/leftovers.h"

#include "common/quote.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

std::string LeftoverRefusal(const LeftoverFacts& f) {
  const std::string table = QualifiedName(f.schema, f.table);
  const std::string old_table = QualifiedName(f.schema, f.old_table);
  const std::string cleanup = fmt::format("`shadowcopy cleanup --schema {} --table {} --execute`", f.schema, f.table);
  // _<table>_old holds the original of a finished run: only its owner can
  // tell that it is no longer needed.
  const std::string drop_old = fmt::format(
      "table {} exists (the original kept by an earlier run): check that it is no longer needed, then drop it "
      "(DROP TABLE {}) or rename it; shadowcopy never drops it except with --drop-old-table at the end of its "
      "own run", old_table, old_table);
  if (f.run_swapped)
    return fmt::format(
        "run {} was interrupted after its swap committed ({} is already the new table; its replication slot, "
        "publication and post-swap work are left, and the slot retains WAL): finish it with {} (or --resume "
        "with the same --alter){}", f.run_id, table, cleanup,
        f.old_table_exists ? "; then, before a new run, " + drop_old : "");
  std::string what;
  for (const auto& o : f.objects) what += (what.empty() ? "" : ", ") + o;
  if (!f.run_id.empty() && what.empty()) what = "the record of run " + f.run_id;
  if (!what.empty()) {
    // --resume needs the run's slot (and the same table).
    bool slot = false;
    for (const auto& o : f.objects) slot = slot || o.rfind("replication slot ", 0) == 0;
    std::string msg = f.run_resumable && slot
                          ? fmt::format("an earlier run left {} behind: continue it with --resume (same --alter), "
                                        "or remove it with {}", what, cleanup)
                          : fmt::format("an earlier run left {} behind: remove it with {}", what, cleanup);
    if (f.old_table_exists) msg += "; also, " + drop_old;
    return msg;
  }
  return f.old_table_exists ? drop_old : "";
}

}  // namespace shadowcopy::engine
