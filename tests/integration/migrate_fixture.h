// The fixture every `shadowcopy migrate` integration test shares: a fresh
// database (DatabaseTest) plus a scratch migrations directory, removed at
// teardown, and `shadowcopy migrate ... --dir DIR --dsn DSN` run against it.
#ifndef SHADOWCOPY_TESTS_INTEGRATION_MIGRATE_FIXTURE_H_
#define SHADOWCOPY_TESTS_INTEGRATION_MIGRATE_FIXTURE_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/integration/workload.h"

namespace shadowcopy::it {

// Waits until `workload` has committed `n` more transactions than when
// called; false after `timeout`. A condition in the place of a fixed sleep
// "while the writers write".
bool WaitForMoreCommits(const MirrorWorkload& workload, int64_t n,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));

class MigrateDirTest : public DatabaseTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Writes `text` to `file` in the directory, byte for byte.
  void Write(const std::string& file, const std::string& text);
  void Remove(const std::string& file);

  // `migrate WORDS --dir DIR --dsn DSN` (without --dsn when !with_dsn).
  std::vector<std::string> Args(std::vector<std::string> words, bool with_dsn = true) const;
  ProcessResult Migrate(std::vector<std::string> words, const EnvVars& env = {});
  ProcessResult MigrateWithoutDsn(std::vector<std::string> words);

  // version -> state, from `migrate status --format json`; every entry must
  // carry the documented fields, and the exit code must be `expect_exit`
  // when given.
  std::map<std::string, std::string> States(std::optional<int> expect_exit = std::nullopt);

  std::string dir_;
};

}  // namespace shadowcopy::it

#endif  // SHADOWCOPY_TESTS_INTEGRATION_MIGRATE_FIXTURE_H_
