// Asks the server whether each ALTER ... USING expression of the mapping can
// be applied online: it must use only its own column (the copy, the replay
// and the verification bind just that value) and be immutable (they evaluate
// it at different times and must get the same value).
//
// Thread-safety: uses the connection passed in.
#ifndef SHADOWCOPY_ENGINE_REWRITE_USING_PROBE_H_
#define SHADOWCOPY_ENGINE_REWRITE_USING_PROBE_H_

#include "absl/status/status.h"
#include "common/pg.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine {

// Inside the caller's open transaction (the one that builds the shadow, and
// that is rolled back on error): for each column with a USING expression, a
// temporary table named like the original with only that column, and an
// index over the expression (an index expression must be immutable and may
// use only the table's columns); both dropped again. InvalidArgument, one
// line, when the server refuses.
absl::Status ProbeUsingExpressions(PgConn* conn, const TableModel& m);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_USING_PROBE_H_
