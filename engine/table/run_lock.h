// One shadowcopy run per table at a time, a rewrite or a backfill: a
// session-level advisory lock keyed by the table's oid when the run started
// (0x5C << 40 | oid), held by the run's main connection until it ends and
// taken again when that connection is replaced. `cleanup` takes it to leave
// a live run be.
#ifndef SHADOWCOPY_ENGINE_TABLE_RUN_LOCK_H_
#define SHADOWCOPY_ENGINE_TABLE_RUN_LOCK_H_

#include <chrono>
#include <cstdint>

#include "absl/status/statusor.h"
#include "common/pg.h"

namespace shadowcopy::engine {

// Tried without waiting: true when taken.
absl::StatusOr<bool> TryRunLock(PgConn* conn, uint32_t table_oid);

// TryRunLock, tried again for up to `grace` while another session holds the
// lock: a run that has just ended (a refused run, a killed one) leaves its
// backend a moment to notice and release it. A live run holds it for good.
absl::StatusOr<bool> TakeRunLock(PgConn* conn, uint32_t table_oid,
                                 std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_TABLE_RUN_LOCK_H_
