// A real physical standby of the test server, made for one test: a base
// backup (pg_basebackup -R) into a fresh directory under /tmp, started on its
// own socket directory with hot_standby on, streaming from the test server
// (reached through the PG* environment variables, whose local replication
// connections are trusted). As root, the PostgreSQL programs run as the
// `postgres` OS user (the server refuses root), like scripts/lib/pg.sh.
//
// The destructor stops the standby (immediate shutdown) and removes its
// directory, whatever the test's outcome. A paused standby makes every
// throttler on the server wait: tests that make one run with the server to
// themselves (DatabaseTest::exclusive_server_).
//
// Thread-safety: one test thread.
#ifndef SHADOWCOPY_TESTS_INTEGRATION_STANDBY_H_
#define SHADOWCOPY_TESTS_INTEGRATION_STANDBY_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/pg.h"

namespace shadowcopy::it {

class LocalStandby {
 public:
  // Makes and starts the standby, named `application_name` in the primary's
  // pg_stat_replication, and waits until it streams.
  static absl::StatusOr<std::unique_ptr<LocalStandby>> Start(const std::string& application_name);
  // Not a standby: a separate fresh server (initdb), its postgresql.conf
  // ending with `extra_conf` lines (e.g. "wal_level = replica").
  static absl::StatusOr<std::unique_ptr<LocalStandby>> StartFresh(const std::string& name,
                                                                   const std::string& extra_conf);
  ~LocalStandby();
  LocalStandby(const LocalStandby&) = delete;
  LocalStandby& operator=(const LocalStandby&) = delete;

  // libpq conninfo of database `dbname` on the standby.
  std::string Dsn(const std::string& dbname) const;
  absl::StatusOr<std::unique_ptr<PgConn>> Connect(const std::string& dbname) const;
  const std::string& name() const { return name_; }
  // The standby's server log (for failure messages).
  std::string Log() const;

 private:
  LocalStandby(std::string dir, std::string name) : dir_(std::move(dir)), name_(std::move(name)) {}
  // Runs a PostgreSQL program (as postgres when root) in dir_; its output
  // goes to dir_/cmd.log. Error with that output when it fails.
  absl::Status RunTool(const std::vector<std::string>& argv) const;

  const std::string dir_;
  const std::string name_;
  bool started_ = false;
};

}  // namespace shadowcopy::it

#endif  // SHADOWCOPY_TESTS_INTEGRATION_STANDBY_H_
