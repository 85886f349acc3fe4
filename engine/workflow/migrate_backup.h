// `migrate --backup DIR`: before a migration that rewrites, drops or deletes,
// a `pg_dump --format=custom` of the tables it touches, taken in one
// snapshot whose row counts are read too, then proven restorable: restored
// into a throwaway server (the rehearsal's, rehearsal_server.h) holding the
// target's schema, and its row counts compared with the snapshot's.
//
// Thread-safety: one call at a time.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_BACKUP_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_BACKUP_H_

#include <cstdint>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/workflow/migrate_files.h"
#include "engine/workflow/migrate_state.h"

namespace shadowcopy::workflow {

// The tables the unapplied statements of `p` rewrite (online-rewrite, ALTER
// ... TYPE, DROP COLUMN), drop (DROP TABLE, TRUNCATE) or delete from or
// overwrite (DELETE, UPDATE), as plan spells them ("public.orders"), each
// once, in order. Pure.
std::vector<std::string> TablesAtRisk(const PendingMigration& p);

// "V7__drop_legacy.20260103T041500Z.dump": the backup's file name (pure).
std::string BackupFileName(const MigrationFile& file, const std::string& utc_stamp);

struct BackupResult {
  std::string path;                                  // "" when no table existed
  std::vector<std::pair<std::string, int64_t>> rows;  // table -> rows, dumped and restored
  double seconds = 0;
};

// Dumps `tables` that exist (others: created by the migration) into `dir`
// (created when missing) and proves the dump: restored on a throwaway server
// of the target's major version with the target's schema, every table's
// row count equal to the snapshot's. FailedPrecondition when pg_dump or the
// restore fail or a count differs (the dump is kept for inspection);
// Cancelled on `stop`.
absl::StatusOr<BackupResult> BackupAndProve(const std::string& dsn, const std::string& dir,
                                            const MigrationFile& file, const std::vector<std::string>& tables,
                                            const std::stop_token& stop);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_BACKUP_H_
