// Inspector: the read-only first phase. Resolves the table, its columns and
// key, and checks every prerequisite the run needs before anything is
// created, turning each problem into a one-line error.
//
// Thread-safety: used by one thread; holds a borrowed connection.
#ifndef SHADOWCOPY_ENGINE_TABLE_INSPECTOR_H_
#define SHADOWCOPY_ENGINE_TABLE_INSPECTOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg.h"
#include "engine/control/config.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine {

struct Inspection {
  uint32_t oid = 0;
  ObjectNames names;
  std::vector<ColumnInfo> columns;        // non-dropped, attnum order
  std::vector<std::string> key_names;     // key columns, key order
  std::string key_index;                  // the unique index they come from
  // No primary key: the run sets REPLICA IDENTITY USING INDEX key_index on
  // the original for its duration.
  bool set_replica_identity = false;
  std::string owner;
  char replica_identity = 'd';
  double estimated_rows = 0;
  int64_t table_bytes = 0;
  std::string server_version;
  std::vector<std::string> warnings;      // shown in the plan, not blocking
};

class Inspector {
 public:
  // `conn` is borrowed and must outlive the Inspector.
  explicit Inspector(PgConn* conn) : conn_(conn) {}

  // Inspects the table and the server. Returns NotFound, FailedPrecondition or
  // PermissionDenied with a one-line reason when the rewrite cannot run.
  // REQUIRES: no transaction open on the connection.
  absl::StatusOr<Inspection> Inspect(const Config& config);

  // The read-only inspection a backfill needs: the table (ordinary, not
  // partitioned, a partition or inherited; unlogged is fine), its columns, and
  // a key to walk it by: the primary key, else the replica identity index,
  // else a unique index over NOT NULL columns. NotFound or FailedPrecondition
  // with a one-line reason otherwise.
  // REQUIRES: no transaction open on the connection.
  absl::StatusOr<Inspection> InspectForBackfill(const Config& config);

  // Fails when objects of an earlier run still exist (slot, publication,
  // shadow or old table), naming them and the cleanup command.
  absl::Status CheckNoLeftovers(const Inspection& in);

 private:
  absl::Status ResolveTable(const Config& config, Inspection* out, bool for_backfill = false);
  absl::Status LoadColumns(Inspection* out);
  absl::Status ChooseBackfillKey(Inspection* out);
  absl::Status LoadColumnsAndKey(Inspection* out);
  absl::Status ChooseKey(Inspection* out);
  absl::Status CheckServer(Inspection* out);
  absl::Status CheckPrivileges(const Inspection& in);
  absl::Status CheckUnsupported(const Inspection& in);

  PgConn* conn_;
};

// The suffix a run that starts at `t` gives the original table and its
// indexes, statistics and sequences at the swap: "_old_<UTC yyyymmddhhmmss>".
std::string OldSuffixAt(absl::Time t);
// The suffix of runs recorded before each run had one of its own.
inline constexpr char kLegacyOldSuffix[] = "_old";

// The predictable names of everything a run on table `oid` creates; the old
// table's name with `old_suffix` (see OldSuffixAt).
ObjectNames NamesFor(const std::string& schema, const std::string& table, uint32_t oid,
                     const std::string& old_suffix);
// `name` with `suffix` for an object of the old table (the table itself,
// an index, a statistics object or a sequence), in 63 bytes: when `name`
// must be cut, a hash of the whole name keeps two cut names apart.
std::string OldObjectName(const std::string& name, const std::string& suffix);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_TABLE_INSPECTOR_H_
