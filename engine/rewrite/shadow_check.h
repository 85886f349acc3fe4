// Checks, before a resumed or reconnected run continues, that the shadow
// table still holds what the run's record says was copied into it: a shadow
// that lost rows (truncated by hand, or emptied by a crash had it been
// unlogged) must never be continued, the copy would not come back for them.
//
// Thread-safety: uses the connection passed in.
#ifndef SHADOWCOPY_ENGINE_REWRITE_SHADOW_CHECK_H_
#define SHADOWCOPY_ENGINE_REWRITE_SHADOW_CHECK_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/pg.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine {

// FailedPrecondition (one line, telling to clean up and start again) when
// the shadow is not a permanent table, or when the copy has recorded
// progress (`high_water`, or `copy_done`) and the original holds a row at or
// below the high-water key (any row once the copy is done) while the shadow
// holds none there. Two EXISTS probes: cheap, and sound against replay — a
// replayed delete only removes a shadow row the original no longer has, so
// a shadow with none of the copied range while the original still has rows
// there has lost them (unless every such row was deleted and re-inserted
// since the recorded replay position, a refusal on the safe side).
absl::Status CheckShadowIntact(PgConn* conn, const TableModel& m,
                               const std::optional<std::vector<std::string>>& high_water, bool copy_done);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_SHADOW_CHECK_H_
