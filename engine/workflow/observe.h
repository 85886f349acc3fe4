// The per-statement observation of the rehearsal: what the catalogs and
// pg_locks of the rehearsal session say before and after a statement, and
// the difference between the two as plan_facts.h's Observation.
//
// CatalogSnapshot and DiffObservation are pure (observe_diff.cc, unit-tested);
// ReadSnapshot and ReadHeldLocks read the session's own view (observe.cc),
// uncommitted changes of its transaction included. Reading them takes no
// lock on a user relation: only catalogs are read, so the locks observed
// after a statement are the statement's own.
//
// Thread-safety: plain data and stateless functions; the readers use the
// connection they are given, from the caller's thread.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_OBSERVE_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_OBSERVE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/workflow/plan_facts.h"

namespace shadowcopy::workflow {

// A relation of a user schema (not pg_catalog, information_schema, pg_toast
// or a temporary schema).
struct RelationEntry {
  std::string name;        // quote_ident(schema) || '.' || quote_ident(name)
  char relkind = 'r';      // pg_class.relkind
  uint32_t filenode = 0;   // pg_class.relfilenode (0 without storage)
  uint32_t table_oid = 0;  // for an index: the table it is on (pg_index.indrelid)
};

struct ColumnEntry {
  std::string name;  // quote_ident(attname)
  bool not_null = false;
};

struct ConstraintEntry {
  uint32_t table_oid = 0;  // pg_constraint.conrelid
  std::string name;        // quote_ident(conname)
  char type = 'c';         // pg_constraint.contype
  bool validated = true;   // pg_constraint.convalidated
};

struct CatalogSnapshot {
  std::map<uint32_t, RelationEntry> relations;                   // by oid
  std::map<std::pair<uint32_t, int>, ColumnEntry> columns;       // (table oid, attnum), tables only
  std::map<uint32_t, ConstraintEntry> constraints;               // by oid
};

// A relation lock the session holds (granted), by relation oid.
struct HeldLock {
  uint32_t oid = 0;
  std::string mode;  // as pg_locks spells it
};

// Fills `out`'s locks, rewrites, validated_constraints, indexes_built,
// columns_set_not_null and dropped, each sorted by name:
//   visible      what other sessions could see when the statement's
//                transaction began (relations created in the same transaction
//                are left out everywhere);
//   before/after the session's view just before and after the statement;
//   base_locks   locks the session held when the statement's transaction
//                began (empty for a transaction of its own); a lock is
//                reported when held after the statement in a stronger mode;
//   concurrent   the statement ran outside a transaction (CONCURRENTLY):
//                its new indexes are not reported as built without it.
// `after_locks` holds every lock of the session after the statement. An index
// dropped and made again under its name on the same table (ALTER COLUMN TYPE
// re-creates the table's indexes) is a rewrite when its storage changed and
// nothing when it was kept, never a drop and a build.
void DiffObservation(const CatalogSnapshot& visible, const CatalogSnapshot& before,
                     const CatalogSnapshot& after, const std::vector<HeldLock>& base_locks,
                     const std::vector<HeldLock>& after_locks, bool concurrent, Observation* out);

// The session's view of the user relations, columns and constraints of its
// current database.
absl::StatusOr<CatalogSnapshot> ReadSnapshot(PgConn* conn);

// The relation locks the session holds, granted, in its current database.
absl::StatusOr<std::vector<HeldLock>> ReadHeldLocks(PgConn* conn);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_OBSERVE_H_
