#include "tests/integration/migrate_fixture.h"

#include <stdlib.h>

#include <filesystem>
#include <thread>
#include <fstream>
#include <utility>

#include "nlohmann/json.hpp"

namespace shadowcopy::it {

bool WaitForMoreCommits(const MirrorWorkload& workload, int64_t n, std::chrono::milliseconds timeout) {
  const int64_t until = workload.TotalCommitted() + n;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (workload.TotalCommitted() < until) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void MigrateDirTest::SetUp() {
  DatabaseTest::SetUp();
  char tmpl[] = "/tmp/sc_it_migrate.XXXXXX";
  const char* made = mkdtemp(tmpl);
  ASSERT_NE(made, nullptr);
  dir_ = made;
}

void MigrateDirTest::TearDown() {
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  DatabaseTest::TearDown();
}

void MigrateDirTest::Write(const std::string& file, const std::string& text) {
  std::ofstream out(dir_ + "/" + file, std::ios::binary | std::ios::trunc);
  out << text;
}

void MigrateDirTest::Remove(const std::string& file) { std::filesystem::remove(dir_ + "/" + file); }

std::vector<std::string> MigrateDirTest::Args(std::vector<std::string> words, bool with_dsn) const {
  std::vector<std::string> args = {"migrate"};
  args.insert(args.end(), words.begin(), words.end());
  args.push_back("--dir");
  args.push_back(dir_);
  if (with_dsn) {
    args.push_back("--dsn");
    args.push_back(dsn());
  }
  return args;
}

ProcessResult MigrateDirTest::Migrate(std::vector<std::string> words, const EnvVars& env) {
  return RunShadowcopy(Args(std::move(words)), env);
}

ProcessResult MigrateDirTest::MigrateWithoutDsn(std::vector<std::string> words) {
  return RunShadowcopy(Args(std::move(words), /*with_dsn=*/false));
}

std::map<std::string, std::string> MigrateDirTest::States(std::optional<int> expect_exit) {
  auto r = Migrate({"status", "--format", "json"});
  if (expect_exit) {
    EXPECT_EQ(r.exit_code, *expect_exit) << r.Describe();
  }
  std::map<std::string, std::string> out;
  auto j = nlohmann::json::parse(LastLine(r.out), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.Describe();
  if (j.is_discarded()) return out;
  for (const auto& m : j["migrations"]) {
    out[m["version"].get<std::string>()] = m["state"].get<std::string>();
    EXPECT_TRUE(m.contains("file") && m.contains("checksum") && m.contains("installed_on") &&
                m.contains("execution_ms") && m.contains("description"))
        << m.dump();
  }
  return out;
}

}  // namespace shadowcopy::it
