// The control socket's directory, default path and peer credentials: the
// file-system and socket side of socket_path.h.
#include <dirent.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "cli/socket_path.h"
#include "common/absl_fmt.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

std::string LoginName() {
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  if (::getpwuid_r(::geteuid(), &pw, buf, sizeof buf, &found) == 0 && found != nullptr) return pw.pw_name;
  return std::to_string(::geteuid());
}

const char* Env(const char* name) { return std::getenv(name); }

}  // namespace

absl::StatusOr<std::string> ControlSocketDir() {
  uid_t uid = ::geteuid();
  struct stat st;
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && xdg[0] == '/') {
    if (::lstat(xdg, &st) == 0 && CheckSocketDir(xdg, st, uid, /*private_only=*/true).ok()) return std::string(xdg);
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = fmt::format("{}/shadowcopy-{}", tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp", uid);
  auto unsafe = [&](const absl::Status& st) {
    return absl::FailedPreconditionError(fmt::format(
        "{}; remove it, set XDG_RUNTIME_DIR to a private directory, or use --socket PATH or --socket none",
        st.message()));
  };
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return absl::FailedPreconditionError(
          fmt::format("cannot check the control socket directory {}: {}", dir, std::strerror(errno)));
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return absl::FailedPreconditionError(
          fmt::format("cannot create the control socket directory {}: {}", dir, std::strerror(errno)));
    if (::lstat(dir.c_str(), &st) != 0)
      return absl::FailedPreconditionError(
          fmt::format("cannot check the control socket directory {}: {}", dir, std::strerror(errno)));
  }
  if (auto ok = CheckSocketDir(dir, st, uid, /*private_only=*/false); !ok.ok()) return unsafe(ok);
  return dir;
}

uint64_t DefaultSocketKey(const std::string& dsn, std::string_view schema, std::string_view table) {
  return SocketKey(DatabaseIdentity(dsn, Env, LoginName()), schema, table);
}

absl::StatusOr<std::string> DefaultControlSocketPath(const std::string& dsn, std::string_view schema,
                                                     std::string_view table) {
  auto dir = ControlSocketDir();
  if (!dir.ok()) return dir.status();
  return SocketPathIn(*dir, schema, table, DefaultSocketKey(dsn, schema, table));
}

std::vector<std::string> SocketCandidates(const std::string& default_path) {
  std::vector<std::string> out{default_path};
  size_t slash = default_path.rfind('/');
  if (slash == std::string::npos) return out;
  std::string dir = default_path.substr(0, slash), name = default_path.substr(slash + 1);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  std::vector<std::string> fallbacks;
  while (dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n != name && IsSocketNameFor(name, n)) fallbacks.push_back(dir + "/" + std::string(n));
  }
  ::closedir(d);
  std::sort(fallbacks.begin(), fallbacks.end());
  out.insert(out.end(), fallbacks.begin(), fallbacks.end());
  return out;
}

absl::StatusOr<uid_t> PeerUid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
    return absl::UnavailableError(fmt::format("cannot read the peer's credentials: {}", std::strerror(errno)));
  return cred.uid;
}

}  // namespace shadowcopy::cli
