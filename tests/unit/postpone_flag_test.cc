// --postpone-cutover-flag-file fails closed: a flag file that cannot be
// checked holds the cutover like one that exists.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "engine/control/control.h"
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

// True when `c` allows the cutover as seen by a process that cannot search
// the flag's directory: this process after chmod 0 (any user but root), or
// a child that drops to nobody (root searches every directory).
bool AllowedWithoutSearchPermission(Control& c, const std::string& dir) {
  if (::geteuid() != 0) {
    EXPECT_EQ(::chmod(dir.c_str(), 0), 0);
    bool allowed = c.CutoverAllowed();
    ::chmod(dir.c_str(), 0700);
    return allowed;
  }
  pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    ::_exit(c.CutoverAllowed() ? 1 : 0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 2) << "could not drop to nobody: " << status;
  return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(PostponeFlagTest, UnreadableDirectoryHoldsTheCutover) {
  std::string dir = ::testing::TempDir() + "sc_postpone_dir_" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  std::string flag = dir + "/flag";
  std::FILE* f = std::fopen(flag.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  ControlSettings s;
  s.postpone_cutover_flag_file = flag;
  Control c(s);
  EXPECT_FALSE(AllowedWithoutSearchPermission(c, dir));
  std::remove(flag.c_str());
  EXPECT_TRUE(c.CutoverAllowed());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace shadowcopy::engine
