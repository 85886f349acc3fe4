#include "cli/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <istream>
#include <thread>
#include <vector>

#include "cli/socket_path.h"
#include "common/log.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

namespace asio = boost::asio;
using Local = asio::local::stream_protocol;

constexpr size_t kMaxLine = 4096;

std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (i < line.size()) {
    while (i < line.size() && blank(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !blank(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

absl::Status Malformed(std::string_view msg) {
  return absl::InvalidArgumentError(fmt::format("{} (try help)", msg));
}

constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;

// True when something accepts connections on `path`.
bool Answers(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

absl::StatusOr<ControlCommand> ParseControlCommand(std::string_view line) {
  std::vector<std::string_view> w = Words(line);
  if (w.empty()) return Malformed("empty command");
  ControlCommand c;
  std::string_view verb = w[0];
  size_t args = w.size() - 1;
  auto no_args = [&](ControlVerb v) -> absl::StatusOr<ControlCommand> {
    if (args != 0) return Malformed(fmt::format("{} takes no arguments", verb));
    c.verb = v;
    return c;
  };
  if (verb == "help") return no_args(ControlVerb::kHelp);
  if (verb == "resume") return no_args(ControlVerb::kResume);
  if (verb == "cutover") return no_args(ControlVerb::kCutover);
  if (verb == "abort") return no_args(ControlVerb::kAbort);
  if (verb == "revert") return no_args(ControlVerb::kRevert);
  if (verb == "verify") return no_args(ControlVerb::kVerify);
  if (verb == "verify-result") {
    uint64_t n = 0;
    auto r = args == 1 ? std::from_chars(w[1].data(), w[1].data() + w[1].size(), n) : std::from_chars_result{};
    if (args != 1 || r.ec != std::errc() || r.ptr != w[1].data() + w[1].size() || n == 0)
      return Malformed("usage: verify-result N");
    c.verb = ControlVerb::kVerifyResult;
    c.request = n;
    return c;
  }
  if (verb == "status") {
    c.verb = ControlVerb::kStatus;
    if (args == 0) return c;
    if (args == 1 && w[1] == "--json") {
      c.json = true;
      return c;
    }
    return Malformed("usage: status [--json]");
  }
  if (verb == "pause") {
    c.verb = ControlVerb::kPause;
    if (args == 0) return c;
    if (args == 1 && w[1] == "--replay") {
      c.replay = true;
      return c;
    }
    return Malformed("usage: pause [--replay]");
  }
  if (verb == "get") {
    if (args != 1) return Malformed("usage: get NAME");
    c.verb = ControlVerb::kGet;
    c.name = std::string(w[1]);
    return c;
  }
  if (verb == "set") {
    if (args != 1) return Malformed("usage: set NAME=VALUE");
    auto eq = w[1].find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == w[1].size())
      return Malformed("usage: set NAME=VALUE");
    c.verb = ControlVerb::kSet;
    c.name = std::string(w[1].substr(0, eq));
    c.value = std::string(w[1].substr(eq + 1));
    return c;
  }
  return Malformed(fmt::format("unknown command '{}'", verb.substr(0, 64)));
}

std::string ControlHelpText(const engine::Control& control) {
  std::string tunables;
  for (const auto& t : control.Tunables()) tunables += fmt::format(" {}={}", t.name, t.value);
  if (control.kind() == engine::ControlKind::kBackfill)
    return "commands: status [--json] | pause | resume | set NAME=VALUE | get NAME | abort | help; tunables:" +
           tunables;
  return "commands: status [--json] | pause [--replay] | resume | set NAME=VALUE | get NAME | cutover | "
         "verify | verify-result N | revert | abort | help; tunables:" + tunables;
}

std::string ExecuteControlCommand(engine::Control& control, const ControlCommand& c) {
  switch (c.verb) {
    case ControlVerb::kHelp:
      return ControlHelpText(control);
    case ControlVerb::kStatus:
      return c.json ? control.StatusJson() : control.StatusText();
    case ControlVerb::kPause:
      if (control.kind() == engine::ControlKind::kBackfill) {
        if (c.replay) return "error: a backfill has no replay (use pause)";
        return control.Pause() ? "ok: paused the backfill (after the batch in flight)" : "ok: already paused";
      }
      if (!control.Pause(c.replay)) return "ok: already paused";
      return c.replay ? "ok: paused the copy and the replay" : "ok: paused the copy (replay continues)";
    case ControlVerb::kResume:
      return control.Resume() ? "ok: resumed" : "ok: not paused";
    case ControlVerb::kSet: {
      absl::Status st = control.Set(c.name, c.value);
      if (!st.ok()) return fmt::format("error: {}", st.message());
      auto v = control.Get(c.name);
      std::string mode;
      if (c.name == "chunk-size" || c.name == "batch-size") mode = " (fixed size)";
      if (c.name == "target-chunk-time" || c.name == "target-batch-time") mode = " (adaptive sizing)";
      return fmt::format("ok: {}={}{}", c.name, v.ok() ? *v : c.value, mode);
    }
    case ControlVerb::kGet: {
      auto v = control.Get(c.name);
      if (!v.ok()) return fmt::format("error: {}", v.status().message());
      return fmt::format("{}={}", c.name, *v);
    }
    case ControlVerb::kCutover: {
      if (control.kind() == engine::ControlKind::kBackfill) return "error: a backfill has no cutover";
      if (control.ReleaseCutover()) return "ok: cutover released";
      std::string state = control.Status().cutover;
      if (state == "not postponed") return "error: the cutover is not postponed (no --postpone-cutover)";
      return "ok: cutover already released";
    }
    case ControlVerb::kVerify:
      if (control.kind() == engine::ControlKind::kBackfill) return "error: a backfill has nothing to verify";
      return fmt::format("ok: verification requested (request {})", control.RequestVerify());
    case ControlVerb::kVerifyResult: {
      if (control.kind() == engine::ControlKind::kBackfill) return "error: a backfill has nothing to verify";
      auto r = control.VerifyResult(c.request);
      if (!r.ok()) return fmt::format("error: {}", r.status().message());
      if (!r->has_value())
        return fmt::format("pending: verification {} is {}", c.request,
                           control.Status().progress.verify_state == "running"
                               ? "running"
                               : "queued (it runs once the copy is done)");
      return fmt::format("{}: {}", (*r)->ok ? "ok" : "error", (*r)->text);
    }
    case ControlVerb::kRevert:
      if (control.kind() == engine::ControlKind::kBackfill) return "error: a backfill has no revert window";
      return control.RequestRevert() ? "ok: revert requested; the run swaps the old table back within its revert window"
                                     : "ok: revert already requested";
    case ControlVerb::kAbort:
      if (control.kind() == engine::ControlKind::kBackfill)
        return control.Abort() ? "ok: aborting; the batch in flight is rolled back, the checkpoint kept for --resume"
                               : "ok: abort already requested";
      return control.Abort() ? "ok: aborting; the migration stops and removes what it created"
                             : "ok: abort already requested";
  }
  return "error: internal: unhandled command";
}

std::string HandleControlLine(engine::Control& control, std::string_view line) {
  auto cmd = ParseControlCommand(line);
  std::string reply = cmd.ok() ? ExecuteControlCommand(control, *cmd) : fmt::format("error: {}", cmd.status().message());
  std::string_view text = line.substr(0, line.find_last_not_of(" \t\r\n") + 1);
  control.CommandHandled(std::string(text), reply);
  return reply;
}

namespace {

// Writes `line` to a freshly accepted socket without waiting (its buffer is
// empty) and closes it: the answer to a connection that is not served.
void RefuseAndClose(Local::socket& socket, const std::string& line) {
  std::string out = line + "\n";
  (void)::send(socket.native_handle(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  boost::system::error_code ignored;
  socket.close(ignored);
}

bool IsIdentify(std::string_view line) {
  auto w = Words(line);
  return w.size() == 1 && w[0] == "identify";
}

}  // namespace

// One connected client: read a line, write its reply, repeat. Holds one of
// the server's connection slots until it ends; closed after the idle timeout
// without a complete command.
class ControlSession : public std::enable_shared_from_this<ControlSession> {
 public:
  ControlSession(Local::socket socket, engine::Control* control, ConnectionSlots* slots,
                 const ControlServerOptions* options)
      : socket_(std::move(socket)),
        control_(control),
        slots_(slots),
        options_(options),
        buf_(kMaxLine),
        idle_(socket_.get_executor()) {}
  ~ControlSession() { slots_->Release(); }

  void Read() {
    auto self = shared_from_this();
    idle_.expires_after(options_->idle_timeout);
    idle_.async_wait([self](boost::system::error_code ec) {
      if (ec) return;  // cancelled: a command came in time
      boost::system::error_code ignored;
      self->socket_.close(ignored);  // the pending read ends with an error
    });
    asio::async_read_until(socket_, buf_, '\n', [self](boost::system::error_code ec, size_t n) {
      self->idle_.cancel();
      if (ec == asio::error::not_found) {
        self->Reply("error: command too long", /*then_close=*/true);
        return;
      }
      if (ec) return;  // EOF, closed or idle: the session ends
      std::string line(asio::buffers_begin(self->buf_.data()), asio::buffers_begin(self->buf_.data()) + n);
      self->buf_.consume(n);
      if (IsIdentify(line)) {
        self->Reply(self->options_->key != 0 ? IdentifyReply(self->options_->key) : "error: no socket key", false);
        return;
      }
      self->Reply(HandleControlLine(*self->control_, line), false);
    });
  }

 private:
  void Reply(std::string reply, bool then_close) {
    auto self = shared_from_this();
    out_ = std::move(reply) + "\n";
    asio::async_write(socket_, asio::buffer(out_), [self, then_close](boost::system::error_code ec, size_t) {
      if (ec || then_close) {
        boost::system::error_code ignored;
        self->socket_.close(ignored);
        return;
      }
      self->Read();
    });
  }

  Local::socket socket_;
  engine::Control* const control_;
  ConnectionSlots* const slots_;
  const ControlServerOptions* const options_;
  asio::streambuf buf_;
  std::string out_;
  asio::steady_timer idle_;
};

struct ControlServer::Impl {
  explicit Impl(const ControlServerOptions& o) : options(o), slots(o.max_connections) {}

  // Declared before the io_context: the sessions it destroys last release
  // their slots here.
  const ControlServerOptions options;
  ConnectionSlots slots;
  asio::io_context io;
  Local::acceptor acceptor{io};
  asio::steady_timer backoff{io};
  std::thread thread;
  bool created = false;
  uid_t uid = ::geteuid();
  std::chrono::steady_clock::time_point last_warning{};

  // At most one warning a minute about refused or failed connections.
  void Warn(const std::string& what) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_warning < std::chrono::seconds(60)) return;
    last_warning = now;
    Log(LogLevel::kWarning, "control socket: {}", what);
  }

  void Accept(engine::Control* control) {
    acceptor.async_accept([this, control](boost::system::error_code ec, Local::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        // Out of descriptors (EMFILE, ENFILE) or another transient failure:
        // the client stays in the backlog; try again shortly.
        Warn(fmt::format("accept failed: {}; retrying", ec.message()));
        backoff.expires_after(std::chrono::milliseconds(100));
        backoff.async_wait([this, control](boost::system::error_code ec2) {
          if (!ec2) Accept(control);
        });
        return;
      }
      Admit(std::move(socket), control);
      Accept(control);
    });
  }

  void Admit(Local::socket socket, engine::Control* control) {
    auto peer = PeerUid(socket.native_handle());
    if (!peer.ok() || !PeerAllowed(*peer, uid)) {
      Warn(peer.ok() ? fmt::format("refused a connection from uid {}", *peer) : std::string(peer.status().message()));
      RefuseAndClose(socket, "error: permission denied: only the user running shadowcopy may use this socket");
      return;
    }
    if (!slots.TryAcquire()) {
      Warn(fmt::format("refused a connection: {} are open already", slots.max()));
      RefuseAndClose(socket, fmt::format("error: too many control connections ({} open); try again later",
                                         slots.max()));
      return;
    }
    std::make_shared<ControlSession>(std::move(socket), control, &slots, &options)->Read();
  }
};

ControlServer::ControlServer(engine::Control* control, std::string path, ControlServerOptions options)
    : control_(control), path_(std::move(path)), options_(options) {}

ControlServer::~ControlServer() { Stop(); }

absl::Status ControlServer::Start() {
  if (auto st = Listen(); !st.ok()) return st;
  Serve(control_);
  return absl::OkStatus();
}

absl::Status ControlServer::Listen() {
  if (path_.empty() || path_.size() > kMaxSocketPath)
    return absl::InvalidArgumentError(
        fmt::format("control socket path must be 1 to {} bytes: '{}'", kMaxSocketPath, path_));
  struct stat st;
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return absl::FailedPreconditionError(
          fmt::format("{} exists and is not a socket; remove it or choose another --socket", path_));
    if (Answers(path_))
      return absl::FailedPreconditionError(fmt::format(
          "a process is already listening on {} (another shadowcopy run?); choose another --socket", path_));
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
      return absl::FailedPreconditionError(
          fmt::format("cannot remove the stale socket {}: {}", path_, std::strerror(errno)));
    Log(LogLevel::kInfo, "removed stale control socket {}", path_);
  }
  auto impl = std::make_unique<Impl>(options_);
  boost::system::error_code ec;
  auto fail = [&](std::string_view what) {
    std::string msg = fmt::format("control socket {}: {}: {}", path_, what, ec.message());
    if (impl->created) ::unlink(path_.c_str());
    return absl::FailedPreconditionError(msg);
  };
  impl->acceptor.open(Local(), ec);
  if (ec) return fail("socket");
  // Created owner-only (the file never shows another mode, even briefly).
  mode_t old_umask = ::umask(0177);
  impl->acceptor.bind(Local::endpoint(path_), ec);
  ::umask(old_umask);
  if (ec) return fail("bind");
  impl->created = true;
  // Owner only, before anyone can connect: connect() fails until listen().
  if (::chmod(path_.c_str(), 0600) != 0) {
    ec = boost::system::error_code(errno, boost::system::system_category());
    return fail("chmod");
  }
  impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  impl_ = std::move(impl);
  return absl::OkStatus();
}

void ControlServer::Serve(engine::Control* control) {
  control_ = control;
  impl_->Accept(control_);
  Impl* raw = impl_.get();
  impl_->thread = std::thread([raw] {
    try {
      raw->io.run();
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "control socket stopped: {}", e.what());
    }
  });
}

void ControlServer::Stop() {
  if (!impl_) return;
  // Handlers stop running; the pending ones (and the sessions they own) are
  // destroyed with the io_context below.
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->created) ::unlink(path_.c_str());
  impl_.reset();  // closes the acceptor and every client socket
}

}  // namespace shadowcopy::cli
