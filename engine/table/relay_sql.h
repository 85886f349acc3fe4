// Builds the SQL of the copy relay: a batch read from the original with
// `COPY (SELECT ...) TO STDOUT (FORMAT binary)` on one session and written
// into the shadow with `COPY ... FROM STDIN (FORMAT binary)` on another
// (engine/rewrite/copy_relay). COPY FROM inserts in multi-row batches: less
// WAL than INSERT ... SELECT, fewer records for the walsender to decode.
// Pure: no I/O, unit-tested without a server.
//
// Binary COPY carries no type names: each value read must be exactly of the
// shadow column's type. A column qualifies when its type is unchanged, or
// when an explicit CAST to the new type gives what the INSERT's assignment
// coercion gives (RelayCastSafe); a USING expression, or a new type whose
// length coercion truncates under an explicit CAST (varchar(n), char(n),
// bit(n)), keeps the batch on INSERT ... SELECT.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_TABLE_RELAY_SQL_H_
#define SHADOWCOPY_ENGINE_TABLE_RELAY_SQL_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/table/table_model.h"

namespace shadowcopy::engine::sql {

// True when CAST(<source_type value> AS target_type) equals the value an
// assignment to a column of target_type stores (the new type is one whose
// typmod coercion does not depend on the cast being explicit).
bool RelayCastSafe(std::string_view target_type);

// True when every kept column qualifies for the relay (see above).
bool RelayAllowed(const TableModel& m);

// COPY (SELECT <kept columns as the new types> FROM ONLY orig WHERE lower <
// key <= upper ORDER BY key) TO STDOUT (FORMAT binary). COPY takes no
// parameters: the bounds (key values as text, as the copy's boundaries) are
// inlined as quoted literals cast to the key's types.
std::string RelayCopyOutSql(const TableModel& m, const std::optional<std::vector<std::string>>& lower,
                            const std::optional<std::vector<std::string>>& upper);

// COPY shadow (<kept target columns>) FROM STDIN (FORMAT binary).
std::string RelayCopyInSql(const TableModel& m);

}  // namespace shadowcopy::engine::sql

#endif  // SHADOWCOPY_ENGINE_TABLE_RELAY_SQL_H_
