// The throwaway PostgreSQL server of a local rehearsal: found among the
// locally installed binaries of the target's major version, initdb'd into a
// private temporary directory, listening on a unix socket in it only (no TCP),
// run as an unprivileged OS user when we are root, durability off (fsync,
// full_page_writes, synchronous_commit: nothing in it outlives the run).
// Destroying a LocalServer stops the server (immediate shutdown) and the
// directory goes with its TempDir; the server also dies with our process
// (parent-death signal), see subprocess.h.
//
// Thread-safety: one owner thread.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_REHEARSAL_SERVER_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_REHEARSAL_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/workflow/subprocess.h"

namespace shadowcopy::workflow {

// A private temporary directory (mode 0700, owned by `user` when given),
// removed with everything in it on destruction.
class TempDir {
 public:
  static absl::StatusOr<std::unique_ptr<TempDir>> Make(const std::optional<OsUser>& user);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// The directory holding `tools` of PostgreSQL `major`, searched in
// /usr/lib/postgresql/<major>/bin, /usr/pgsql-<major>/bin and
// `pg_config --bindir` (when its version is that major). With `or_newer`, a
// newer major's directory is accepted too (pg_dump reads older servers).
// FailedPrecondition naming the places looked at when none has them.
absl::StatusOr<std::string> FindBinDir(int major, const std::vector<std::string>& tools, bool or_newer);

class LocalServer {
 public:
  // initdb (encoding `encoding`, locale C) into `dir`/data and starts the
  // server, waiting until it accepts connections. FailedPrecondition when
  // initdb or the server fail (their log's error line), Cancelled on `stop`.
  static absl::StatusOr<std::unique_ptr<LocalServer>> Start(const std::string& bindir, const std::string& dir,
                                                            const std::optional<OsUser>& user,
                                                            const std::string& encoding,
                                                            const std::stop_token& stop);
  ~LocalServer();  // stops the server
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  // A libpq connection string to database `dbname` of this server.
  std::string Conninfo(const std::string& dbname) const;
  pid_t pid() const { return pid_; }

 private:
  LocalServer(std::string dir, pid_t pid) : dir_(std::move(dir)), pid_(pid) {}
  std::string dir_;
  pid_t pid_;
};

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_REHEARSAL_SERVER_H_
