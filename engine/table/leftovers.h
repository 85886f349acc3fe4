// What a new run says when an earlier run's objects are in its way: the
// facts the inspector reads, and the one-line refusal built from them (pure).
// Every command the refusal suggests does what it says: --resume only for a
// run it can resume, cleanup for what cleanup removes or finishes, and for
// `_<table>_old` — the user's data, which no command of ours drops — the
// statement to run by hand.
//
// Thread-safety: pure functions.
#ifndef SHADOWCOPY_ENGINE_TABLE_LEFTOVERS_H_
#define SHADOWCOPY_ENGINE_TABLE_LEFTOVERS_H_

#include <string>
#include <vector>

namespace shadowcopy::engine {

struct LeftoverFacts {
  std::string schema, table, old_table;  // unquoted names
  // Objects named after the table's current oid, and `_<table>_shadow`:
  // "replication slot shadowcopy_1", "publication shadowcopy_1", "table ...".
  std::vector<std::string> objects;
  std::string run_id;          // an unfinished run recorded for the table ("" when none)
  bool run_resumable = false;  // recorded on the table as it is now (same oid)
  bool run_swapped = false;    // its swap committed; the post-swap work is left
  bool old_table_exists = false;
};

// The refusal, or "" when nothing is in the way.
std::string LeftoverRefusal(const LeftoverFacts& facts);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_TABLE_LEFTOVERS_H_
