// Builds the SQL text of the copy, the replay and the swap from a TableModel.
// Pure: no I/O, unit-tested without a server. The applier and the copier
// execute what is built here.
//
// The column mapping has one source of truth, AssignedExpr(): the copy applies
// it to the original's columns, the replay to decoded text values cast back to
// the original's types, so both write exactly the same values into the shadow.
// Written values are converted to the new types by the INSERT or UPDATE
// itself, with assignment coercion, as ALTER TABLE ... TYPE converts them: a
// value too long for varchar(n), char(n) or bit(n) is an error, never
// silently cut (an explicit CAST would cut it). MappedExpr() (with the CAST)
// is only for comparing and hashing, where such a value was never written.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_TABLE_SQL_BUILDER_H_
#define SHADOWCOPY_ENGINE_TABLE_SQL_BUILDER_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/table/table_model.h"

namespace shadowcopy::engine::sql {

// The value to write into the shadow's column `c` (an INSERT's target list or
// an UPDATE's SET, whose assignment coercion converts it to the new type),
// given an expression of the original's type: the expression itself, or a
// USING expression evaluated over it (bound to the column's name, qualified
// by the table's). Never CAST: see above.
std::string AssignedExpr(const MappedColumn& c, std::string_view source_expr);

// AssignedExpr() CAST to the new type when it changes (or USING is given):
// the value as the new type, for comparisons and hashes only.
std::string MappedExpr(const MappedColumn& c, std::string_view source_expr);

// "_<middle>_<suffix>"-style names: truncates `middle` so the result fits in
// 63 bytes without splitting a UTF-8 character.
std::string AffixedName(std::string_view prefix, std::string_view middle, std::string_view suffix);

// A text[] literal of the values: NULL for nullopt, every element quoted.
std::string TextArrayLiteral(const std::vector<const std::optional<std::string>*>& values);

// SELECT of the key (as text) of the row `limit` rows after the lower bound, in
// key order: the upper bound of the next copy batch. Parameters: the lower
// bound's key values ($1..$k) when `has_lower`, then the offset.
std::string CopyBoundarySql(const TableModel& m, bool has_lower);

// The key range lower < key <= upper over the original's key columns of the
// table or alias `qualifier`, as row comparisons (an index range scan on the
// key's index): "(q."k1", q."k2") > (CAST($first AS t1), ...) AND (...) <= (...)".
// Parameters numbered from `first`: the lower bound's key values (when
// has_lower), then the upper bound's (when has_upper). "" when neither.
// `lower_inclusive`: lower <= key instead of lower < key.
std::string KeyRangeCondition(const TableModel& m, std::string_view qualifier, bool has_lower, bool has_upper,
                              int first = 1, bool lower_inclusive = false);

// INSERT INTO shadow SELECT <mapped> FROM ONLY orig WHERE lower < key <= upper
// ON CONFLICT (<key>) DO NOTHING. Parameters: lower key values (when
// has_lower), then upper key values (when has_upper).
// Without `on_conflict` the batch is a plain INSERT (no speculative
// insertion: measured ~40% less time and 20% less WAL), for ranges the shadow
// holds no row of yet.
std::string CopyBatchSql(const TableModel& m, bool has_lower, bool has_upper, bool on_conflict = true);

// True when the shadow's key orders rows as the original's does (key types
// unchanged, or integers widened), so a key range of the original maps onto
// the same range of the shadow.
bool KeyOrderPreserved(const TableModel& m);

// SELECT EXISTS: does the shadow hold any row in the batch's key range?
// Parameters as CopyBatchSql. REQUIRES: KeyOrderPreserved(m).
std::string ShadowRangeProbeSql(const TableModel& m, bool has_lower, bool has_upper);

// Multi-row upsert of decoded rows: one text[] parameter per kept column, in
// `m.columns` order of kept columns.
// With `horizon`, rows whose key (in the original's order) is above the copy's
// high-water mark — parameters after the columns' arrays — are left out: the
// copy has not reached them and will read them itself (see applier.h).
std::string UpsertSql(const TableModel& m, bool horizon = false);

// Multi-row delete by key: one text[] parameter per key column.
std::string DeleteSql(const TableModel& m);

// UPDATE of the columns `set_columns` (indexes into m.columns, all kept) of the
// row with the given old key. Parameters: the new values in `set_columns`
// order, then the old key values.
std::string PartialUpdateSql(const TableModel& m, const std::vector<int>& set_columns);

// Re-reads one row of the original by key and upserts it into the shadow.
// Parameters: the key values.
// `horizon`: as UpsertSql, the high-water key values follow the key.
std::string RereadSql(const TableModel& m, bool horizon = false);

// True when the key in $1..$k is at or below the key in $k+1..$2k, in the
// copy's key order (the original's key types).
std::string KeyAtOrBelowSql(const TableModel& m);

// The kept columns' target names as a quoted list (the INSERT column list).
std::string TargetColumnList(const TableModel& m);

}  // namespace shadowcopy::engine::sql

#endif  // SHADOWCOPY_ENGINE_TABLE_SQL_BUILDER_H_
