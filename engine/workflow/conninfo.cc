#include "engine/workflow/conninfo.h"

#include <libpq-fe.h>

#include <string_view>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {

std::string ConninfoPair(const std::string& key, const std::string& value) {
  std::string out = key + "='";
  for (char c : value) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

absl::StatusOr<std::string> WithDatabase(const std::string& dsn, const std::string& dbname) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (opts == nullptr) {
    std::string message = err ? err : "out of memory";
    if (err) PQfreemem(err);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    return absl::InvalidArgumentError(fmt::format("invalid connection string: {}", message));
  }
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || std::string_view(o->keyword) == "dbname") continue;
    out += ConninfoPair(o->keyword, o->val) + " ";
  }
  PQconninfoFree(opts);
  return out + ConninfoPair("dbname", dbname);
}

std::string LocalConninfo(const std::string& socket_dir, int port, const std::string& dbname) {
  return fmt::format("{} {} {} {} sslmode=disable gssencmode=disable", ConninfoPair("host", socket_dir),
                     ConninfoPair("port", std::to_string(port)), ConninfoPair("user", "postgres"),
                     ConninfoPair("dbname", dbname));
}

}  // namespace shadowcopy::workflow
