// `--metrics-listen`: the Prometheus endpoint scraped while a rewrite runs
// under the mirror workload (throttled by a flag file, then copying, then
// postponed before its cutover): every page parses, counters never go down,
// the phase moves on, the throttle cause is labelled, other paths are 404,
// and the endpoint is gone when the run ends. Bad and busy addresses: one
// error line, nothing created.
#include <chrono>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "tests/integration/throttle_fixture.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Scraped {
  int status = 0;
  std::string content_type;
  std::string body;
};

// One HTTP GET of 127.0.0.1:port`target`; nullopt when nothing answers.
std::optional<Scraped> HttpGet(int port, const std::string& target) {
  asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
  if (ec) return std::nullopt;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(socket, req, ec);
  if (ec) return std::nullopt;
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res, ec);
  if (ec) return std::nullopt;
  return Scraped{static_cast<int>(res.result_int()), std::string(res[http::field::content_type]), res.body()};
}

// Sample (name with labels) -> value; every line must be HELP, TYPE or a
// sample of the family just declared.
std::map<std::string, double> ParsePage(const std::string& page) {
  static const std::regex kSample(R"re(^([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (\S+)$)re");
  static const std::regex kMeta(R"(^# (HELP|TYPE) ([a-z_:][a-z0-9_:]*) .+$)");
  std::map<std::string, double> out;
  std::string family;
  for (absl::string_view v : absl::StrSplit(page, '\n', absl::SkipEmpty())) {
    std::string line(v);
    std::smatch m;
    if (std::regex_match(line, m, kMeta)) {
      family = m[2];
    } else if (std::regex_match(line, m, kSample)) {
      EXPECT_EQ(m[1], family) << line;
      out[m[1].str() + m[2].str()] = std::stod(m[3]);
    } else {
      ADD_FAILURE() << "not in the exposition format: " << line;
    }
  }
  return out;
}

std::string CurrentPhase(const std::map<std::string, double>& m) {
  static const std::regex kPhase(R"re(^shadowcopy_phase\{phase="([^"]*)"\}$)re");
  for (const auto& [k, v] : m) {
    std::smatch s;
    if (v == 1 && std::regex_match(k, s, kPhase)) return s[1];
  }
  return "";
}

class MetricsEndpointTest : public ThrottleControlTest {
 protected:
  // The port from `metrics: http://127.0.0.1:PORT/metrics`.
  int WaitForPort() {
    if (!tool_->WaitForStderr("metrics: http://127.0.0.1:", seconds(15))) return 0;
    std::smatch m;
    std::string err = tool_->StderrSoFar();
    if (!std::regex_search(err, m, std::regex(R"(metrics: http://127\.0\.0\.1:(\d+)/metrics)"))) return 0;
    return std::stoi(m[1]);
  }

  std::map<std::string, double> Scrape(int port) {
    auto r = HttpGet(port, "/metrics");
    EXPECT_TRUE(r.has_value()) << "no answer on port " << port;
    if (!r) return {};
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->content_type, "text/plain; version=0.0.4; charset=utf-8");
    return ParsePage(r->body);
  }
};

TEST_F(MetricsEndpointTest, ScrapedDuringARewrite) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 20000, 1000000).ok());
  MirrorWorkload workload(dbname(), WorkloadOptions{});
  ASSERT_TRUE(workload.Start().ok());
  CreateFlag();
  ASSERT_NO_FATAL_FAILURE(StartTool(
      {"--throttle-flag-file", flag_, "--metrics-listen", "127.0.0.1:0", "--postpone-cutover"}));
  const int port = WaitForPort();
  ASSERT_GT(port, 0) << tool_->StderrSoFar();

  // Throttled in the copy: the cause is labelled, nothing copied yet.
  std::map<std::string, double> m;
  auto deadline = Clock::now() + seconds(15);
  while (Clock::now() < deadline) {
    m = Scrape(port);
    if (CurrentPhase(m) == "copy" && m["shadowcopy_throttled{reason=\"flag_file\"}"] == 1) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(CurrentPhase(m), "copy");
  EXPECT_EQ(m["shadowcopy_throttled{reason=\"flag_file\"}"], 1);
  EXPECT_EQ(m["shadowcopy_throttled{reason=\"replica_lag\"}"], 0);
  EXPECT_EQ(m["shadowcopy_rows_copied_total"], 0);
  EXPECT_GT(m["shadowcopy_rows_estimated"], 0);
  EXPECT_EQ(m.count("shadowcopy_run_info{command=\"rewrite\",schema=\"public\",table=\"orders\"}"), 1u);

  auto other = HttpGet(port, "/");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->status, 404);

  // Released: scraped until the cutover waits; counters only go up.
  RemoveFlag();
  const std::vector<std::string> counters = {"shadowcopy_rows_copied_total", "shadowcopy_changes_replayed_total",
                                             "shadowcopy_copy_batches_total", "shadowcopy_cutover_attempts_total",
                                             "shadowcopy_verify_mismatches_total"};
  std::map<std::string, double> last = m;
  std::set<std::string> phases = {"copy"};
  int scrapes = 0;
  deadline = Clock::now() + seconds(60);
  while (Clock::now() < deadline && CurrentPhase(m) != "postponed") {
    std::this_thread::sleep_for(milliseconds(30));
    m = Scrape(port);
    ++scrapes;
    phases.insert(CurrentPhase(m));
    for (const auto& c : counters) EXPECT_GE(m[c], last[c]) << c << " went down at scrape " << scrapes;
    last = m;
  }
  ASSERT_EQ(CurrentPhase(m), "postponed") << "phases seen: " << phases.size();
  EXPECT_GE(phases.size(), 2u);
  EXPECT_GE(m["shadowcopy_rows_copied_total"], 20000);
  EXPECT_GT(m["shadowcopy_copy_batches_total"], 0);
  EXPECT_EQ(m["shadowcopy_cutover_postponed"], 1);
  EXPECT_EQ(m["shadowcopy_throttled{reason=\"flag_file\"}"], 0);
  EXPECT_EQ(m.count("shadowcopy_slot_retained_wal_bytes"), 1u);

  ASSERT_EQ(Ctl({"cutover"}).exit_code, 0);
  ProcessResult result = tool_->Wait(seconds(60));
  workload.Stop();
  ExpectSucceeded(result);
  EXPECT_FALSE(HttpGet(port, "/metrics").has_value()) << "the endpoint outlived the run";
  ExpectNoWorkloadErrors(workload);
  ExpectMirrorEqual(db(), "orders", "truth");
}

TEST_F(MetricsEndpointTest, BadOrBusyAddressIsOneLineAndNothingCreated) {
  ASSERT_TRUE(CreateAndLoadOrders(db(), 100, 1000000).ok());
  ProcessResult bad = RunShadowcopy(ToolArgs("orders", {"--execute", "--metrics-listen", "example.com:9187"}));
  EXPECT_EQ(bad.exit_code, 2) << bad.Describe();
  EXPECT_EQ(LinesStartingWith(bad.err, "shadowcopy: error: --metrics-listen").size(), 1u) << bad.err;

  asio::io_context io;
  tcp::acceptor busy(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::string address = "127.0.0.1:" + std::to_string(busy.local_endpoint().port());
  ProcessResult taken = RunShadowcopy(ToolArgs("orders", {"--execute", "--socket", socket_, "--metrics-listen", address}));
  ExpectFailedWithOneErrorLine(taken);
  EXPECT_NE(taken.err.find("--metrics-listen " + address), std::string::npos) << taken.err;
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM orders"), "100");
}

}  // namespace
}  // namespace shadowcopy::it
