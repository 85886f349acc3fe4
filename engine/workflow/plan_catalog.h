// What `plan` reads from production itself: the database's name and
// version, and for every relation the statements name, its size, its
// columns' types and its indexes' columns. Catalogs only, in a read-only
// session; nothing is run there.
//
// Thread-safety: one call at a time per PlanFacts.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_PLAN_CATALOG_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_PLAN_CATALOG_H_

#include <set>
#include <string>

#include "absl/status/status.h"
#include "engine/workflow/plan_facts.h"

namespace shadowcopy::workflow {

// Relations the statements of `facts` name (tables, indexes, referenced
// tables), as plan_statement.h spells them.
std::set<std::string> NamedRelations(const PlanFacts& facts);

// Connects to `dsn` and fills what `facts` lacks: target, server version,
// sizes, column types and index columns of NamedRelations (a relation that
// does not exist in production is left out). Entries already there (from
// the rehearsal) are kept. Unavailable when the target cannot be reached.
absl::Status ReadTargetCatalog(const std::string& dsn, PlanFacts* facts);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_PLAN_CATALOG_H_
