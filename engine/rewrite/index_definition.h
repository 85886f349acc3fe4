// What the catalog's definition functions leave out of an index or
// constraint definition, put back: pg_get_indexdef() omits the tablespace,
// pg_get_constraintdef() the storage parameters (WITH (...)) of a primary key
// or unique constraint and the tablespace of any index-backed constraint.
//
// Thread-safety: pure functions.
#ifndef SHADOWCOPY_ENGINE_REWRITE_INDEX_DEFINITION_H_
#define SHADOWCOPY_ENGINE_REWRITE_INDEX_DEFINITION_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace shadowcopy::engine {

struct IndexDefinition {
  // pg_get_constraintdef() of a constraint ('p', 'u', 'x'), else
  // pg_get_indexdef() of a plain index.
  std::string definition;
  char constraint_type = 0;                // 0 for a plain index
  std::optional<std::string> options;      // "fillfactor='75', ..." (reloptions), if any
  std::optional<std::string> tablespace;   // quoted name, unset for the database default
  std::optional<std::string> predicate;    // pg_get_expr(indpred), if partial
  bool deferrable = false;                 // constraints only
  bool initially_deferred = false;
};

// The definition with the options and tablespace in their place: before the
// predicate (and a constraint's DEFERRABLE clauses). InternalError when the
// definition does not end as expected.
absl::StatusOr<std::string> DefinitionWithStorage(const IndexDefinition& d);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_INDEX_DEFINITION_H_
