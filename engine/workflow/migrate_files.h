// The files of a migrations directory: names and versions (Flyway's
// `V<version>__<description>.sql` with an optional `U<version>__...` undo,
// golang-migrate's `<version>_<description>.up.sql` with an optional
// `.down.sql`), the per-file header options, the verify block, the
// statements, and checksums that ignore line endings and trailing
// whitespace.
//
// Pure except ReadMigrationDirectory (which only lists and reads files).
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_FILES_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_FILES_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/workflow/plan_facts.h"

namespace shadowcopy::workflow {

// A version: numeric parts, compared part by part as numbers (1.10 after
// 1.9, 2 after 1.1); missing parts count as 0 (1 equals 1.0).
struct MigrationVersion {
  std::vector<std::string> parts;  // digits only, leading zeros removed ("0" stays)

  // "1.10", "20240101120000".
  std::string ToString() const;
  // Without trailing ".0" parts, so that equal versions have one key: the
  // history's version column and the directory's duplicate check.
  std::string Key() const;
};

// <0, 0, >0 as a is before, equal to, after b.
int CompareVersions(const MigrationVersion& a, const MigrationVersion& b);
inline bool operator<(const MigrationVersion& a, const MigrationVersion& b) {
  return CompareVersions(a, b) < 0;
}
inline bool operator==(const MigrationVersion& a, const MigrationVersion& b) {
  return CompareVersions(a, b) == 0;
}

// "1.10", "1_10", "007" → a version; InvalidArgument for anything else.
absl::StatusOr<MigrationVersion> ParseVersion(std::string_view text);

enum class FileKind { kMigration, kUndo };

// What a file name says.
struct MigrationName {
  MigrationVersion version;
  std::string description;  // underscores shown as spaces
  FileKind kind = FileKind::kMigration;
};

// The name of a migration file; nullopt for a file that is not SQL (it is
// ignored); InvalidArgument for a .sql file named in neither convention.
absl::StatusOr<std::optional<MigrationName>> ParseMigrationFileName(std::string_view file_name);

// Options from `-- shadowcopy: ...` comments in the file's header (before
// its first statement).
struct FileOptions {
  bool transaction_file = false;  // transaction=file: one transaction for the file
  bool literal = false;           // literal: the file as written, one command
  std::optional<std::chrono::milliseconds> lock_timeout;  // lock_timeout=5s
};

// A migration file's content, parsed.
struct MigrationScript {
  FileOptions options;
  std::vector<PlannedStatement> statements;  // the migration's, in order
  std::vector<PlannedStatement> verify;      // the verify block's queries
  std::string body;  // the text before the verify block (what `literal` runs)
};

// Parses `text` (file `file`): header options, statements (split by
// sql::SplitStatements, explicit BEGIN ... COMMIT blocks marked), the verify
// block (from a `-- shadowcopy: verify` line to the end of the file).
// InvalidArgument, naming the file and line, for an unknown option, an
// option after the first statement, a lexical error, a psql meta-command,
// an unterminated BEGIN block, a statement that cannot run in a transaction
// in a `transaction=file` file, or a file without statements.
absl::StatusOr<MigrationScript> ParseMigrationScript(std::string_view file, std::string_view text);

// Text normalised for checksums: a UTF-8 byte order mark dropped, "\r\n" and
// "\r" read as "\n", trailing spaces and tabs of each line dropped, trailing
// empty lines dropped.
std::string NormalizeForChecksum(std::string_view text);
// SHA-256 of NormalizeForChecksum(text), 64 hex digits.
std::string FileChecksum(std::string_view text);
// The hash recorded for an applied statement: the first 16 hex digits of
// SHA-256 of its normalised text.
std::string StatementHash(std::string_view sql);

// True for a statement PostgreSQL refuses inside a transaction block:
// CREATE/DROP INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY, DETACH PARTITION
// ... CONCURRENTLY, VACUUM, CREATE/DROP DATABASE, CREATE/DROP TABLESPACE,
// ALTER SYSTEM.
bool RunsOutsideTransaction(std::string_view sql);

// One migration of the directory, with its undo file if any.
struct MigrationFile {
  MigrationName name;
  std::string file;                  // file name (no directory)
  std::string path;                  // directory/file
  std::string text;                  // content as read
  std::string checksum;              // FileChecksum(text)
  std::optional<std::string> undo_file;
  std::string undo_text;             // the undo file's content (when undo_file)
  std::string undo_checksum;         // FileChecksum(undo_text)
};

// A file as listed: its name and content.
struct DirectoryEntry {
  std::string file;
  std::string text;
};

// The migrations of a directory's entries, in version order. One
// InvalidArgument listing every problem: unparsable .sql names, two files
// with the same version, an undo without its migration.
absl::StatusOr<std::vector<MigrationFile>> BuildMigrationSet(std::string_view dir,
                                                            const std::vector<DirectoryEntry>& entries);

// Reads the regular files of `dir` (not its subdirectories) and builds the
// set. InvalidArgument when `dir` is missing or not a directory.
absl::StatusOr<std::vector<MigrationFile>> ReadMigrationDirectory(const std::string& dir);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_FILES_H_
