#include "engine/workflow/migrate_window.h"

#include "engine/workflow/migrate_safe_path.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {

std::string NoWindowReason(const PendingMigration& p) {
  const int n = static_cast<int>(p.script.statements.size());
  if (p.script.options.literal || p.script.options.transaction_file)
    return "its file runs as one transaction, not through the online rewrite";
  if (p.resume_at > 0) return "it resumes after statements applied earlier";
  if (!p.script.verify.empty()) return "it has a verify block, which needs the migration finished";
  auto group = RewriteGroupAt(p, 0);
  if (!group) return "it has no online rewrite";
  if (group->end != n) return "it has statements beside its online rewrite (its down file undoes them all)";
  return "";
}

std::vector<std::string> RevertWindowArgs(std::chrono::milliseconds window, const std::vector<std::string>& extra) {
  std::vector<std::string> a = {"--revert-window", fmt::format("{}ms", window.count())};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

DownChoice ChooseDownPath(const MigrationStatus& s, const WindowFacts& w) {
  if (w.recorded == "open" && w.live == "open") {
    if (w.held) return {DownPath::kRevert, ""};
    return {DownPath::kRefuse,
            fmt::format("version {}: the revert window of {} was left open by a run that ended (killed?); no "
                        "process replays its writes back: `shadowcopy cleanup --table {} --schema {} --execute` ends it, "
                        "then `migrate down` runs the down file",
                        s.version, w.schema + "." + w.table, w.table, w.schema)};
  }
  if (s.migration != nullptr && s.migration->undo_file) return {DownPath::kDownFile, ""};
  std::string closed = w.recorded.empty() ? "" : " and its revert window is closed";
  return {DownPath::kRefuse,
          fmt::format("version {} ({}) has no undo file (U{}__<description>.sql or {}_<description>.down.sql){}",
                      s.version, s.file, s.version, s.version, closed)};
}

std::string OpenWindowInTheWay(const std::map<std::string, WindowFacts>& windows) {
  for (const auto& [version, w] : windows) {
    if (w.recorded != "open" || w.live != "open") continue;
    const std::string table = w.schema + "." + w.table;
    if (w.run_alive)
      return fmt::format("version {}: the revert window of {} is still open, held by a run in progress; the next "
                         "migration starts once it ends (until {} UTC): try again then, or revert it with `shadowcopy "
                         "revert --table {} --schema {} --execute`; nothing was applied",
                         version, table, w.until, w.table, w.schema);
    return fmt::format("version {}: the revert window of {} was left open by a run that ended (killed?): nothing "
                       "replays its writes back and its reverse slot retains WAL; `shadowcopy cleanup --table {} "
                       "--schema {} --execute` ends it, keeping the new table; nothing was applied",
                       version, table, w.table, w.schema);
  }
  return "";
}

}  // namespace shadowcopy::workflow
