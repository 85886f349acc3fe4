// What the state tables (the rewrite's `shadowcopy.runs`, the backfill's
// `shadowcopy.backfills`) share: their creation, serialized across runs, and
// keys and statement lists kept as text[] — a literal of `values`, and the
// elements of such a literal (parsed by the server).
//
// Thread-safety: TextArrayOf is pure; the others use the connection passed in.
#ifndef SHADOWCOPY_ENGINE_TABLE_STATE_TABLES_H_
#define SHADOWCOPY_ENGINE_TABLE_STATE_TABLES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/pg.h"

namespace shadowcopy::engine {

// Advisory lock key held while the state schema and its tables are created
// or upgraded. (A run's per-table lock is 0x5C << 40 | oid.)
inline constexpr int64_t kStateSchemaLockKey = int64_t{0x5D} << 40;

// Runs `ddl` (idempotent CREATE ... IF NOT EXISTS statements of the state
// schema) in a transaction of its own, serialized with other runs doing the
// same. REQUIRES: `conn` is not in a transaction.
absl::Status CreateStateTables(PgConn* conn, std::string_view ddl);

std::string TextArrayOf(const std::vector<std::string>& values);
absl::StatusOr<std::vector<std::string>> ParseTextArray(PgConn* conn, std::string_view literal);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_TABLE_STATE_TABLES_H_
