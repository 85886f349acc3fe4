#include "engine/workflow/plan_types.h"

#include <cctype>
#include <cstdlib>
#include <utility>

namespace shadowcopy::workflow {
namespace {

std::string Squeeze(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

const std::pair<std::string_view, std::string_view> kAliases[] = {
    {"int", "integer"},          {"int4", "integer"},
    {"serial", "integer"},       {"serial4", "integer"},
    {"int8", "bigint"},          {"bigserial", "bigint"},
    {"serial8", "bigint"},       {"int2", "smallint"},
    {"smallserial", "smallint"}, {"serial2", "smallint"},
    {"character varying", "varchar"},
    {"char", "bpchar"},          {"character", "bpchar"},
    {"decimal", "numeric"},      {"bool", "boolean"},
    {"float8", "double precision"}, {"float4", "real"},
    {"timestamp with time zone", "timestamptz"},
    {"timestamp without time zone", "timestamp"},
    {"time with time zone", "timetz"},
    {"time without time zone", "time"},
    {"bit varying", "varbit"},
};

}  // namespace

TypeName NormalizeType(std::string_view type) {
  TypeName t;
  std::string s = Squeeze(type);
  if (s.size() >= 2 && s.compare(s.size() - 2, 2, "[]") == 0) {
    t.array = true;
    s.resize(s.size() - 2);
  }
  std::string base = s;
  size_t open = s.find('(');
  if (open != std::string::npos) {
    base = s.substr(0, open);
    std::string rest = s.substr(open + 1);
    // "timestamp(3) with time zone": the words after the parenthesis.
    size_t close = rest.find(')');
    std::string mods = rest.substr(0, close);
    if (close != std::string::npos && close + 1 < rest.size()) base += rest.substr(close + 1);
    const char* p = mods.c_str();
    while (*p != '\0') {
      char* end = nullptr;
      long v = std::strtol(p, &end, 10);
      if (end == p) break;
      t.mods.push_back(static_cast<int>(v));
      p = end;
      while (*p == ',' || *p == ' ') ++p;
    }
  }
  while (!base.empty() && base.back() == ' ') base.pop_back();
  if (base.rfind("pg_catalog.", 0) == 0) base = base.substr(11);
  for (const auto& [alias, name] : kAliases)
    if (base == alias) base = std::string(name);
  t.base = base;
  return t;
}

std::optional<bool> TypeChangeRewrites(std::string_view from, std::string_view to, bool has_using) {
  if (from.empty()) return std::nullopt;
  if (has_using) return true;
  TypeName a = NormalizeType(from), b = NormalizeType(to);
  if (a.array != b.array) return true;
  if (a.base == b.base && a.mods == b.mods) return false;
  const bool bounded_text = a.base == "varchar" || a.base == "text";
  if (bounded_text && (b.base == "text" || (b.base == "varchar" && b.mods.empty()))) return false;
  if (a.base == "varchar" && b.base == "varchar")  // a longer limit: no check, no rewrite
    return !(a.mods.size() == 1 && b.mods.size() == 1 && b.mods[0] >= a.mods[0]);
  if (a.base == "varbit" && b.base == "varbit")
    return !(b.mods.empty() || (a.mods.size() == 1 && b.mods.size() == 1 && b.mods[0] >= a.mods[0]));
  if (a.base == "numeric" && b.base == "numeric") {
    if (b.mods.empty()) return false;
    if (a.mods.empty()) return true;
    int as = a.mods.size() > 1 ? a.mods[1] : 0, bs = b.mods.size() > 1 ? b.mods[1] : 0;
    return !(as == bs && b.mods[0] >= a.mods[0]);
  }
  if (a.base == "cidr" && b.base == "inet") return false;
  return true;
}

bool IsNarrowInteger(std::string_view type) {
  TypeName t = NormalizeType(type);
  return !t.array && (t.base == "integer" || t.base == "smallint");
}

bool IsJson(std::string_view type) {
  TypeName t = NormalizeType(type);
  return t.base == "json";
}

}  // namespace shadowcopy::workflow
