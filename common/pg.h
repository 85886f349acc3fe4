// RAII wrappers over libpq: a connection and a query result, with errors
// mapped to absl::Status codes that tell the caller what it may do:
//   unavailable        connection lost, lock timeout, shutdown: retry with backoff
//   aborted            serialization failure, deadlock: retry the transaction
//   permission denied  insufficient privilege
//   failed precondition data or object state prevents the work (constraint, data)
//   invalid argument   malformed SQL or user input
// The SQLSTATE is kept as the kSqlStatePayload payload.
//
// Thread-safety: a PgConn is used by one thread at a time; Cancel() may be
// called from any thread.
#ifndef SHADOWCOPY_COMMON_PG_H_
#define SHADOWCOPY_COMMON_PG_H_

#include <libpq-fe.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace shadowcopy {

// Owns a PGresult.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* res) : res_(res, &PQclear) {}

  int Rows() const { return res_ ? PQntuples(res_.get()) : 0; }
  int Cols() const { return res_ ? PQnfields(res_.get()) : 0; }
  bool IsNull(int row, int col) const { return PQgetisnull(res_.get(), row, col) != 0; }
  std::string_view Get(int row, int col) const {
    return std::string_view(PQgetvalue(res_.get(), row, col), PQgetlength(res_.get(), row, col));
  }
  std::string GetString(int row, int col) const { return std::string(Get(row, col)); }
  std::optional<std::string> GetOptional(int row, int col) const {
    if (IsNull(row, col)) return std::nullopt;
    return GetString(row, col);
  }
  int64_t GetInt(int row, int col) const;
  bool GetBool(int row, int col) const { return Get(row, col) == "t"; }
  // Number of rows affected by INSERT/UPDATE/DELETE, 0 when not applicable.
  int64_t Affected() const;
  PGresult* raw() const { return res_.get(); }

 private:
  std::shared_ptr<PGresult> res_;
};

using PgParams = std::vector<std::optional<std::string>>;

struct ConnectOptions {
  std::string dsn;                   // conninfo or URI; empty uses PG* variables
  std::string application_name = "shadowcopy";
  bool replication = false;          // replication=database (walsender)
  // Extra server settings sent at connect time (-c key=value).
  std::vector<std::pair<std::string, std::string>> settings;
};

// Maps a failed result (or connection) to a Status with the SQLSTATE payload.
absl::Status StatusFromResult(PGconn* conn, const PGresult* res, std::string_view what);

class PgConn {
 public:
  // Connects and applies the session defaults every shadowcopy session uses:
  // no statement or idle-in-transaction timeout (the tool bounds its own waits
  // with lock_timeout), ISO dates, full float precision.
  static absl::StatusOr<std::unique_ptr<PgConn>> Connect(const ConnectOptions& options);

  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Runs one or more statements with the simple protocol; returns the last
  // result. For the tool's own fixed SQL only.
  absl::StatusOr<PgResult> Exec(std::string_view sql);

  // Runs exactly one statement with the extended protocol (a ';' cannot
  // smuggle in a second statement). Parameters are text, nullopt is NULL.
  absl::StatusOr<PgResult> Query(std::string_view sql, const PgParams& params = {});

  // Sends a cancel request for the running query. Any thread.
  void Cancel();

  bool InTransaction() const;
  // Rolls back if a transaction is open, ignoring errors (cleanup paths).
  void RollbackQuietly();
  // Server process id of this session.
  int BackendPid() const { return PQbackendPID(conn_); }
  int ServerVersion() const { return PQserverVersion(conn_); }
  bool Healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

  PGconn* raw() { return conn_; }

 private:
  explicit PgConn(PGconn* conn);
  PGconn* conn_;
  std::mutex cancel_mu_;
  PGcancel* cancel_ = nullptr;  // guarded by cancel_mu_
};

}  // namespace shadowcopy

#endif  // SHADOWCOPY_COMMON_PG_H_
