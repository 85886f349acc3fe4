// `shadowcopy ctl`: sends one command to a running run's control
// socket and prints the reply, so nobody needs `nc -U`.
//
// Thread-safety: stateless; blocks the calling thread for at most the reply
// timeout.
#ifndef SHADOWCOPY_CLI_CTL_H_
#define SHADOWCOPY_CLI_CTL_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace shadowcopy::cli {

// One connection to a control socket, several commands in turn.
class ControlConnection {
 public:
  // Connects to `socket_path` after checking that the file is a socket owned
  // by this user (or root) and, once connected, that the listening process
  // runs as this user (or root): PermissionDenied otherwise, nothing sent.
  // Unavailable when nothing listens there.
  static absl::StatusOr<ControlConnection> Open(const std::string& socket_path, std::chrono::milliseconds timeout);
  ControlConnection(ControlConnection&& other) noexcept;
  ControlConnection& operator=(ControlConnection&&) = delete;
  ~ControlConnection();

  // Sends `command` (one line) and returns the reply line (without its
  // newline). Unavailable when no reply comes within `timeout`.
  absl::StatusOr<std::string> Request(const std::string& command, std::chrono::milliseconds timeout);

 private:
  ControlConnection() = default;
  int fd_ = -1;
  std::string path_;
  std::string pending_;  // received bytes after the last reply line
};

// A connection to the run whose socket key is `key` (socket_path.h): at
// `default_path` or, when something else answers there, at one of its
// fallbacks; each candidate must answer `identify` with the key before
// anything else is sent. Unavailable naming the default path otherwise.
absl::StatusOr<ControlConnection> ConnectToRun(const std::string& default_path, uint64_t key,
                                               std::chrono::milliseconds timeout);

// Connects to `socket_path` (ControlConnection::Open), sends `command` as one line and returns the
// reply line (without its newline). Unavailable when nothing listens there
// or no reply comes within `timeout`.
absl::StatusOr<std::string> SendControlCommand(const std::string& socket_path, const std::string& command,
                                               std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Sends `command`, prints the reply: on stdout, or on stderr when it starts
// with "error:". Returns 0 on a good reply, 1 on an error reply, 3 when the
// socket cannot be reached (with "shadowcopy: error: ..." on stderr).
int RunCtl(const std::string& socket_path, const std::string& command);

// The `ctl` subcommand; `args` follow the word ctl:
//   --socket PATH | --table T [--schema S] [--dsn DSN]   then the command's words
// (--table finds the run of T on the database DSN names, as ConnectToRun;
// --print-socket prints that run's default socket path and exits.)
// The command's words are joined with single spaces. Returns 2 on a usage
// error, else as RunCtl.
int CtlMain(const std::vector<std::string>& args);

// The `verify` subcommand; `args` follow the word verify:
//   --socket PATH | --table T [--schema S] [--dsn DSN]
// Asks the running rewrite to verify now (`verify`) and waits for the
// outcome (`verify-result N`), printing progress lines on stderr and the
// report on stdout. Returns 0 when the tables matched (after repairs, if
// any), 1 when verification failed, 2 on a usage error, 3 when the socket
// cannot be reached or the rewrite ended before answering.
int VerifyMain(const std::vector<std::string>& args);

// The `revert` subcommand; `args` follow the word revert:
//   --socket PATH | --table T [--schema S] [--dsn DSN]   [--execute]
// Asks the run in its revert window to swap the old table back (`revert`)
// and waits for the run to end; without --execute only says what it would
// do. Returns 0 once asked and ended, 1 when the run is not in its window,
// 2 on a usage error, 3 when the socket cannot be reached.
int RevertMain(const std::vector<std::string>& args);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_CTL_H_
