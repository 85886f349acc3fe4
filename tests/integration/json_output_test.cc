// JSON output of a real rewrite: every `--progress json` line and the summary
// line parse back, on a table whose name holds a quote, a backslash and a
// space, while the throttle reasons carry that name (a lock the copy cannot
// take) and a flag file path with a byte that is not UTF-8. The table ends
// equal to its truth copy.
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/quote.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class JsonOutputTest : public DatabaseTest {
 protected:
  // Holds ACCESS EXCLUSIVE (an xid) while the copy backs off: see exclusive_server_.
  JsonOutputTest() { exclusive_server_ = true; }

  void TearDown() override {
    if (!flag_.empty()) ::unlink(flag_.c_str());
    DatabaseTest::TearDown();
  }

  std::string flag_;
};

TEST_F(JsonOutputTest, ProgressAndSummaryLinesParseWithAnOddTableName) {
  const std::string table = "odd \"quote\\ back space";
  const std::string qt = QuoteIdent(table);
  MustExec(db(), "CREATE TABLE " + qt + " (id int PRIMARY KEY, note text); INSERT INTO " + qt +
                     " SELECT g, md5(g::text) FROM generate_series(1, 2000) g");
  MustExec(db(), "CREATE TABLE truth AS SELECT * FROM " + qt);
  flag_ = fmt::format("/tmp/sc-it-{} json \"q\\ \xff.flag", ::getpid());
  std::ofstream(flag_) << "hold\n";

  auto tool = ShadowcopyProcess::Start(
      ToolArgs(table, {"--execute", "--socket", "none", "--progress", "json", "--progress-interval",
                       "100ms", "--throttle-flag-file", flag_, "--chunk-size", "100"}));
  ASSERT_TRUE(tool.ok()) << tool.status();
  ASSERT_TRUE((*tool)->WaitForStderr("flag file", seconds(60)))
      << (*tool)->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(300));
  // While the flag holds the copy, an application takes a lock the copy
  // needs: once the flag is gone the copy backs off naming the table.
  auto holder = Connect();
  MustExec(*holder, "BEGIN");
  MustExec(*holder, "LOCK TABLE " + qt + " IN ACCESS EXCLUSIVE MODE");
  ::unlink(flag_.c_str());
  ASSERT_TRUE((*tool)->WaitForStderr("the copy cannot lock", seconds(30)))
      << (*tool)->Wait(seconds(5)).Describe();
  std::this_thread::sleep_for(milliseconds(300));
  MustExec(*holder, "COMMIT");
  ProcessResult result = (*tool)->Wait(seconds(120));
  ExpectSucceeded(result);

  // The flag file's path as it reads back: the byte 0xff became U+FFFD.
  std::string flag_back = flag_;
  flag_back.replace(flag_back.find('\xff'), 1, "\xef\xbf\xbd");
  int objects = 0;
  bool saw_flag = false, saw_lock = false;
  nlohmann::json summary;
  for (const std::string& line : LinesStartingWith(result.out, "{")) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << "not a JSON object: " << line;
    ++objects;
    if (j.contains("summary")) {
      summary = j["summary"];
      continue;
    }
    ASSERT_TRUE(j["throttle_reason"].is_string()) << line;
    std::string reason = j["throttle_reason"].get<std::string>();
    if (reason == "throttled: flag file " + flag_back + " exists") saw_flag = true;
    if (reason.find("the copy cannot lock " + QualifiedName("public", table)) != std::string::npos)
      saw_lock = true;
  }
  EXPECT_GE(objects, 3) << result.Describe();
  EXPECT_TRUE(saw_flag) << "no progress line with the flag file's reason\n" << result.Describe();
  EXPECT_TRUE(saw_lock) << "no progress line naming the locked table\n" << result.Describe();
  ASSERT_TRUE(summary.is_object()) << result.Describe();
  EXPECT_EQ(summary["rows_copied"], 2000);
  ExpectMirrorEqual(db(), table, "truth");
}

}  // namespace
}  // namespace shadowcopy::it
