// The state tables (the rewrite's runs, the backfills) keep keys and
// statement lists as text[]: a literal of `values`, and the elements of such
// a literal (parsed by the server).
//
// Thread-safety: TextArrayOf is pure; ParseTextArray uses the connection
// passed in.
#ifndef SHADOWCOPY_ENGINE_TABLE_TEXT_ARRAY_H_
#define SHADOWCOPY_ENGINE_TABLE_TEXT_ARRAY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"

namespace shadowcopy::engine {

std::string TextArrayOf(const std::vector<std::string>& values);
absl::StatusOr<std::vector<std::string>> ParseTextArray(PgConn* conn, std::string_view literal);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_TABLE_TEXT_ARRAY_H_
