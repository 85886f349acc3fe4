// The names a run gives the original table and its indexes, statistics and
// sequences at the swap: "_<name>_old_<UTC yyyymmddhhmmss of the run's
// start>", so that each run's old table has a name of its own and a second
// run of a table never meets the first one's. Runs recorded before this
// naming used plain "_old" (kLegacyOldSuffix). Pure: no I/O.
#ifndef SHADOWCOPY_ENGINE_TABLE_OLD_NAMES_H_
#define SHADOWCOPY_ENGINE_TABLE_OLD_NAMES_H_

#include <string>

#include "absl/time/time.h"

namespace shadowcopy::engine {

// The suffix of runs recorded before each run had one of its own.
inline constexpr char kLegacyOldSuffix[] = "_old";

// The suffix a run that starts at `t` gives the original and its objects:
// "_old_<UTC yyyymmddhhmmss>" (19 bytes).
std::string OldSuffixAt(absl::Time t);

// `name` with `suffix` for an object of the old table (an index, a
// statistics object or a sequence), in 63 bytes. The suffix is never cut;
// when `name` must be, a hash of the whole name keeps two cut names apart.
std::string OldObjectName(const std::string& name, const std::string& suffix);

// The old table's name: OldObjectName, except for the legacy suffix, whose
// runs named it "_<table>_old" with the table's name cut to fit.
std::string OldTableName(const std::string& table, const std::string& suffix);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_TABLE_OLD_NAMES_H_
