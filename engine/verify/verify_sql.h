// Builds the SQL of the verification (shadow vs. original) and plans its key
// ranges. Pure: no I/O, unit-tested without a server; the Verifier and the
// rewrite execute what is built here.
//
// A row is compared by a 64-bit hash of its values, where the original's
// values go through sql::MappedExpr — the mapping the copy and the replay
// use — so both sides are values of the new types. The hash tells apart any
// two values that are not identical, which is stricter than equality on
// purpose: numeric 1.0 and 1.00, json with different spacing, float -0 and 0,
// interval '1 day' and '24 hours', 'a' and 'A' under a case-insensitive
// collation all differ. Two forms (RowHashForm):
//   - per column (PostgreSQL 14+): hash_record_extended over one value per
//     column. Types whose equality is identity contribute themselves, hashed
//     by their own extended hash (text and varchar under COLLATE "C"); the
//     64-bit ones whose hash folds the value to 32 bits contribute their
//     binary form; every other type its text (HashedValue).
//   - row text (any version): the hash of ROW(<values>)::text.
// Text is rendered by the session: verification sessions are opened as the
// copy's and the replay's are (PgConn::Connect pins DateStyle, IntervalStyle
// and extra_float_digits; TimeZone, bytea_output and the rest come from the
// same environment and role) and change nothing, so a cast whose result
// depends on a setting (timestamptz to timestamp on TimeZone, bytea to text
// on bytea_output) gives what it gave the copy.
// Per range each side yields count(*) and the bit_xor of the row hashes
// (order-independent; keys are unique, so no two rows of a side have the
// same values and nothing cancels within a side); only these numbers leave
// the server.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_VERIFY_VERIFY_SQL_H_
#define SHADOWCOPY_ENGINE_VERIFY_VERIFY_SQL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/pg.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine::vsql {

// How a row becomes its hash; see the file comment. Both sides of one
// comparison use the same form.
enum class RowHashForm {
  kRowText,    // hashtextextended of the row's text
  kPerColumn,  // hash_record_extended, PostgreSQL 14+
};

// The form a server of version `server_version_num` (PQserverVersion,
// e.g. 150004) can run: per column from 14 on, row text before.
RowHashForm RowHashFormFor(int server_version_num);

// What one column contributes to a row hash of the per-column form: `value`,
// an expression of the column's type in the new table, `target_type` as
// format_type spells it (type modifiers allowed, e.g. "character
// varying(20)"). `value` itself for a type whose equality is identity and
// whose extended hash takes every bit (text and varchar under COLLATE "C");
// its binary form for bigint, timestamp, timestamptz and time; its output
// for character (whose cast to text drops trailing spaces); its text for any
// other type.
std::string HashedValue(std::string_view target_type, const std::string& value);

// One key range (lower, upper] in the original's key order; nullopt bounds
// are open. Key values are text, as the copy's boundaries.
struct KeyRange {
  std::optional<std::vector<std::string>> lower;
  std::optional<std::vector<std::string>> upper;
};

// Ranges between sorted, distinct boundary keys: (-inf, b0], (b0, b1], ...,
// (b_last, +inf). No boundaries: one range over the whole table.
std::vector<KeyRange> PlanRanges(const std::vector<std::vector<std::string>>& boundaries);

// Boundaries for PlanRanges from the copy's batches (their upper keys and
// row counts, in key order): consecutive batches are merged while together
// they hold at most `range_rows` rows; a batch larger than that is one range.
std::vector<std::vector<std::string>> BoundariesFromBatches(
    const std::vector<std::pair<std::vector<std::string>, int64_t>>& batches, int64_t range_rows);

// The range's bound values as query parameters: lower (when set), then upper.
PgParams RangeParams(const KeyRange& r);

// "id in (100, 200]", "(a, b) in ((1, x), +inf)": for reports.
std::string DescribeRange(const TableModel& m, const KeyRange& r);

// The shadow's key orders rows as the original's for every value both hold,
// so both sides can be cut by the same key ranges: sql::KeyOrderPreserved
// (same types, or integers widened), or integers narrowed (bigint to
// integer: the way back of a widening, whose values all fit). The key
// collations are compared apart (KeyCollationsSql).
bool KeyRangesComparable(const TableModel& m);

// One row: orig_count, orig_xor, shadow_count, shadow_xor for the range,
// rows hashed in `form`. `order_preserved`: the shadow's key orders rows as
// the original's (KeyRangesComparable and the same key collations), so the
// shadow side is filtered by the same range; otherwise REQUIRES an unbounded
// range (the whole table). Parameters: RangeParams.
std::string RangeHashSql(const TableModel& m, bool has_lower, bool has_upper, bool order_preserved,
                         RowHashForm form);

// Up to `limit` keys whose rows differ in the range: key text (the new key
// type's ROW text, e.g. "(42)") and "only in original", "only in new table" or
// "differs", rows hashed in `form`. Parameters: RangeParams.
std::string RangeDiffSql(const TableModel& m, bool has_lower, bool has_upper, bool order_preserved,
                         RowHashForm form, int limit);

// DELETE FROM shadow in the range (the first half of a repair; the second is
// sql::CopyBatchSql without ON CONFLICT). Parameters: RangeParams.
std::string RepairDeleteSql(const TableModel& m, bool has_lower, bool has_upper, bool order_preserved);

// Test-only: copies the non-key values of the range's second row onto its
// first row in the shadow (or deletes the first row when there is no non-key
// column to change). Parameters: RangeParams.
std::string CorruptRowSql(const TableModel& m, bool has_lower, bool has_upper, bool order_preserved);

// The key columns' collations of both tables, one row per key column:
// (original collation oid, shadow collation oid). Parameters: none.
std::string KeyCollationsSql(const TableModel& m, uint32_t shadow_oid);

// Names of the shadow's live columns that no original column maps to (added
// by the ALTER, or generated): they cannot be recomputed and are not
// compared. Parameters: $1 the shadow's oid, $2 a text[] of mapped names.
std::string UnmappedColumnsSql();

}  // namespace shadowcopy::engine::vsql

#endif  // SHADOWCOPY_ENGINE_VERIFY_VERIFY_SQL_H_
