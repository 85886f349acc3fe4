// Reads the facts of the revertibility analysis (revertibility.h) from the
// catalog, inside the open transaction that built the shadow.
//
// Thread-safety: uses the connection passed in.
#ifndef SHADOWCOPY_ENGINE_REWRITE_REVERTIBILITY_CATALOG_H_
#define SHADOWCOPY_ENGINE_REWRITE_REVERTIBILITY_CATALOG_H_

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/rewrite/revertibility.h"
#include "engine/rewrite/shadow_builder.h"

namespace shadowcopy::engine {

absl::StatusOr<RevertFacts> ReadRevertFacts(PgConn* conn, uint32_t orig_oid, const ShadowPlan& plan);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_REVERTIBILITY_CATALOG_H_
