// Copy relay: streams `COPY (...) TO STDOUT` from one session into
// `COPY ... FROM STDIN` on another, both inside transactions the caller
// opened (and commits or rolls back). The data passes through this process
// unparsed, one CopyData message at a time (engine/table/relay_sql.h builds
// the statements).
//
// Thread-safety: both sessions are used by the calling thread only.
#ifndef SHADOWCOPY_ENGINE_REWRITE_COPY_RELAY_H_
#define SHADOWCOPY_ENGINE_REWRITE_COPY_RELAY_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "common/pg.h"

namespace shadowcopy::engine {

// Returns the rows COPY FROM wrote. On error both statements have ended
// (the writer's COPY is failed on purpose when the reader fails) and the
// caller rolls back both transactions.
absl::StatusOr<int64_t> RelayCopy(PgConn* reader, std::string_view copy_out, PgConn* writer,
                                  std::string_view copy_in);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_COPY_RELAY_H_
