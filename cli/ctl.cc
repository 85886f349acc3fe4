#include "cli/ctl.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include "CLI/CLI.hpp"
#include "cli/control_server.h"
#include "cli/socket_path.h"
#include "common/absl_fmt.h"
#include "common/pg.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::UnavailableError(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

}  // namespace

ControlConnection::~ControlConnection() {
  if (fd_ >= 0) ::close(fd_);
}

ControlConnection::ControlConnection(ControlConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), pending_(std::move(other.pending_)) {}

absl::StatusOr<ControlConnection> ControlConnection::Open(const std::string& socket_path,
                                                          std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path)
    return absl::InvalidArgumentError(fmt::format("invalid socket path '{}'", socket_path));
  uid_t self = ::geteuid();
  // The file's owner first: a socket someone else made is not talked to.
  struct stat st;
  if (::lstat(socket_path.c_str(), &st) != 0) return Errno("cannot connect to the control socket", socket_path);
  if (!S_ISSOCK(st.st_mode))
    return absl::FailedPreconditionError(fmt::format("{} is not a socket", socket_path));
  if (!PeerAllowed(st.st_uid, self))
    return absl::PermissionDeniedError(
        fmt::format("{} belongs to uid {}, not to you (uid {}); not talking to it", socket_path, st.st_uid, self));
  ControlConnection c;
  c.path_ = socket_path;
  c.fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c.fd_ < 0) return Errno("socket for", socket_path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size());
  if (::connect(c.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Errno("cannot connect to the control socket", socket_path);
  // ... then the process that listens (the file may have been replaced).
  auto peer = PeerUid(c.fd_);
  if (!peer.ok()) return peer.status();
  if (!PeerAllowed(*peer, self))
    return absl::PermissionDeniedError(fmt::format(
        "the process listening on {} runs as uid {}, not as you (uid {}); not talking to it", socket_path, *peer,
        self));
  (void)timeout;
  return c;
}

absl::StatusOr<std::string> ControlConnection::Request(const std::string& command, std::chrono::milliseconds timeout) {
  if (command.find('\n') != std::string::npos) return absl::InvalidArgumentError("a command is one line");
  std::string line = command + "\n";
  for (size_t done = 0; done < line.size();) {
    ssize_t n = ::send(fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot send to", path_);
    done += static_cast<size_t>(n);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (pending_.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return absl::UnavailableError(fmt::format("no reply from {} within {} ms", path_, timeout.count()));
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Errno("cannot wait for", path_);
    if (r == 0) continue;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot read from", path_);
    if (n == 0) {
      if (pending_.empty())
        return absl::UnavailableError(fmt::format("{} closed the connection without a reply", path_));
      pending_ += '\n';
      break;
    }
    pending_.append(buf, static_cast<size_t>(n));
  }
  size_t nl = pending_.find('\n');
  std::string reply = pending_.substr(0, nl);
  pending_.erase(0, nl + 1);
  return reply;
}

absl::StatusOr<std::string> SendControlCommand(const std::string& socket_path, const std::string& command,
                                               std::chrono::milliseconds timeout) {
  if (command.find('\n') != std::string::npos) return absl::InvalidArgumentError("a command is one line");
  auto c = ControlConnection::Open(socket_path, timeout);
  if (!c.ok()) return c.status();
  return c->Request(command, timeout);
}

absl::StatusOr<ControlConnection> ConnectToRun(const std::string& default_path, uint64_t key,
                                               std::chrono::milliseconds timeout) {
  std::string expected = IdentifyReply(key);
  std::string why;
  for (const std::string& path : SocketCandidates(default_path)) {
    auto c = ControlConnection::Open(path, timeout);
    absl::StatusOr<std::string> id = c.ok() ? c->Request("identify", std::min(timeout, std::chrono::milliseconds(5000)))
                                            : absl::StatusOr<std::string>(c.status());
    if (id.ok() && *id == expected) return std::move(*c);
    struct stat st;
    if (path == default_path && ::lstat(path.c_str(), &st) == 0)
      why = id.ok() ? fmt::format("; {} answers but is not this run", path) : fmt::format("; {}", id.status().message());
  }
  return absl::UnavailableError(
      fmt::format("no shadowcopy run of this table on this database answers at {} or a fallback of it{}",
                  default_path, why));
}

namespace {

// Parses --socket/--table/--schema/--dsn and the command words after them.
struct CtlArgs {
  std::string socket, schema = "public", table, dsn;
  bool print_socket = false;
  std::vector<std::string> words;
};

absl::StatusOr<CtlArgs> ParseCtlArgs(const std::vector<std::string>& args) {
  CtlArgs out;
  CLI::App app{"", "shadowcopy ctl"};
  app.set_help_flag();
  app.prefix_command();  // everything from the first command word on belongs to the command
  for (auto [name, target] : {std::pair{"--socket", &out.socket}, std::pair{"--table", &out.table},
                              std::pair{"--schema", &out.schema}, std::pair{"--dsn", &out.dsn}})
    app.add_option(name, *target)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("--print-socket", out.print_socket);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ArgumentMismatch& e) {
    std::string what = e.what();
    return absl::InvalidArgumentError(fmt::format("{} needs a value", what.substr(0, what.find(':'))));
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  out.words = app.remaining();
  if (!out.words.empty() && out.words.front().rfind("--", 0) == 0)
    return absl::InvalidArgumentError(fmt::format("unknown option '{}'", out.words.front()));
  if (out.socket.empty() && out.table.empty())
    return absl::InvalidArgumentError("--socket PATH (or --table T) is required");
  return out;
}

// A connection to the run `args` name: --socket as given (owner and peer
// checked), or the run of --table on the database --dsn names, found at its
// default path or a fallback and identified by its key.
absl::StatusOr<ControlConnection> Connect(const CtlArgs& args) {
  constexpr auto kTimeout = std::chrono::seconds(30);
  if (!args.socket.empty()) return ControlConnection::Open(args.socket, kTimeout);
  auto path = DefaultControlSocketPath(args.dsn, args.schema, args.table);
  if (!path.ok()) return path.status();
  return ConnectToRun(*path, DefaultSocketKey(args.dsn, args.schema, args.table), kTimeout);
}

int Unreachable(const CtlArgs& args, const absl::Status& st) {
  std::fprintf(stderr, "shadowcopy: error: %s%s\n", std::string(st.message()).c_str(),
               args.socket.empty() ? " (is the migration running, with this --dsn?)"
                                   : " (is the migration running with this --socket?)");
  return 3;
}

int PrintReply(const std::string& reply) {
  bool error = reply.rfind("error:", 0) == 0;
  std::fprintf(error ? stderr : stdout, "%s\n", reply.c_str());
  std::fflush(error ? stderr : stdout);
  return error ? 1 : 0;
}

}  // namespace

int RunCtl(const std::string& socket_path, const std::string& command) {
  auto reply = SendControlCommand(socket_path, command);
  if (!reply.ok()) {
    std::fprintf(stderr, "shadowcopy: error: %s (is the migration running with this --socket?)\n",
                 std::string(reply.status().message()).c_str());
    return 3;
  }
  return PrintReply(*reply);
}

int CtlMain(const std::vector<std::string>& args) {
  auto usage = [](std::string_view msg) {
    std::fprintf(stderr,
                 "shadowcopy: error: %.*s\nusage: shadowcopy ctl (--socket PATH | --table T [--schema S] [--dsn DSN]) "
                 "COMMAND...   (COMMAND: help for the list)\n",
                 static_cast<int>(msg.size()), msg.data());
    return 2;
  };
  auto parsed = ParseCtlArgs(args);
  if (!parsed.ok()) return usage(std::string(parsed.status().message()));
  if (parsed->print_socket) {
    if (parsed->table.empty()) return usage("--print-socket needs --table");
    auto path = DefaultControlSocketPath(parsed->dsn, parsed->schema, parsed->table);
    if (!path.ok()) {
      std::fprintf(stderr, "shadowcopy: error: %s\n", std::string(path.status().message()).c_str());
      return 1;
    }
    std::printf("%s\n", path->c_str());
    return 0;
  }
  if (parsed->words.empty()) return usage("no command given");
  std::string command;
  for (const auto& w : parsed->words) command += (command.empty() ? "" : " ") + w;
  if (command.find('\n') != std::string::npos) return usage("a command is one line");
  auto conn = Connect(*parsed);
  if (!conn.ok()) return Unreachable(*parsed, conn.status());
  auto reply = conn->Request(command, std::chrono::seconds(30));
  if (!reply.ok()) return Unreachable(*parsed, reply.status());
  return PrintReply(*reply);
}

int VerifyMain(const std::vector<std::string>& args) {
  auto parsed = ParseCtlArgs(args);
  if (parsed.ok() && !parsed->words.empty())
    parsed = absl::InvalidArgumentError(fmt::format("unexpected argument '{}'", parsed->words[0]));
  if (!parsed.ok()) {
    std::fprintf(stderr,
                 "shadowcopy: error: %s\nusage: shadowcopy verify (--table T [--schema S] [--dsn DSN] | --socket PATH)\n",
                 std::string(parsed.status().message()).c_str());
    return 2;
  }
  auto conn = Connect(*parsed);
  if (!conn.ok()) return Unreachable(*parsed, conn.status());
  auto reply = conn->Request("verify", std::chrono::seconds(30));
  if (!reply.ok()) return Unreachable(*parsed, reply.status());
  unsigned long long request = 0;
  if (std::sscanf(reply->c_str(), "ok: verification requested (request %llu)", &request) != 1) {
    std::fprintf(stderr, "shadowcopy: error: unexpected reply: %s\n", reply->c_str());
    return 1;
  }
  std::fprintf(stderr, "verification requested (request %llu); waiting for it\n", request);
  std::string last;
  for (;;) {
    auto r = conn->Request(fmt::format("verify-result {}", request), std::chrono::seconds(30));
    if (!r.ok())
      return Unreachable(*parsed, absl::UnavailableError(fmt::format(
          "the migration stopped answering before verification {} finished: {}", request, r.status().message())));
    if (r->rfind("pending:", 0) != 0) {
      bool error = r->rfind("error:", 0) == 0;
      std::fprintf(error ? stderr : stdout, "%s\n", r->c_str());
      return error ? 1 : 0;
    }
    if (*r != last) std::fprintf(stderr, "%s\n", r->c_str());
    last = *r;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace shadowcopy::cli

namespace shadowcopy::cli {
namespace {

// How the run's revert window ended, from its row in
// shadowcopy.revert_windows (the run itself has gone): "reverted", or why
// not. Needs the --table form (the socket alone names no table); nullopt
// when it cannot be read.
std::optional<std::string> RecordedRevertOutcome(const CtlArgs& a) {
  if (a.table.empty()) return std::nullopt;
  ConnectOptions co;
  co.dsn = a.dsn;
  co.application_name = "shadowcopy_revert";
  auto conn = PgConn::Connect(co);
  if (!conn.ok()) return std::nullopt;
  // Two queries: a statement naming a table that does not exist fails at parse.
  auto exists = (*conn)->Query("SELECT to_regclass('shadowcopy.revert_windows') IS NOT NULL");
  if (!exists.ok() || !exists->GetBool(0, 0)) return std::nullopt;
  auto r = (*conn)->Query("SELECT coalesce(outcome, state) FROM shadowcopy.revert_windows "
                          "WHERE table_name = $1 AND schema_name = coalesce(nullif($2, ''), current_schema()) "
                          "ORDER BY updated_at DESC LIMIT 1", {a.table, a.schema});
  if (!r.ok() || r->Rows() == 0) return std::nullopt;
  return r->GetString(0, 0);
}

}  // namespace

int RevertMain(const std::vector<std::string>& args) {
  std::vector<std::string> rest;
  bool execute = false;
  for (const auto& a : args) {
    if (a == "--execute") execute = true;
    else rest.push_back(a);
  }
  auto parsed = ParseCtlArgs(rest);
  if (parsed.ok() && !parsed->words.empty())
    parsed = absl::InvalidArgumentError(fmt::format("unexpected argument '{}'", parsed->words[0]));
  if (!parsed.ok()) {
    std::fprintf(stderr, "shadowcopy: error: %s\nusage: shadowcopy revert (--table T [--schema S] [--dsn DSN] | "
                         "--socket PATH) [--execute]\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  auto conn = Connect(*parsed);
  if (!conn.ok()) return Unreachable(*parsed, conn.status());
  auto status = conn->Request("status", std::chrono::seconds(30));
  if (!status.ok()) return Unreachable(*parsed, status.status());
  if (status->rfind("revert-window:", 0) != 0) {
    std::fprintf(stderr, "shadowcopy: error: the run is not in its revert window (%s)\n", status->c_str());
    return 1;
  }
  if (!execute) {
    std::printf("dry run: the run is in its revert window (%s); with --execute the run catches up with "
                "every write and swaps the old table back under the cutover's fence\n", status->c_str());
    return 0;
  }
  auto reply = conn->Request("revert", std::chrono::seconds(30));
  if (!reply.ok()) return Unreachable(*parsed, reply.status());
  if (int rc = PrintReply(*reply); rc != 0) return rc;
  // The run swaps back and ends: wait for its socket to go away.
  for (int i = 0; i < 6000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!conn->Request("status", std::chrono::seconds(5)).ok()) {
      auto outcome = RecordedRevertOutcome(*parsed);
      if (!outcome) {
        std::fprintf(stderr, "the run has ended; its log and exit status say whether the swap back committed\n");
        return 0;
      }
      if (*outcome == "reverted") {
        std::printf("reverted: the old table is back in place with every write\n");
        return 0;
      }
      std::fprintf(stderr, "shadowcopy: error: not reverted: %s\n", outcome->c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "shadowcopy: error: the run did not end within 10 minutes\n");
  return 1;
}

}  // namespace shadowcopy::cli
