// The `options` connection parameter every session sends: the user's server
// settings (from the conninfo string or URI, else PGOPTIONS, as libpq takes
// them) followed by the tool's own. The server applies -c settings in order,
// so where both set the same parameter the tool's value wins.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_COMMON_PG_OPTIONS_H_
#define SHADOWCOPY_COMMON_PG_OPTIONS_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace shadowcopy {

// The `options` value a conninfo string or URI sets; nullopt when it sets
// none or is not a conninfo string at all (a bare database name, which libpq
// does not expand either).
std::optional<std::string> DsnOptions(const std::string& dsn);

// The user's options (`dsn_options` when the dsn sets them, else
// `env_pgoptions` when not null, as libpq falls back to PGOPTIONS only for a
// parameter the connection string leaves unset) then ours as "-c key=value",
// spaces and backslashes in values backslash-escaped.
std::string MergeSessionOptions(const std::optional<std::string>& dsn_options, const char* env_pgoptions,
                                const std::vector<std::pair<std::string, std::string>>& settings);

}  // namespace shadowcopy

#endif  // SHADOWCOPY_COMMON_PG_OPTIONS_H_
