// Lists and reads a migrations directory (the only file I/O of `migrate`);
// what the names and contents mean is migrate_files.cc's.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/workflow/migrate_files.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {

absl::StatusOr<std::vector<MigrationFile>> ReadMigrationDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return absl::InvalidArgumentError(fmt::format("--dir {}: no such directory", dir));
  std::vector<DirectoryEntry> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    if (!in)
      return absl::PermissionDeniedError(fmt::format("{}: cannot be read", it->path().string()));
    std::ostringstream text;
    text << in.rdbuf();
    entries.push_back({it->path().filename().string(), text.str()});
  }
  if (ec) return absl::InvalidArgumentError(fmt::format("--dir {}: {}", dir, ec.message()));
  std::sort(entries.begin(), entries.end(),
            [](const DirectoryEntry& a, const DirectoryEntry& b) { return a.file < b.file; });
  return BuildMigrationSet(dir, entries);
}

}  // namespace shadowcopy::workflow
