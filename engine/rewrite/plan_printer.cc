#include "engine/rewrite/plan_printer.h"

#include <cmath>

#include "common/quote.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

std::string FormatPlan(const Config& config, const Inspection& in, const ShadowPlan& plan,
                       const SwapStatements& swap) {
  const auto& n = in.names;
  const auto& m = plan.model;
  std::string out;
  auto line = [&out](std::string s) { out += s + "\n"; };
  line(fmt::format("shadowcopy plan for {} (dry run: nothing was changed)", QualifiedName(n.schema, n.table)));
  line(fmt::format("  server:      PostgreSQL {}", in.server_version));
  line(fmt::format("  alter:       {}", config.alter.empty() ? "(none: rebuild the table as it is)" : config.alter));
  double batches = std::ceil(std::max(1.0, in.estimated_rows) / static_cast<double>(config.chunk_size));
  line(fmt::format("  rows:        ~{:.0f} (estimate), {:.1f} MiB; ~{:.0f} batches of {} rows",
                   in.estimated_rows, in.table_bytes / 1048576.0, batches, config.chunk_size));
  std::string key;
  for (int idx : m.key_columns) key += (key.empty() ? "" : ", ") + QuoteIdent(m.columns[idx].source_name);
  line(fmt::format("  key:         ({}) from index {}", key, QuoteIdent(in.key_index)));
  line("  columns (original -> new):");
  for (const auto& c : m.columns) {
    if (!c.kept) {
      line(fmt::format("    {} {} -> (dropped)", QuoteIdent(c.source_name), c.source_type));
      continue;
    }
    line(fmt::format("    {} {} -> {} {}{}", QuoteIdent(c.source_name), c.source_type,
                     QuoteIdent(c.target_name), c.target_type, !c.using_expr.empty() ? "  (USING)" : c.type_changed ? "  (cast)" : ""));
  }
  for (const auto& c : in.columns)
    if (c.generated) line(fmt::format("    {} (generated: recomputed)", QuoteIdent(c.name)));
  for (const auto& note : plan.notes) line("  note:        " + note);
  line(fmt::format("  rewrite:     {}", plan.plain_alter_rewrites ? "yes" : "no"));
  if (!plan.plain_alter_rewrites && !config.alter.empty())
    line("               a plain ALTER TABLE would not rewrite this table: it needs only a brief\n"
         "               ACCESS EXCLUSIVE lock, so an online migration is not required");
  line(fmt::format("  will create: table {}, publication {}, replication slot {}",
                   QualifiedName(n.schema, n.shadow), QuoteIdent(n.publication), QuoteIdent(n.slot)));
  line(fmt::format("  indexes:     {} built after the copy", plan.deferred_indexes.size()));
  for (const auto& stmt : plan.deferred_indexes) line("               " + stmt);
  line(fmt::format("  cutover:     {} -> {} ({}), {} -> {}", QualifiedName(n.schema, n.table),
                   QuoteIdent(n.old_table), config.drop_old_table ? "dropped afterwards" : "kept",
                   QuoteIdent(n.shadow), QuoteIdent(n.table)));
  line(fmt::format("               lock_timeout {} ms, up to {} attempts",
                   config.cutover_lock_timeout.count(), config.cutover_retries));
  if (config.verify)
    line(fmt::format("  verify:      yes, before the cutover: key ranges of {} rows hashed by {} workers at "
                     "consistency points (writers blocked for a fence drain, readers never)",
                     config.verify_range_rows, config.verify_workers));
  else
    line("  verify:      no (--verify=off)");
  line(fmt::format("  swap:        {} statements under the lock, built but not rehearsed under the table's lock",
                   swap.in_lock.size()));
  line("               (the dry run takes no lock stronger than ACCESS SHARE; --execute rehearses them");
  line("               under the lock before it creates anything):");
  for (const auto& stmt : swap.in_lock) line("               " + stmt);
  if (!swap.after_commit.empty()) line("  after swap:");
  for (const auto& stmt : swap.after_commit) line("               " + stmt);
  for (const auto& w : in.warnings) line("  warning:     " + w);
  for (const auto& w : plan.warnings) line("  warning:     " + w);
  line("run again with --execute to migrate");
  return out;
}

}  // namespace shadowcopy::engine
