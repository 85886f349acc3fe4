// PgPipeline: statements sent in libpq's pipeline mode on one connection.
// Send() queues a statement (extended protocol, text parameters) and flushes
// it to the server without waiting for its result, so the caller can prepare
// the next statement while the server runs this one; Finish() ends the batch
// with a Sync, reads every result and leaves pipeline mode. One round trip for
// the whole batch instead of one per statement.
//
// After a failed statement the server skips the rest of the batch up to the
// Sync (PGRES_PIPELINE_ABORTED): Finish() returns the first failure, with its
// SQLSTATE, as PgConn::Query() would have. An explicit transaction opened in
// the batch is then in the aborted state: the caller rolls it back.
//
// Thread-safety: as PgConn (one thread at a time).
#ifndef SHADOWCOPY_COMMON_PG_PIPELINE_H_
#define SHADOWCOPY_COMMON_PG_PIPELINE_H_

#include <string_view>

#include "absl/status/status.h"
#include "common/pg.h"

namespace shadowcopy {

class PgPipeline {
 public:
  // Borrows `conn`, which must be idle (no result pending). Enters pipeline
  // mode lazily, on the first Send().
  explicit PgPipeline(PgConn* conn) : conn_(conn) {}
  ~PgPipeline();  // an unfinished batch is finished, its results dropped
  PgPipeline(const PgPipeline&) = delete;
  PgPipeline& operator=(const PgPipeline&) = delete;

  // Queues one statement. An error here (the connection is gone) is final:
  // Finish() returns it too.
  absl::Status Send(std::string_view sql, const PgParams& params = {});

  // Sends the Sync, reads the result of every statement sent and leaves
  // pipeline mode; returns the first failure. The connection is usable by
  // PgConn's synchronous calls again afterwards.
  absl::Status Finish();

  // Statements sent since the last Finish().
  int pending() const { return sent_; }

 private:
  PgConn* conn_;
  bool active_ = false;
  int sent_ = 0;
  absl::Status first_error_;
};

}  // namespace shadowcopy

#endif  // SHADOWCOPY_COMMON_PG_PIPELINE_H_
