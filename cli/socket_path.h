// Where a run's control socket lives and how both ends make sure they talk to
// the right peer.
//
// The default socket of a run is
//   <dir>/shadowcopy-<schema.table>-<key>.sock
// where <dir> is $XDG_RUNTIME_DIR when it is ours and mode 0700, else
// ${TMPDIR:-/tmp}/shadowcopy-<uid> (created 0700 when missing, refused when it
// is a symlink, not ours, or writable by group or others); <schema.table> is
// the sanitised, shortened name (readability only) and <key> is a hash of the
// database (host, port, dbname as libpq would resolve them from the DSN and
// the PG* variables) and the exact schema and table names. `ctl --table T`
// computes the same path without a database connection. When that path is
// taken by a live socket a run serves <...>-<key>-<pid>.sock instead.
//
// Thread-safety: the pure functions are thread-safe; the I/O ones read the
// environment and the file system.
#ifndef SHADOWCOPY_CLI_SOCKET_PATH_H_
#define SHADOWCOPY_CLI_SOCKET_PATH_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace shadowcopy::cli {

// --- pure ---

// The database a DSN names: "host=H port=P dbname=D" with libpq's
// precedence (the DSN, then PGHOST/PGPORT/PGDATABASE, then PGUSER or `login`
// for the database). `getenv` looks up an environment variable (null when
// unset). A DSN libpq cannot parse is used verbatim.
std::string DatabaseIdentity(const std::string& dsn, const std::function<const char*(const char*)>& getenv,
                             const std::string& login);

// 64-bit FNV-1a of identity, schema and table (separated by NULs).
uint64_t SocketKey(std::string_view identity, std::string_view schema, std::string_view table);

// "<dir>/shadowcopy-<name>-<key as 12 hex digits>.sock", the name shortened
// so that the path and a "-<pid>" fallback suffix fit a socket address.
std::string SocketPathIn(std::string_view dir, std::string_view schema, std::string_view table, uint64_t key);

// The fallback of `path` for process `pid`: "-<pid>" before ".sock".
std::string FallbackSocketPath(std::string_view path, long pid);

// True when `name` (a file name, no directory) is `default_name` or one of
// its fallbacks (`default_name` with "-<digits>" before ".sock").
bool IsSocketNameFor(std::string_view default_name, std::string_view name);

// OK when a directory with lstat() result `st` may hold our sockets: a real
// directory (not a symlink), owned by `uid`, no group or other write
// permission; with `private_only` also no group or other permission at all
// (what $XDG_RUNTIME_DIR must have). FailedPrecondition naming `dir` and the
// reason otherwise.
absl::Status CheckSocketDir(std::string_view dir, const struct stat& st, uid_t uid, bool private_only);

// True when a peer with credentials uid `peer` may use the socket of a
// process running as `self` (the same user, or root).
inline bool PeerAllowed(uid_t peer, uid_t self) { return peer == self || peer == 0; }

// The reply of the `identify` command for a run with `key`.
std::string IdentifyReply(uint64_t key);

// --- I/O ---

// The directory for default sockets (see above), created when missing.
// FailedPrecondition (one line, with what to do) when it is not safe.
absl::StatusOr<std::string> ControlSocketDir();

// The default socket path of `schema`.`table` on the database `dsn` names.
absl::StatusOr<std::string> DefaultControlSocketPath(const std::string& dsn, std::string_view schema,
                                                     std::string_view table);
// The socket key of `schema`.`table` on the database `dsn` names.
uint64_t DefaultSocketKey(const std::string& dsn, std::string_view schema, std::string_view table);

// The sockets in the directory of `default_path` that are it or one of its
// fallbacks, default first.
std::vector<std::string> SocketCandidates(const std::string& default_path);

// The uid of the process at the other end of connected Unix socket `fd`;
// Unavailable when the kernel does not say.
absl::StatusOr<uid_t> PeerUid(int fd);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_SOCKET_PATH_H_
