// Builds the SQL text of a backfill (batched UPDATE or DELETE over key
// ranges) and checks the user's expressions before they are put into it.
// Pure: no I/O, unit-tested without a server. The key range predicates are
// the copy's (sql::KeyRangeCondition), over the table's own key columns.
//
// The user's SET list and WHERE condition are SQL text placed into our
// statements. PostgreSQL validates them (the dry run runs one batch in a
// rolled-back transaction); CheckExpression makes sure, before that, that
// neither can reach outside its place: a WHERE like "x) OR (true" would
// otherwise drop the key range and change the whole table in one batch.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_SQL_H_
#define SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_SQL_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine::backfill_sql {

enum class ExpressionKind { kSet, kWhere };

// OK when `text` is one self-contained SET list (kSet) or condition (kWhere):
// not blank; string literals, quoted identifiers, dollar quotes and comments
// terminated; parentheses balanced and never closed below the top level; no
// ';' and no $n parameter outside quotes; and for a SET list no FROM, WHERE or
// RETURNING at the top level. InvalidArgument naming the flag otherwise.
absl::Status CheckExpression(std::string_view text, ExpressionKind kind);

// What one batch does: `set` empty means DELETE.
struct BatchSpec {
  bool delete_rows = false;
  std::string set;    // the UPDATE's SET list, as given
  std::string where;  // the condition, as given
};

// The next batch's upper bound and the number of keys up to it: the key of
// the `n`-th row after the lower bound in key order, at most the span's end.
// Result: one row (the key columns as text, then the count) or none when no
// key is left. Parameters: the lower bound (when has_lower), the span's end,
// then n.
std::string BoundarySql(const TableModel& m, bool has_lower, bool lower_inclusive = false);

// UPDATE ONLY t SET <set> WHERE <key in (lower, upper]> AND (<where>), or the
// DELETE. Parameters: the lower bound's key values (when has_lower), then the
// upper bound's. The user's text is followed by a line break, so a trailing
// "--" comment cannot swallow the rest.
std::string BatchSql(const TableModel& m, const BatchSpec& spec, bool has_lower, bool lower_inclusive = false);

// Whether a SET list assigns a key column, as the server resolves its targets
// (quoted and Unicode-escaped names, row assignments, sub-fields, generated
// key columns depending on an assigned column) rather than a parse of ours:
// the statements run in order in a transaction that is rolled back. A temporary
// copy of the table's columns (CREATE TABLE ... LIKE takes ACCESS SHARE on the
// table) gets a statement-level trigger "BEFORE UPDATE OF <key columns>" that
// fires when the UPDATE names one of them, whatever rows it changes; the
// UPDATE runs WHERE false (nothing evaluated per row), with the table's name
// as alias so qualified references resolve. The last statement returns one
// boolean: true when a key column is assigned. The trigger's function needs
// PL/pgSQL.
std::vector<std::string> KeyAssignmentProbeSql(const TableModel& m, const std::string& set);

// The smallest (or, `last`, the largest) key as text: the ends of the span.
std::string SpanEndSql(const TableModel& m, bool last);

// EXPLAIN of a SELECT over the rows the WHERE matches (planner estimate).
std::string EstimateSql(const TableModel& m, const std::string& where);

// Rows from the first line of EXPLAIN output ("... rows=123 width=4)"); -1
// when absent.
double PlanRows(std::string_view explain_line);

// "(1)", "('eu', 17)": a key for messages.
std::string FormatKey(const std::vector<std::string>& key);

}  // namespace shadowcopy::engine::backfill_sql

#endif  // SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_SQL_H_
