// --postpone-cutover-flag-file fails closed: a flag file that cannot be
// checked holds the cutover like one that exists.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "engine/control.h"
#include "gtest/gtest.h"

namespace shadowcopy::engine {
namespace {

TEST(PostponeFlagTest, UncheckableFlagHoldsTheCutover) {
  // "<regular file>/flag": stat fails with ENOTDIR, not ENOENT.
  std::string file = ::testing::TempDir() + "sc_postpone_not_a_dir_" + std::to_string(::getpid());
  std::FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  ControlSettings s;
  s.postpone_cutover_flag_file = file + "/flag";
  Control c(s);
  EXPECT_FALSE(c.CutoverAllowed());
  EXPECT_EQ(c.Status().cutover, "postponed");
  // The operator can still release it.
  EXPECT_TRUE(c.ReleaseCutover());
  EXPECT_TRUE(c.CutoverAllowed());
  std::remove(file.c_str());
}

TEST(PostponeFlagTest, UnreadableDirectoryHoldsTheCutover) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every directory";
  std::string dir = ::testing::TempDir() + "sc_postpone_dir_" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  std::string flag = dir + "/flag";
  std::FILE* f = std::fopen(flag.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  ControlSettings s;
  s.postpone_cutover_flag_file = flag;
  Control c(s);
  ASSERT_EQ(::chmod(dir.c_str(), 0), 0);
  EXPECT_FALSE(c.CutoverAllowed());
  ::chmod(dir.c_str(), 0700);
  std::remove(flag.c_str());
  EXPECT_TRUE(c.CutoverAllowed());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace shadowcopy::engine
