// The schema fingerprint: what the shadow was built from, so that a change
// the application makes to the original's definition during the run (an index
// created, a constraint added, SET NOT NULL, a new default, ...) is found at
// the cutover instead of being silently left on the old table.
//
// A fingerprint is one canonical text per object of the original's definition
// that the shadow copies when it is created (columns with their type, NOT
// NULL, default, identity and its sequence options, generated expression,
// collation, storage, compression, statistics target, options and comment;
// indexes; CHECK, UNIQUE, PRIMARY KEY and EXCLUDE constraints; statistics
// objects; rules; the table's owner, persistence, access method, tablespace,
// reloptions, inheritance and type). Left out is what the swap reads again
// under the cutover lock and carries as it then is — triggers, policies, row
// level security, grants, the table's comment, foreign keys both ways,
// replica identity, publications, autovacuum_enabled — and what the run
// itself changes on the original (its replica identity, its publication).
//
// It is read when the shadow is built, in the same transaction (prepare), kept
// in the run's state record (so a --resume compares against the same), and
// read again on the connection holding the cutover's ACCESS EXCLUSIVE lock;
// any difference rolls the cutover back and fails the run.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_REWRITE_SCHEMA_FINGERPRINT_H_
#define SHADOWCOPY_ENGINE_REWRITE_SCHEMA_FINGERPRINT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/pg.h"

namespace shadowcopy::engine {

// One object of the definition: `kind` ("column", "index", "constraint",
// "statistics", "rule", "table"), its name (raw, unquoted; "" for the table)
// and its canonical definition as "field: value" lines.
struct FingerprintObject {
  std::string kind;
  std::string name;
  std::string definition;
  bool operator==(const FingerprintObject&) const = default;
};

// Sorted by (kind, name).
using SchemaFingerprint = std::vector<FingerprintObject>;

// Reads the fingerprint of table `oid` (I/O, schema_fingerprint_catalog.cc),
// inside the caller's open transaction or else one of its own. It sets
// search_path (so every name comes out schema-qualified, whatever the
// session's path) and the settings that shape how constants print (DateStyle,
// TimeZone, ...) locally for the reads and restores them before returning.
absl::StatusOr<SchemaFingerprint> ReadSchemaFingerprint(PgConn* conn, uint32_t oid);

// Prepare: reads the fingerprint again after the shadow's creation (same
// transaction). Unavailable (build it again) when it differs from
// `built_from`, read before: DDL committed in between may or may not have
// reached the shadow.
absl::Status ConfirmBuiltFrom(PgConn* conn, uint32_t oid, const SchemaFingerprint& built_from);

// Cutover, on the connection holding the lock: OK when the original's
// fingerprint is still `built_from`, else DriftError naming `table` and what
// changed.
// Internal error for an empty `built_from` (never compare with nothing).
absl::Status CheckSchemaUnchanged(PgConn* locked_conn, uint32_t oid, const std::string& table,
                                  const SchemaFingerprint& built_from);

// Orders the objects by (kind, name).
void SortFingerprint(SchemaFingerprint* fp);

// The fingerprint as a flat list (kind, name, definition, kind, ...) for a
// text[] column of the state table, and back. FromFlat returns an error for a
// list whose length is not a multiple of three.
std::vector<std::string> FingerprintToFlat(const SchemaFingerprint& fp);
absl::StatusOr<SchemaFingerprint> FingerprintFromFlat(const std::vector<std::string>& flat);

// What differs between the fingerprint the shadow was built from and the
// original's now, one phrase per object: "index orders_note_idx added",
// "constraint orders_amount_check dropped", "column status changed (not
// null)". An index that backs a constraint reported as well is not repeated.
std::vector<std::string> DescribeDrift(const SchemaFingerprint& built_from, const SchemaFingerprint& now);

// FailedPrecondition naming `table` (as displayed) and (at most the first few
// of) `changes`: the one line the run ends with. Worded like the stream's stop
// on a column change ("table ... was altered ..."), so either way of noticing
// reads the same.
absl::Status DriftError(const std::string& table, const std::vector<std::string>& changes);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_SCHEMA_FINGERPRINT_H_
