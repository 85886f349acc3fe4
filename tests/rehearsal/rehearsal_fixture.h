// Fixture of the rehearsal tests: a fresh target database per test on the
// server the PG* environment names (the same one the integration tests use),
// dropped at teardown, and the checks that a rehearsal left nothing behind:
// no scratch database of this process on the server, no temporary directory
// of this process and no process running from one.
//
// Thread-safety: one test thread.
#ifndef SHADOWCOPY_TESTS_REHEARSAL_REHEARSAL_FIXTURE_H_
#define SHADOWCOPY_TESTS_REHEARSAL_REHEARSAL_FIXTURE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/pg.h"
#include "engine/workflow/plan_facts.h"
#include "gtest/gtest.h"

namespace shadowcopy::rehearsal_test {

class RehearsalTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The target database: "dbname=rh_<suite>_<test>".
  std::string TargetDsn() const { return "dbname=" + db_; }
  // The staging server of kDsn: the same server's postgres database.
  static std::string StagingDsn() { return "dbname=postgres"; }
  // Runs `sql` on the target; fails the test on an error.
  void Exec(std::string_view sql);
  std::string Value(std::string_view sql);

  // Fails the test for anything a rehearsal of this process left behind.
  void ExpectNothingLeft();

  // The statements of `script` (split by sql::SplitStatements) as the plan
  // command passes them, `in_transaction_block` set inside BEGIN ... COMMIT.
  static std::vector<workflow::PlannedStatement> Statements(std::string_view script,
                                                            const std::string& file = "migration.sql");

  std::string db_;
  std::unique_ptr<PgConn> conn_;  // to the target
};

// The contents of a small file such as /proc/PID/cmdline, "" when it cannot
// be read (the process is gone: a read error, which iostreams would throw).
std::string ReadProcFile(const std::string& path);

// A catalog fingerprint of a database's user schema (relations, columns,
// constraints, relfilenodes): equal before and after means nothing changed.
std::string SchemaFingerprint(PgConn& conn);

}  // namespace shadowcopy::rehearsal_test

#endif  // SHADOWCOPY_TESTS_REHEARSAL_REHEARSAL_FIXTURE_H_
