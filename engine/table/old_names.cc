#include "engine/table/old_names.h"

#include <cstdint>

#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

std::string OldSuffixAt(absl::Time t) {
  return "_old_" + absl::FormatTime("%Y%m%d%H%M%S", t, absl::UTCTimeZone());
}

std::string OldObjectName(const std::string& name, const std::string& suffix) {
  // Shorter than 63 bytes uncut: as it is. Cut (even to fewer than 63 bytes,
  // on a character boundary), or exactly 63: with the hash, so that two names
  // cut to one prefix never meet, nor a cut name an uncut one.
  if (1 + name.size() + suffix.size() < 63) return "_" + name + suffix;
  uint32_t h = 2166136261u;
  for (unsigned char ch : name) h = (h ^ ch) * 16777619u;
  return sql::AffixedName("_", name, fmt::format("_{:08x}{}", h, suffix));
}

std::string OldTableName(const std::string& table, const std::string& suffix) {
  if (suffix == kLegacyOldSuffix) return sql::AffixedName("_", table, suffix);
  return OldObjectName(table, suffix);
}

}  // namespace shadowcopy::engine
