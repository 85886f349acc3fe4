// The way back's model: the new table as the source and the old table as the
// target, so that the same applier, SQL builder and swap that carry the
// forward run carry the reverse stream and the swap back.
//
// The reverse mapping: each column of the new table that came from a column
// of the old one maps back to it (its old name and type; written with
// assignment coercion, so a value that does not fit is an error); columns
// the ALTER added are left out; columns it dropped are not written (old rows
// keep their values, new rows get the old column's default).
//
// Pure: no I/O.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_REWRITE_REVERT_MODEL_H_
#define SHADOWCOPY_ENGINE_REWRITE_REVERT_MODEL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/rewrite/shadow_builder.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine {

// The reverse stream's slot and publication: shadowcopy_<oid>_rev.
std::string ReverseSlotName(const ObjectNames& forward);

// Names for the swap back: `table` stays the table's name, `shadow` is the
// old table, `old_table` the name the new table retires to
// (_<table>_new_<stamp>, with `retired_suffix` "_new_<stamp>").
ObjectNames ReverseNames(const ObjectNames& forward, const std::string& retired_suffix);

// `new_columns` and `old_columns`: each table's live columns in attnum
// order (generated ones included; they are not streamed). The new table was
// created LIKE the old one and then altered, so its attnum i is the old
// table's i-th live column (when the ALTER kept it); columns past the old
// table's count were added. `key_attnums`: the new table's key, in key order.
// FailedPrecondition when a key column has no old counterpart (no way back).
absl::StatusOr<TableModel> BuildReverseModel(const std::vector<ColumnInfo>& new_columns,
                                             const std::vector<ColumnInfo>& old_columns,
                                             const std::vector<int>& key_attnums, uint32_t new_oid,
                                             const ObjectNames& names);

// The plan of the swap back: the reverse model, and index name pairs
// (the new table's index, the old table's index named by the forward swap
// with `forward_suffix`) for each new-table index whose counterpart exists
// among `old_indexes`.
ShadowPlan ReversePlan(TableModel reverse_model, uint32_t old_oid, const std::vector<std::string>& new_indexes,
                       const std::vector<std::string>& old_indexes, const std::string& forward_suffix);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_REVERT_MODEL_H_
