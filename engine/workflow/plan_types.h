// Column types as `plan` compares them: aliases folded (int4 = integer,
// varchar(n) = character varying(n), ...) and whether changing a column
// from one type to another rewrites the table (PostgreSQL skips the
// rewrite for binary-coercible changes that only relax a constraint).
//
// Pure. Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_PLAN_TYPES_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_PLAN_TYPES_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shadowcopy::workflow {

struct TypeName {
  std::string base;       // "integer", "bigint", "varchar", "numeric", "text", "json", ...
  std::vector<int> mods;  // (50) -> {50}; (12,2) -> {12, 2}
  bool array = false;
};

// "int4" -> integer, "character varying(50)" -> varchar {50}, "decimal(12,2)"
// -> numeric {12, 2}, "serial" -> integer, "timestamp with time zone" ->
// timestamptz.
TypeName NormalizeType(std::string_view type);

// Whether ALTER COLUMN ... TYPE `to` rewrites a column of type `from`;
// nullopt when `from` is unknown (empty).
std::optional<bool> TypeChangeRewrites(std::string_view from, std::string_view to, bool has_using);

// integer or smallint (serial, int4, int2 included).
bool IsNarrowInteger(std::string_view type);
bool IsJson(std::string_view type);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_PLAN_TYPES_H_
