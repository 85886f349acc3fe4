#include "engine/table/old_names.h"

#include <cstdint>

#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

std::string OldSuffixAt(absl::Time t) {
  return "_old_" + absl::FormatTime("%Y%m%d%H%M%S", t, absl::UTCTimeZone());
}

std::string OldObjectName(const std::string& name, const std::string& suffix) {
  std::string plain = sql::AffixedName("_", name, suffix);
  if (plain.size() < 63) return plain;
  uint32_t h = 2166136261u;
  for (unsigned char ch : name) h = (h ^ ch) * 16777619u;
  return sql::AffixedName("_", name, fmt::format("_{:08x}{}", h, suffix));
}

std::string OldTableName(const std::string& table, const std::string& suffix) {
  if (suffix == kLegacyOldSuffix) return sql::AffixedName("_", table, suffix);
  return OldObjectName(table, suffix);
}

}  // namespace shadowcopy::engine
