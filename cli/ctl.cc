#include "cli/ctl.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "cli/control_server.h"
#include "common/absl_fmt.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::UnavailableError(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

// Closes the descriptor on scope exit.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

absl::StatusOr<std::string> SendControlCommand(const std::string& socket_path, const std::string& command,
                                               std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path)
    return absl::InvalidArgumentError(fmt::format("invalid socket path '{}'", socket_path));
  if (command.find('\n') != std::string::npos)
    return absl::InvalidArgumentError("a command is one line");
  Fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) return Errno("socket for", socket_path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size());
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Errno("cannot connect to the control socket", socket_path);
  std::string line = command + "\n";
  for (size_t done = 0; done < line.size();) {
    ssize_t n = ::send(s.fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot send to", socket_path);
    done += static_cast<size_t>(n);
  }
  std::string reply;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (reply.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return absl::UnavailableError(fmt::format("no reply from {} within {} ms", socket_path, timeout.count()));
    pollfd p{s.fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Errno("cannot wait for", socket_path);
    if (r == 0) continue;
    ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot read from", socket_path);
    if (n == 0) {
      if (reply.empty())
        return absl::UnavailableError(fmt::format("{} closed the connection without a reply", socket_path));
      break;
    }
    reply.append(buf, static_cast<size_t>(n));
  }
  if (auto nl = reply.find('\n'); nl != std::string::npos) reply.resize(nl);
  return reply;
}

int RunCtl(const std::string& socket_path, const std::string& command) {
  auto reply = SendControlCommand(socket_path, command);
  if (!reply.ok()) {
    std::fprintf(stderr, "shadowcopy: error: %s (is the migration running with this --socket?)\n",
                 std::string(reply.status().message()).c_str());
    return 3;
  }
  bool error = reply->rfind("error:", 0) == 0;
  std::fprintf(error ? stderr : stdout, "%s\n", reply->c_str());
  std::fflush(error ? stderr : stdout);
  return error ? 1 : 0;
}

namespace {

// Parses --socket/--table/--schema and the command words after them.
struct CtlArgs {
  std::string socket, schema = "public", table;
  std::vector<std::string> words;
};

absl::StatusOr<CtlArgs> ParseCtlArgs(const std::vector<std::string>& args) {
  CtlArgs out;
  std::string& socket = out.socket;
  std::string& schema = out.schema;
  std::string& table = out.table;
  std::vector<std::string>& words = out.words;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!words.empty()) {  // everything after the first command word belongs to the command
      words.push_back(a);
      continue;
    }
    std::string* target = nullptr;
    std::string name = a, value;
    bool inline_value = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    if (name == "--socket") target = &socket;
    else if (name == "--table") target = &table;
    else if (name == "--schema") target = &schema;
    if (target == nullptr) {
      if (a.rfind("--", 0) == 0) return absl::InvalidArgumentError(fmt::format("unknown option '{}'", a));
      words.push_back(a);
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(fmt::format("{} needs a value", name));
      value = args[++i];
    }
    *target = value;
  }
  if (socket.empty() && table.empty())
    return absl::InvalidArgumentError("--socket PATH (or --table T) is required");
  if (socket.empty()) socket = DefaultControlSocketPath(schema, table);
  return out;
}

}  // namespace

int CtlMain(const std::vector<std::string>& args) {
  auto usage = [](std::string_view msg) {
    std::fprintf(stderr,
                 "shadowcopy: error: %.*s\nusage: shadowcopy ctl (--socket PATH | --table T [--schema S]) "
                 "COMMAND...   (COMMAND: help for the list)\n",
                 static_cast<int>(msg.size()), msg.data());
    return 2;
  };
  auto parsed = ParseCtlArgs(args);
  if (!parsed.ok()) return usage(std::string(parsed.status().message()));
  if (parsed->words.empty()) return usage("no command given");
  std::string command;
  for (const auto& w : parsed->words) command += (command.empty() ? "" : " ") + w;
  return RunCtl(parsed->socket, command);
}

int VerifyMain(const std::vector<std::string>& args) {
  auto parsed = ParseCtlArgs(args);
  if (parsed.ok() && !parsed->words.empty())
    parsed = absl::InvalidArgumentError(fmt::format("unexpected argument '{}'", parsed->words[0]));
  if (!parsed.ok()) {
    std::fprintf(stderr, "shadowcopy: error: %s\nusage: shadowcopy verify (--table T [--schema S] | --socket PATH)\n",
                 std::string(parsed.status().message()).c_str());
    return 2;
  }
  const std::string& socket = parsed->socket;
  auto unreachable = [&](const absl::Status& st) {
    std::fprintf(stderr, "shadowcopy: error: %s (is the migration running with this --socket?)\n",
                 std::string(st.message()).c_str());
    return 3;
  };
  auto reply = SendControlCommand(socket, "verify");
  if (!reply.ok()) return unreachable(reply.status());
  unsigned long long request = 0;
  if (std::sscanf(reply->c_str(), "ok: verification requested (request %llu)", &request) != 1) {
    std::fprintf(stderr, "shadowcopy: error: unexpected reply: %s\n", reply->c_str());
    return 1;
  }
  std::fprintf(stderr, "verification requested (request %llu); waiting for it\n", request);
  std::string last;
  for (;;) {
    auto r = SendControlCommand(socket, fmt::format("verify-result {}", request));
    if (!r.ok())
      return unreachable(absl::UnavailableError(fmt::format(
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
