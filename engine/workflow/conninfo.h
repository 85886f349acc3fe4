// Connection strings of the rehearsal: the user's dsn (key=value or URI, or
// "" for the PG* environment) with its database replaced, and the string that
// reaches the throwaway server's socket.
//
// Pure (libpq's parser only, no connection). Thread-safety: stateless.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_CONNINFO_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_CONNINFO_H_

#include <string>

#include "absl/status/statusor.h"

namespace shadowcopy::workflow {

// `dsn` as key='value' pairs, with dbname set to `dbname`. Settings the dsn
// leaves out still come from the PG* environment. InvalidArgument for a dsn
// libpq cannot parse.
absl::StatusOr<std::string> WithDatabase(const std::string& dsn, const std::string& dbname);

// key='value' with the value's backslashes and quotes escaped.
std::string ConninfoPair(const std::string& key, const std::string& value);

// The throwaway server's: its socket directory, port, superuser and database.
std::string LocalConninfo(const std::string& socket_dir, int port, const std::string& dbname);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_CONNINFO_H_
