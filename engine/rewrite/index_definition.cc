#include "engine/rewrite/index_definition.h"

namespace shadowcopy::engine {

absl::StatusOr<std::string> DefinitionWithStorage(const IndexDefinition& d) {
  const bool constraint = d.constraint_type != 0;
  std::string insert;
  // An exclusion constraint's definition carries its WITH (...) already.
  if (constraint && d.constraint_type != 'x' && d.options) insert += " WITH (" + *d.options + ")";
  if (d.tablespace) insert += (constraint ? " USING INDEX TABLESPACE " : " TABLESPACE ") + *d.tablespace;
  if (insert.empty()) return d.definition;
  std::string tail;
  if (d.predicate) tail = constraint ? " WHERE (" + *d.predicate + ")" : " WHERE " + *d.predicate;
  if (constraint && d.deferrable) tail += " DEFERRABLE";
  if (constraint && d.initially_deferred) tail += " INITIALLY DEFERRED";
  const std::string& def = d.definition;
  if (def.size() < tail.size() || def.compare(def.size() - tail.size(), tail.size(), tail) != 0)
    return absl::InternalError("cannot place the storage options of an index in its definition: " + def);
  std::string out = def;
  out.insert(def.size() - tail.size(), insert);
  return out;
}

}  // namespace shadowcopy::engine
