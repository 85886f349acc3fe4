#include "cli/metrics_server.h"

#include <chrono>
#include <exception>
#include <thread>
#include <utility>

#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/post.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "common/log.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kMetricsIdleTimeout = std::chrono::seconds(10);
constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// One connection: read a request, answer it, close.
class MetricsSession : public std::enable_shared_from_this<MetricsSession> {
 public:
  MetricsSession(tcp::socket socket, const MetricsServer::Render& render)
      : stream_(std::move(socket)), render_(render) {}

  void Begin() {
    parser_.body_limit(4096);
    stream_.expires_after(kMetricsIdleTimeout);
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) return;  // closed, timed out or malformed: drop the connection
    const auto& req = parser_.get();
    std::string_view target(req.target().data(), req.target().size());
    target = target.substr(0, target.find('?'));
    response_.version(req.version());
    response_.keep_alive(false);
    response_.set(http::field::server, "shadowcopy");
    if (target != "/metrics") {
      Answer(http::status::not_found, "text/plain; charset=utf-8", "not found; try /metrics\n");
    } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
      response_.set(http::field::allow, "GET, HEAD");
      Answer(http::status::method_not_allowed, "text/plain; charset=utf-8", "GET or HEAD only\n");
    } else {
      Answer(http::status::ok, kMetricsContentType, Render());
      // HEAD: the length GET would send (set above), no body.
      if (req.method() == http::verb::head) response_.body().clear();
    }
    Write();
  }

  std::string Render() {
    try {
      return render_();
    } catch (const std::exception& e) {
      Log(LogLevel::kWarning, "metrics: rendering failed: {}", e.what());
      return "";
    }
  }

  void Answer(http::status status, const char* type, std::string body) {
    response_.result(status);
    response_.set(http::field::content_type, type);
    response_.body() = std::move(body);
    response_.prepare_payload();
  }

  void Write() {
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code, size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  const MetricsServer::Render& render_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> response_;
};

}  // namespace

struct MetricsServer::Impl {
  explicit Impl(Render r) : render(std::move(r)), acceptor(io) {}

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) std::make_shared<MetricsSession>(std::move(socket), render)->Begin();
      Accept();
    });
  }

  Render render;
  asio::io_context io;
  tcp::acceptor acceptor;
  std::thread thread;
  bool started = false;
};

MetricsServer::MetricsServer(Render render) : impl_(std::make_unique<Impl>(std::move(render))) {}

MetricsServer::~MetricsServer() { Stop(); }

absl::Status MetricsServer::Listen(const ListenAddress& address) {
  beast::error_code ec;
  auto ip = asio::ip::make_address(address.host, ec);
  tcp::endpoint endpoint(ip, address.port);
  auto fail = [&](const char* what) {
    return absl::FailedPreconditionError(
        fmt::format("--metrics-listen {}:{}: cannot {} ({})", address.host, address.port, what, ec.message()));
  };
  if (ec) return fail("parse the address");
  if (impl_->acceptor.open(endpoint.protocol(), ec); ec) return fail("open a socket");
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (impl_->acceptor.bind(endpoint, ec); ec) return fail("bind");
  if (impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen");
  return absl::OkStatus();
}

uint16_t MetricsServer::port() const {
  beast::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void MetricsServer::Start() {
  impl_->started = true;
  impl_->Accept();
  impl_->thread = std::thread([this] {
    try {
      impl_->io.run();
    } catch (const std::exception& e) {
      Log(LogLevel::kWarning, "metrics endpoint stopped: {}", e.what());
    }
  });
}

void MetricsServer::Stop() {
  if (!impl_->started) return;
  impl_->started = false;
  asio::post(impl_->io, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
}

}  // namespace shadowcopy::cli
