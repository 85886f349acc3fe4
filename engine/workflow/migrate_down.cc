#include "engine/workflow/migrate_down.h"

#include "common/status.h"
#include "engine/workflow/migrate_safe_path.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

// Why `s` cannot be undone, "" when it can (its undo file aside).
std::string DownRefusal(const MigrationStatus& s) {
  switch (s.state) {
    case MigrationState::kApplied:
    case MigrationState::kUndoing:
      break;
    case MigrationState::kRunning:
      return fmt::format("version {} is being applied by another runner", s.version);
    case MigrationState::kFailed:
      return fmt::format(
          "version {} ({}) failed with {} of {} statements applied; its undo file assumes the whole migration: "
          "finish it with `migrate --execute` first",
          s.version, s.file, s.row->statements_applied, s.row->statements_total);
    case MigrationState::kModified:
      return fmt::format("version {}: {} changed since it was applied; restore it before undoing", s.version, s.file);
    case MigrationState::kMissing:
      return fmt::format("version {}: {} was applied but is not in the directory", s.version, s.file);
    case MigrationState::kPending:
    case MigrationState::kOutOfOrder:
      return "";  // not recorded: never selected
  }
  return "";
}

// How many of `paths` (in order) are reverts before the first that is not.
size_t DownRevertsBefore(const std::vector<DownPath>& paths) {
  size_t n = 0;
  while (n < paths.size() && paths[n] == DownPath::kRevert) ++n;
  return n;
}

bool Recorded(const MigrationStatus& s) {
  return s.row != nullptr && s.state != MigrationState::kPending && s.state != MigrationState::kOutOfOrder;
}

}  // namespace

MigrationFile UndoFileOf(const MigrationFile& migration) {
  MigrationFile u;
  u.name = migration.name;
  u.name.kind = FileKind::kUndo;
  u.file = migration.undo_file.value_or("");
  std::string_view path = migration.path;
  size_t slash = path.rfind('/');
  u.path = (slash == std::string_view::npos ? "" : std::string(path.substr(0, slash + 1))) + u.file;
  u.text = migration.undo_text;
  u.checksum = migration.undo_checksum;
  return u;
}

absl::StatusOr<DownPlan> DownMigrations(const std::vector<MigrationStatus>& statuses,
                                        const std::optional<MigrationVersion>& to,
                                        const std::map<std::string, WindowFacts>& windows) {
  std::vector<const MigrationStatus*> chosen;
  for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
    if (!Recorded(*it)) continue;
    if (to) {
      auto v = ParseVersion(it->version);
      if (v.ok() && !(*to < *v)) break;
    }
    chosen.push_back(&*it);
    if (!to) break;
  }
  std::vector<std::string> refusals;
  std::vector<DownPath> paths;
  for (const MigrationStatus* s : chosen) {
    auto w = windows.find(s->row->version);
    DownChoice choice = ChooseDownPath(*s, w == windows.end() ? WindowFacts{} : w->second);
    if (std::string why = DownRefusal(*s); !why.empty()) choice = {DownPath::kRefuse, std::move(why)};
    if (choice.path == DownPath::kRevert && paths.size() != DownRevertsBefore(paths))
      choice = {DownPath::kRefuse, fmt::format("version {} is inside a revert window but newer ones are not",
                                               s->version)};
    if (choice.path == DownPath::kRefuse) refusals.push_back(choice.why);
    paths.push_back(choice.path);
  }
  if (!refusals.empty()) {
    std::string msg = "cannot undo (nothing was run): ";
    for (size_t i = 0; i < refusals.size(); ++i) msg += (i ? "; " : "") + refusals[i];
    return absl::FailedPreconditionError(msg);
  }
  DownPlan plan;
  for (size_t k = 0; k < chosen.size(); ++k) {
    const MigrationStatus* s = chosen[k];
    if (paths[k] == DownPath::kRevert) {
      plan.reverts.push_back(s);
      continue;
    }
    const MigrationFile& undo = plan.files.emplace_back(UndoFileOf(*s->migration));
    PendingMigration p;
    p.file = &undo;
    ASSIGN_OR_RETURN(p.script, ParseMigrationScript(undo.file, undo.text));
    if (s->state == MigrationState::kUndoing) {
      p.resumed = true;
      ASSIGN_OR_RETURN(p.resume_at, ResumeAt(*s->row, p.script, undo.file));
      if (p.script.options.literal || p.script.options.transaction_file)
        p.resume_at = p.resume_at == static_cast<int>(p.script.statements.size()) ? p.resume_at : 0;
    }
    for (const PlannedStatement& st : p.script.statements) {
      SafePath path = SafePathFor(st, p.script.options);
      if (!RunnerExecutes(path))
        return absl::FailedPreconditionError(fmt::format(
            "{}:{}: the safe path {} is not executed by migrate yet; nothing was run", undo.file, st.line,
            SafePathName(path)));
      p.paths.push_back(path);
    }
    plan.undos.push_back(std::move(p));
    plan.migrations.push_back(s);
  }
  return plan;
}

}  // namespace shadowcopy::workflow
