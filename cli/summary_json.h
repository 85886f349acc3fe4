// The JSON line that ends a run's output: {"summary":{...}} with the run's
// counts and timings, for scripts. Pure: a summary in, a line out.
//
// Field names, their order and value types are part of the interface.
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_CLI_SUMMARY_JSON_H_
#define SHADOWCOPY_CLI_SUMMARY_JSON_H_

#include <string>

#include "engine/backfill/backfill.h"
#include "engine/rewrite/rewrite.h"

namespace shadowcopy::cli {

// An executed rewrite's summary line. One line, no newline.
std::string RewriteSummaryJson(const engine::Summary& s);

// An executed backfill's summary line. One line, no newline.
std::string BackfillSummaryJson(const engine::BackfillSummary& s);

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_SUMMARY_JSON_H_
