#include "engine/backfill/backfill_plan.h"

#include <algorithm>

#include "common/quote.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

std::string FormatBackfillPlan(const BackfillPlan& p) {
  std::string out = fmt::format("backfill plan for {} (dry run: nothing was changed)\n", p.table);
  out += p.spec.delete_rows ? "  operation:   DELETE\n" : fmt::format("  operation:   UPDATE SET {}\n", p.spec.set);
  out += fmt::format("  where:       {}\n", p.spec.where);
  out += fmt::format("  key:         ({}) (index {})\n", QuoteIdentList(p.key_names), QuoteIdent(p.key_index));
  if (p.span_last.empty()) {
    out += "  key span:    none: the table is empty, nothing to do\n";
  } else {
    out += fmt::format("  key span:    {} .. {}, fixed when the run starts (rows inserted later above it, or "
                       "behind the cursor, are not touched)\n",
                       backfill_sql::FormatKey(p.span_first), backfill_sql::FormatKey(p.span_last));
    if (!p.resumes.empty()) out += fmt::format("  resumes:     {}\n", p.resumes);
    out += fmt::format("  rows:        ~{:.0f} in the table", p.estimated_keys);
    if (p.estimated_matches >= 0)
      out += fmt::format(", ~{:.0f} matching the WHERE (planner estimate)", p.estimated_matches);
    out += fmt::format("\n  validation:  the first batch ran and was rolled back: {} keys, {} rows would {} "
                       "({:.1f} ms)\n", p.validation_keys, p.validation_rows,
                       p.spec.delete_rows ? "be deleted" : "change", p.validation_ms);
    double rate = p.validation_ms > 0 ? p.validation_keys / (p.validation_ms / 1000) : 0;
    if (rate > 0)
      out += fmt::format("  estimate:    ~{:.1f} s unthrottled at the first batch's rate ({:.0f} keys/s)\n",
                         std::max(p.estimated_keys, 1.0) / rate, rate);
  }
  const auto& z = p.sizing;
  out += z.fixed ? fmt::format("  batches:     {} keys each", z.fixed_size)
                 : fmt::format("  batches:     adaptive toward {} ms each ({} to {} keys)", z.target.count(),
                               z.min_size, z.max_size);
  out += fmt::format(", lock_timeout {} ms per batch, each batch its own transaction\n", p.lock_timeout.count());
  std::string statement = p.statement;
  std::replace(statement.begin(), statement.end(), '\n', ' ');
  out += fmt::format("  statement:   {}\n", statement);
  out += "run again with --execute to apply it\n";
  return out;
}

}  // namespace shadowcopy::engine
