#include "common/pg.h"

#include <charconv>
#include <cstdlib>

#include "common/pg_options.h"
#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy {
namespace {

absl::StatusCode CodeForSqlState(std::string_view state) {
  if (state.empty()) return absl::StatusCode::kUnavailable;  // no server answer
  if (state == "55P03" || state == "57014" || state.substr(0, 2) == "08" ||
      state == "57P01" || state == "57P02" || state == "57P03" || state == "53300")
    return absl::StatusCode::kUnavailable;
  if (state == "40001" || state == "40P01") return absl::StatusCode::kAborted;
  if (state == "42501") return absl::StatusCode::kPermissionDenied;
  if (state.substr(0, 2) == "23" || state.substr(0, 2) == "22" || state == "55000" ||
      state == "55006")
    return absl::StatusCode::kFailedPrecondition;
  if (state.substr(0, 2) == "42") return absl::StatusCode::kInvalidArgument;
  if (state == "XX001" || state == "XX002") return absl::StatusCode::kDataLoss;
  return absl::StatusCode::kUnknown;
}

// libpq's messages can span lines ("server closed the connection
// unexpectedly\n\tThis probably means..."): errors are reported on one line.
std::string FirstLine(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

int64_t PgResult::GetInt(int row, int col) const {
  auto v = Get(row, col);
  int64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

int64_t PgResult::Affected() const {
  if (!res_) return 0;
  const char* n = PQcmdTuples(res_.get());
  if (n == nullptr || *n == 0) return 0;
  return std::strtoll(n, nullptr, 10);
}

absl::Status StatusFromResult(PGconn* conn, const PGresult* res, std::string_view what) {
  std::string state;
  std::string message;
  if (res != nullptr) {
    const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (s) state = s;
    const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (primary) {
      message = primary;
      const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
      if (detail) message += fmt::format(" ({})", detail);
    } else {
      message = FirstLine(PQresultErrorMessage(res));
    }
  }
  if (message.empty() && conn != nullptr) message = FirstLine(PQerrorMessage(conn));
  if (message.empty()) message = "unknown error";
  absl::StatusCode code = CodeForSqlState(state);
  if (conn != nullptr && PQstatus(conn) != CONNECTION_OK) code = absl::StatusCode::kUnavailable;
  absl::Status status(code, what.empty() ? message : fmt::format("{}: {}", what, message));
  if (!state.empty()) status.SetPayload(kSqlStatePayload, absl::Cord(state));
  return status;
}

absl::StatusOr<std::unique_ptr<PgConn>> PgConn::Connect(const ConnectOptions& options) {
  auto settings = options.settings;
  settings.insert(settings.begin(), {{"datestyle", "ISO, MDY"},
                                     {"intervalstyle", "postgres"},
                                     {"extra_float_digits", "3"},
                                     {"statement_timeout", "0"},
                                     // Backslashes in '...' are plain characters, as the
                                     // checks of user expressions assume.
                                     {"standard_conforming_strings", "on"},
                                     {"idle_in_transaction_session_timeout", "0"},
                                     // A plain BEGIN of ours means READ COMMITTED.
                                     {"default_transaction_isolation", "read committed"},
                                     // Never read through a policy: with FORCE ROW LEVEL
                                     // SECURITY the owner would copy a filtered table;
                                     // off makes such a read fail instead.
                                     {"row_security", "off"}});
  // The user's options (dsn, else PGOPTIONS) reach every session, ours
  // after them: the server applies -c settings in order, so ours win where
  // correctness needs them (the text forms of values the copy, the replay and
  // the verification compare; no statement or idle timeout cutting a batch or
  // the replication stream; READ COMMITTED unless we ask otherwise; no row
  // security filtering a read) and a per-
  // connection setting of the caller (`options.settings`) wins over both.
  std::string pgoptions = MergeSessionOptions(DsnOptions(options.dsn), std::getenv("PGOPTIONS"), settings);

  std::vector<const char*> keys, values;
  if (!options.dsn.empty()) {
    keys.push_back("dbname");
    values.push_back(options.dsn.c_str());
  }
  keys.push_back("fallback_application_name");
  values.push_back(options.application_name.c_str());
  keys.push_back("options");
  values.push_back(pgoptions.c_str());
  if (options.replication) {
    keys.push_back("replication");
    values.push_back("database");
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (conn == nullptr) return absl::UnavailableError("out of memory connecting to PostgreSQL");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = FirstLine(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(fmt::format("cannot connect to PostgreSQL: {}", message));
  }
  // Values travel as text between the tool's sessions: the replication
  // stream's row images (converted to the client encoding by the walsender)
  // are bound as parameters by the applier. A client encoding of the user's
  // (client_encoding in the dsn, PGCLIENTENCODING; the server applies it
  // after `options`) would fail on characters it cannot represent, or
  // convert twice where sessions differ. Every session speaks the server's
  // encoding, so no conversion happens anywhere.
  const char* server_encoding = PQparameterStatus(conn, "server_encoding");
  const char* client_encoding = PQparameterStatus(conn, "client_encoding");
  if (server_encoding != nullptr && client_encoding != nullptr &&
      std::string_view(server_encoding) != client_encoding && PQsetClientEncoding(conn, server_encoding) != 0) {
    std::string message = FirstLine(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(fmt::format("cannot set the client encoding to the server's ({}): {}",
                                              server_encoding, message));
  }
  return std::unique_ptr<PgConn>(new PgConn(conn));
}

PgConn::PgConn(PGconn* conn) : conn_(conn) {
  cancel_ = PQgetCancel(conn_);
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
}

PgConn::~PgConn() {
  {
    std::lock_guard<std::mutex> lock(cancel_mu_);
    if (cancel_) PQfreeCancel(cancel_);
    cancel_ = nullptr;
  }
  PQfinish(conn_);
}

absl::StatusOr<PgResult> PgConn::Exec(std::string_view sql) {
  std::string text(sql);
  PgResult result(PQexec(conn_, text.c_str()));
  auto st = PQresultStatus(result.raw());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return result;
  return StatusFromResult(conn_, result.raw(), "");
}

absl::StatusOr<PgResult> PgConn::Query(std::string_view sql, const PgParams& params) {
  std::string text(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PgResult result(PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr,
                               values.data(), nullptr, nullptr, 0));
  auto st = PQresultStatus(result.raw());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return result;
  return StatusFromResult(conn_, result.raw(), "");
}

void PgConn::Cancel() {
  std::lock_guard<std::mutex> lock(cancel_mu_);
  if (cancel_ == nullptr) return;
  char err[256];
  PQcancel(cancel_, err, sizeof err);
}

bool PgConn::InTransaction() const {
  auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

void PgConn::RollbackQuietly() {
  if (PQstatus(conn_) != CONNECTION_OK) return;
  if (PQtransactionStatus(conn_) == PQTRANS_IDLE) return;
  PQclear(PQexec(conn_, "ROLLBACK"));
}

}  // namespace shadowcopy
