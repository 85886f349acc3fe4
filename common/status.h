// Status helpers shared by every module: the propagation macros Debian's Abseil
// lacks, and constructors that attach a SQLSTATE as payload.
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_COMMON_STATUS_H_
#define SHADOWCOPY_COMMON_STATUS_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/absl_fmt.h"

namespace shadowcopy {

// Payload URL under which a PostgreSQL SQLSTATE is attached to a Status.
inline constexpr absl::string_view kSqlStatePayload = "shadowcopy/sqlstate";

// Returns the SQLSTATE attached to `status`, or "" when there is none.
std::string SqlStateOf(const absl::Status& status);

// Returns `status` with a prefix added to its message (code and payloads kept).
absl::Status Annotate(const absl::Status& status, std::string_view prefix);

}  // namespace shadowcopy

#define SC_CONCAT_INNER_(a, b) a##b
#define SC_CONCAT_(a, b) SC_CONCAT_INNER_(a, b)

// Returns from the current function when `expr` yields a non-OK Status.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status sc_status_ = (expr);                \
    if (!sc_status_.ok()) return sc_status_;           \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, F())` declares x from an OK StatusOr, else returns.
#define ASSIGN_OR_RETURN(lhs, expr) \
  SC_ASSIGN_OR_RETURN_IMPL_(SC_CONCAT_(sc_statusor_, __LINE__), lhs, expr)
#define SC_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#endif  // SHADOWCOPY_COMMON_STATUS_H_
