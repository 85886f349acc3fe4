// Fixture of the revert-window tests: a control socket of the test's own,
// the tool's arguments for the ALTER under test (id to bigint plus an added
// column, so the way back casts and drops), and the lookups they check with.
//
// Thread-safety: the test's thread.
#ifndef SHADOWCOPY_TESTS_INTEGRATION_REVERT_FIXTURE_H_
#define SHADOWCOPY_TESTS_INTEGRATION_REVERT_FIXTURE_H_

#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "tests/integration/harness.h"

namespace shadowcopy::it {

inline constexpr char kRevertAlter[] = "ALTER COLUMN id TYPE bigint, ADD COLUMN region text";

class RevertFixture : public DatabaseTest {
 protected:
  RevertFixture() { socket_ = fmt::format("/tmp/sc-revert-{}-{}.sock", ::getpid(), counter_++); }
  ~RevertFixture() override { ::unlink(socket_.c_str()); }

  // The rewrite of orders by kRevertAlter with the control socket and JSON
  // progress, then `extra`.
  std::vector<std::string> Args(std::vector<std::string> extra) const {
    std::vector<std::string> args{"--alter", kRevertAlter, "--execute", "--socket", socket_, "--progress", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ToolArgs("orders", args);
  }
  // The newest old table of orders ("" when none).
  std::string OldTable() {
    return QueryValue(db(), "SELECT relname FROM pg_class WHERE relname LIKE '\\_orders\\_old%' "
                            "ORDER BY 1 DESC LIMIT 1");
  }
  // The type of orders.id: "bigint" in the window, "integer" once reverted.
  std::string IdType() {
    return QueryValue(db(), "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                            "WHERE attrelid = 'orders'::regclass AND attname = 'id'");
  }

  // `shadowcopy revert --socket S --execute`: the window's run answers that
  // the revert was requested.
  void AskRevert(std::chrono::seconds timeout) {
    ProcessResult asked = RunShadowcopy({"revert", "--socket", socket_, "--execute"}, {}, nullptr, timeout);
    EXPECT_EQ(asked.exit_code, 0) << asked.Describe();
    EXPECT_NE(asked.out.find("ok: revert requested"), std::string::npos) << asked.Describe();
  }

  std::string socket_;

 private:
  static inline int counter_ = 0;
};

}  // namespace shadowcopy::it

#endif  // SHADOWCOPY_TESTS_INTEGRATION_REVERT_FIXTURE_H_
