// The --metrics-listen server (cli/metrics_server.h) on loopback, no
// database: GET and HEAD /metrics, 404 and 405, the address in use refused,
// and Stop returning at once with an idle client still connected.
#include "cli/metrics_server.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <string>

#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::cli {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct Reply {
  int status = 0;
  std::string content_type, content_length, body;
};

std::optional<Reply> Request(uint16_t port, http::verb verb, const std::string& target) {
  asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return std::nullopt;
  http::request<http::empty_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(socket, req, ec);
  if (ec) return std::nullopt;
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.skip(verb == http::verb::head);
  http::read(socket, buffer, parser, ec);
  if (ec) return std::nullopt;
  const auto& res = parser.get();
  return Reply{static_cast<int>(res.result_int()), std::string(res[http::field::content_type]),
               std::string(res[http::field::content_length]), res.body()};
}

TEST(MetricsServerTest, ServesMetricsOnlyAndStopsCleanly) {
  std::atomic<int> renders{0};
  MetricsServer server([&] {
    ++renders;
    return std::string("shadowcopy_x 1\n");
  });
  ASSERT_TRUE(server.Listen({"127.0.0.1", 0}).ok());
  const uint16_t port = server.port();
  ASSERT_GT(port, 0);
  server.Start();

  auto ok = Request(port, http::verb::get, "/metrics?x=1");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(ok->body, "shadowcopy_x 1\n");
  auto head = Request(port, http::verb::head, "/metrics");
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->content_length, "15");
  EXPECT_EQ(head->body, "");
  auto missing = Request(port, http::verb::get, "/");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 404);
  auto post = Request(port, http::verb::post, "/metrics");
  ASSERT_TRUE(post.has_value());
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(renders.load(), 2);

  // The address in use: refused with one line.
  MetricsServer second([] { return std::string(); });
  absl::Status busy = second.Listen({"127.0.0.1", port});
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(busy.message()), ::testing::HasSubstr("--metrics-listen 127.0.0.1:"));

  // An idle client does not hold the stop up; afterwards nothing answers.
  asio::io_context io;
  tcp::socket idle(io);
  idle.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  auto started = std::chrono::steady_clock::now();
  server.Stop();
  server.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_FALSE(Request(port, http::verb::get, "/metrics").has_value());
}

}  // namespace
}  // namespace shadowcopy::cli
