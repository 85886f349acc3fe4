// Pure parts of the control socket's naming and checks (see socket_path.h).
#include "cli/socket_path.h"

#include <libpq-fe.h>
#include <sys/un.h>

#include <map>

#include "common/absl_fmt.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

std::string Sanitize(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-';
    out += ok ? c : '_';
  }
  return out;
}

constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;
constexpr size_t kFallbackRoom = 8;  // "-" and a pid of up to 7 digits

}  // namespace

std::string DatabaseIdentity(const std::string& dsn, const std::function<const char*(const char*)>& getenv,
                             const std::string& login) {
  std::map<std::string, std::string> given;
  if (!dsn.empty()) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
    if (err != nullptr) PQfreemem(err);
    if (opts == nullptr) return "dsn=" + dsn;
    for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o)
      if (o->val != nullptr && *o->val != '\0') given[o->keyword] = o->val;
    PQconninfoFree(opts);
  }
  auto pick = [&](const char* key, const char* env, std::string fallback) {
    if (auto it = given.find(key); it != given.end()) return it->second;
    const char* v = getenv(env);
    return v != nullptr && *v != '\0' ? std::string(v) : fallback;
  };
  std::string host = given.count("hostaddr") && !given.count("host") ? given["hostaddr"] : pick("host", "PGHOST", "");
  std::string user = pick("user", "PGUSER", login);
  return fmt::format("host={} port={} dbname={}", host, pick("port", "PGPORT", "5432"),
                     pick("dbname", "PGDATABASE", user));
}

uint64_t SocketKey(std::string_view identity, std::string_view schema, std::string_view table) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0;
    h *= 1099511628211ull;
  };
  mix(identity);
  mix(schema);
  mix(table);
  return h;
}

std::string SocketPathIn(std::string_view dir, std::string_view schema, std::string_view table, uint64_t key) {
  std::string name = schema == "public" ? Sanitize(table) : Sanitize(schema) + "." + Sanitize(table);
  std::string prefix = fmt::format("{}/shadowcopy-", dir);
  std::string suffix = fmt::format("-{:012x}.sock", key & 0xffffffffffffull);
  size_t fixed = prefix.size() + suffix.size() + kFallbackRoom;
  size_t room = kMaxSocketPath > fixed ? kMaxSocketPath - fixed : 0;
  if (name.size() > room) name.resize(room);
  return prefix + name + suffix;
}

std::string FallbackSocketPath(std::string_view path, long pid) {
  std::string out(path);
  constexpr std::string_view kSuffix = ".sock";
  size_t at = out.size() >= kSuffix.size() && out.ends_with(kSuffix) ? out.size() - kSuffix.size() : out.size();
  out.insert(at, fmt::format("-{}", pid));
  return out;
}

bool IsSocketNameFor(std::string_view default_name, std::string_view name) {
  if (name == default_name) return true;
  constexpr std::string_view kSuffix = ".sock";
  if (!default_name.ends_with(kSuffix) || !name.ends_with(kSuffix)) return false;
  std::string_view stem = default_name.substr(0, default_name.size() - kSuffix.size());
  if (!name.starts_with(stem)) return false;
  std::string_view rest = name.substr(stem.size(), name.size() - stem.size() - kSuffix.size());
  if (rest.size() < 2 || rest[0] != '-') return false;
  for (char c : rest.substr(1))
    if (c < '0' || c > '9') return false;
  return true;
}

absl::Status CheckSocketDir(std::string_view dir, const struct stat& st, uid_t uid, bool private_only) {
  auto refuse = [&](std::string_view why) {
    return absl::FailedPreconditionError(fmt::format("control socket directory {} {}", dir, why));
  };
  if (S_ISLNK(st.st_mode)) return refuse("is a symbolic link");
  if (!S_ISDIR(st.st_mode)) return refuse("is not a directory");
  if (st.st_uid != uid) return refuse(fmt::format("belongs to uid {}, not to uid {}", st.st_uid, uid));
  if (private_only ? (st.st_mode & 077) != 0 : (st.st_mode & 022) != 0)
    return refuse(fmt::format("has mode {:04o} (must be {})", st.st_mode & 07777,
                              private_only ? "0700" : "writable by its owner only"));
  return absl::OkStatus();
}

std::string IdentifyReply(uint64_t key) { return fmt::format("ok: shadowcopy {:016x}", key); }

}  // namespace shadowcopy::cli
