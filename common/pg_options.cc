#include "common/pg_options.h"

#include <libpq-fe.h>

#include <cstring>

#include "fmt/format.h"

namespace shadowcopy {

std::optional<std::string> DsnOptions(const std::string& dsn) {
  if (dsn.empty()) return std::nullopt;
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(dsn.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (parsed == nullptr) return std::nullopt;
  std::optional<std::string> out;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o)
    if (std::strcmp(o->keyword, "options") == 0 && o->val != nullptr) out = o->val;
  PQconninfoFree(parsed);
  return out;
}

std::string MergeSessionOptions(const std::optional<std::string>& dsn_options, const char* env_pgoptions,
                                const std::vector<std::pair<std::string, std::string>>& settings) {
  std::string out;
  if (dsn_options) out = *dsn_options;
  else if (env_pgoptions != nullptr) out = env_pgoptions;
  for (const auto& [key, value] : settings) {
    if (!out.empty()) out += ' ';
    // Backslash-escape spaces and backslashes as the options keyword requires.
    std::string escaped;
    for (char c : value) {
      if (c == ' ' || c == '\\') escaped.push_back('\\');
      escaped.push_back(c);
    }
    out += fmt::format("-c {}={}", key, escaped);
  }
  return out;
}

}  // namespace shadowcopy
