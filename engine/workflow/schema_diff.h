// `migrate ci`'s comparison of two schemas, without I/O: a `pg_dump
// --schema-only` text normalised so that only the schema's definition is
// compared, and a unified diff of two such texts.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_SCHEMA_DIFF_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_SCHEMA_DIFF_H_

#include <string>
#include <string_view>
#include <vector>

namespace shadowcopy::workflow {

// The dump's lines without what says nothing of the schema: comments (pg_dump's
// "-- Name: ...; Type: ..." headers and its version lines), session settings
// (SET ..., set_config), psql's \restrict/\unrestrict lines (their key is
// random), trailing blanks, carriage returns and runs of empty lines (one
// kept between statements; none at the start or the end).
std::vector<std::string> NormalizeSchemaDump(std::string_view dump);

// A unified diff (`---`/`+++` headers, `@@ -a,n +b,m @@` hunks with
// `context` lines around each change) from `a` to `b`; "" when equal.
// Exact (longest common subsequence) unless the changed middle is very
// large, where it shows the middle as removed then added.
std::string UnifiedDiff(const std::vector<std::string>& a, const std::vector<std::string>& b,
                        std::string_view a_label, std::string_view b_label, int context = 3);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_SCHEMA_DIFF_H_
