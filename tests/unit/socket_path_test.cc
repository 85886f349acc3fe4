// The control socket's default path, its directory checks and the peer rule
// (cli/socket_path.h).
#include "cli/socket_path.h"

#include <sys/stat.h>

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::function<const char*(const char*)> EnvOf(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(DatabaseIdentityTest, DsnThenEnvironmentThenDefaults) {
  auto none = EnvOf({});
  EXPECT_EQ(DatabaseIdentity("", none, "alice"), "host= port=5432 dbname=alice");
  EXPECT_EQ(DatabaseIdentity("dbname=shop", none, "alice"), "host= port=5432 dbname=shop");
  EXPECT_EQ(DatabaseIdentity("", EnvOf({{"PGUSER", "bob"}}), "alice"), "host= port=5432 dbname=bob");
  auto env = EnvOf({{"PGHOST", "/run/pg"}, {"PGPORT", "5433"}, {"PGDATABASE", "envdb"}});
  EXPECT_EQ(DatabaseIdentity("", env, "alice"), "host=/run/pg port=5433 dbname=envdb");
  EXPECT_EQ(DatabaseIdentity("dbname=shop port=6000", env, "alice"), "host=/run/pg port=6000 dbname=shop");
  EXPECT_EQ(DatabaseIdentity("postgresql://db1:7000/sales", env, "alice"), "host=db1 port=7000 dbname=sales");
}

TEST(SocketKeyTest, DiffersForNamesThatSanitiseAlike) {
  std::string id = "host= port=5432 dbname=shop";
  EXPECT_NE(SocketKey(id, "public", "a b"), SocketKey(id, "public", "a_b"));
  EXPECT_NE(SocketKey(id, "public", "orders"), SocketKey("host= port=5432 dbname=other", "public", "orders"));
  EXPECT_NE(SocketKey(id, "ab", "c"), SocketKey(id, "a", "bc"));
  EXPECT_EQ(SocketKey(id, "public", "orders"), SocketKey(id, "public", "orders"));
}

TEST(SocketPathInTest, NamesAndLengths) {
  std::string id = "host= port=5432 dbname=shop";
  uint64_t k1 = SocketKey(id, "public", "a b"), k2 = SocketKey(id, "public", "a_b");
  std::string p1 = SocketPathIn("/run/user/1000", "public", "a b", k1);
  std::string p2 = SocketPathIn("/run/user/1000", "public", "a_b", k2);
  EXPECT_THAT(p1, StartsWith("/run/user/1000/shadowcopy-a_b-"));
  EXPECT_NE(p1, p2);
  EXPECT_THAT(SocketPathIn("/d", "sales", "Order Items", 0xabc), "/d/shadowcopy-sales.Order_Items-000000000abc.sock");
  EXPECT_EQ(SocketPathIn("/d", "public", "../etc/x", 1), "/d/shadowcopy-.._etc_x-000000000001.sock");
  std::string long_path = SocketPathIn("/tmp/shadowcopy-1000", "public", std::string(300, 'a'), 7);
  EXPECT_LE(FallbackSocketPath(long_path, 4194304).size(), 107u);
}

TEST(FallbackSocketPathTest, PidBeforeSuffixAndRecognised) {
  std::string p = "/d/shadowcopy-t-000000000001.sock";
  EXPECT_EQ(FallbackSocketPath(p, 42), "/d/shadowcopy-t-000000000001-42.sock");
  EXPECT_TRUE(IsSocketNameFor("shadowcopy-t-000000000001.sock", "shadowcopy-t-000000000001.sock"));
  EXPECT_TRUE(IsSocketNameFor("shadowcopy-t-000000000001.sock", "shadowcopy-t-000000000001-42.sock"));
  EXPECT_FALSE(IsSocketNameFor("shadowcopy-t-000000000001.sock", "shadowcopy-t-000000000001-4x.sock"));
  EXPECT_FALSE(IsSocketNameFor("shadowcopy-t-000000000001.sock", "shadowcopy-t-000000000001-.sock"));
  EXPECT_FALSE(IsSocketNameFor("shadowcopy-t-000000000001.sock", "shadowcopy-t-000000000002.sock"));
  EXPECT_FALSE(IsSocketNameFor("shadowcopy-t-000000000001.sock", "shadowcopy-t-000000000001-42.sock.x"));
}

struct stat Stat(mode_t mode, uid_t uid) {
  struct stat st {};
  st.st_mode = mode;
  st.st_uid = uid;
  return st;
}

TEST(CheckSocketDirTest, OwnPrivateDirectoriesOnly) {
  EXPECT_TRUE(CheckSocketDir("/d", Stat(S_IFDIR | 0700, 1000), 1000, true).ok());
  EXPECT_TRUE(CheckSocketDir("/d", Stat(S_IFDIR | 0755, 1000), 1000, false).ok());
  auto st = CheckSocketDir("/d", Stat(S_IFDIR | 0755, 1000), 1000, true);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("0755"));
  EXPECT_THAT(CheckSocketDir("/d", Stat(S_IFDIR | 0777, 1000), 1000, false).message(), HasSubstr("mode 0777"));
  EXPECT_THAT(CheckSocketDir("/d", Stat(S_IFDIR | 01770, 1000), 1000, false).message(), HasSubstr("mode"));
  EXPECT_THAT(CheckSocketDir("/d", Stat(S_IFDIR | 0700, 1001), 1000, false).message(), HasSubstr("uid 1001"));
  EXPECT_THAT(CheckSocketDir("/d", Stat(S_IFLNK | 0777, 1000), 1000, false).message(), HasSubstr("symbolic link"));
  EXPECT_THAT(CheckSocketDir("/d", Stat(S_IFREG | 0600, 1000), 1000, false).message(), HasSubstr("not a directory"));
}

TEST(PeerAllowedTest, SameUserOrRoot) {
  EXPECT_TRUE(PeerAllowed(1000, 1000));
  EXPECT_TRUE(PeerAllowed(0, 1000));
  EXPECT_FALSE(PeerAllowed(1001, 1000));
  EXPECT_TRUE(PeerAllowed(0, 0));
  EXPECT_FALSE(PeerAllowed(1000, 0));
}

}  // namespace
}  // namespace shadowcopy::cli
