#include "engine/rewrite/copy_relay.h"

#include <string>

namespace shadowcopy::engine {
namespace {

// Reads the results left after a COPY until none is left; returns the first
// failure, or the command tag's row count.
absl::StatusOr<int64_t> FinishCopy(PgConn* conn, std::string_view what) {
  absl::Status failure;
  int64_t rows = 0;
  while (PGresult* raw = PQgetResult(conn->raw())) {
    PgResult res(raw);
    ExecStatusType st = PQresultStatus(raw);
    if (st == PGRES_COMMAND_OK) {
      rows = res.Affected();
    } else if (st == PGRES_COPY_IN) {
      // Still in COPY IN: end it as failed (only after an earlier error).
      PQputCopyEnd(conn->raw(), "copy relay failed");
    } else if (failure.ok()) {
      failure = StatusFromResult(conn->raw(), raw, what);
    }
  }
  if (!failure.ok()) return failure;
  return rows;
}

}  // namespace

absl::StatusOr<int64_t> RelayCopy(PgConn* reader, std::string_view copy_out, PgConn* writer,
                                  std::string_view copy_in) {
  const std::string in(copy_in), out(copy_out);
  {
    PgResult started(PQexec(writer->raw(), in.c_str()));
    if (PQresultStatus(started.raw()) != PGRES_COPY_IN)
      return StatusFromResult(writer->raw(), started.raw(), "copy relay (writing)");
  }
  PgResult reading(PQexec(reader->raw(), out.c_str()));
  if (PQresultStatus(reading.raw()) != PGRES_COPY_OUT) {
    absl::Status st = StatusFromResult(reader->raw(), reading.raw(), "copy relay (reading)");
    PQputCopyEnd(writer->raw(), "copy relay: the read failed");
    (void)FinishCopy(writer, "copy relay (writing)");
    return st;
  }
  absl::Status write_failed;
  for (;;) {
    char* buf = nullptr;
    int n = PQgetCopyData(reader->raw(), &buf, /*async=*/0);
    if (n < 0) break;  // -1: done, -2: failed (the result says why)
    if (write_failed.ok() && PQputCopyData(writer->raw(), buf, n) != 1)
      write_failed = StatusFromResult(writer->raw(), nullptr, "copy relay (writing)");
    PQfreemem(buf);
  }
  auto read = FinishCopy(reader, "copy relay (reading)");
  if (write_failed.ok() && read.ok()) {
    if (PQputCopyEnd(writer->raw(), nullptr) != 1)
      write_failed = StatusFromResult(writer->raw(), nullptr, "copy relay (writing)");
  } else {
    PQputCopyEnd(writer->raw(), "copy relay: the read failed");
  }
  auto written = FinishCopy(writer, "copy relay (writing)");
  if (!read.ok()) return read.status();
  if (!write_failed.ok()) return write_failed;
  return written;
}

}  // namespace shadowcopy::engine
