#include "engine/table/run_lock.h"

#include <string>
#include <thread>

#include "common/status.h"

namespace shadowcopy::engine {

absl::StatusOr<bool> TryRunLock(PgConn* conn, uint32_t table_oid) {
  const int64_t key = (int64_t{0x5C} << 40) | table_oid;
  ASSIGN_OR_RETURN(auto r, conn->Query("SELECT pg_try_advisory_lock($1::bigint)", {std::to_string(key)}));
  return r.GetBool(0, 0);
}

absl::StatusOr<bool> TakeRunLock(PgConn* conn, uint32_t table_oid, std::chrono::milliseconds grace) {
  const auto until = std::chrono::steady_clock::now() + grace;
  for (;;) {
    ASSIGN_OR_RETURN(bool locked, TryRunLock(conn, table_oid));
    if (locked || std::chrono::steady_clock::now() >= until) return locked;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace shadowcopy::engine
