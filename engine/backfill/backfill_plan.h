// Formats a backfill's dry-run plan for the terminal (pure).
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_PLAN_H_
#define SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_PLAN_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/backfill/backfill_sql.h"
#include "throttler/chunk_sizer.h"

namespace shadowcopy::engine {

// What the dry run found out.
struct BackfillPlan {
  std::string table;  // quoted schema.table
  backfill_sql::BatchSpec spec;
  std::vector<std::string> key_names;
  std::string key_index;
  std::vector<std::string> span_first, span_last;  // empty: the table is empty
  std::string resumes;              // "run X after key (..)" when resuming; "" otherwise
  double estimated_keys = 0;        // rows in the table (planner)
  double estimated_matches = -1;    // rows the WHERE matches (planner); < 0 unknown
  int64_t validation_keys = 0;      // the rolled-back first batch
  int64_t validation_rows = 0;
  double validation_ms = 0;
  throttler::SizingSettings sizing;
  std::chrono::milliseconds lock_timeout{0};
  std::string statement;            // a batch's statement (line breaks shown as spaces)
};

std::string FormatBackfillPlan(const BackfillPlan& p);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_BACKFILL_BACKFILL_PLAN_H_
