#include "engine/workflow/migrate_state.h"

#include <algorithm>
#include <map>

#include "common/json.h"
#include "common/sql_lexer.h"
#include "common/status.h"
#include "engine/workflow/migrate_safe_path.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

// Versions of the history are normalised strings; order them as versions.
MigrationVersion VersionOf(const std::string& text) {
  auto v = ParseVersion(text);
  return v.ok() ? *v : MigrationVersion{};
}

std::string FirstLine(std::string_view sql) {
  std::string line(sql.substr(0, sql.find('\n')));
  if (line.size() > 80) line = line.substr(0, 77) + "...";
  return line;
}

// COMMIT, END, ROLLBACK (not ROLLBACK TO SAVEPOINT), ABORT.
bool EndsBlock(std::string_view sql_text) {
  auto tokens = sql::Tokenize(sql_text);
  if (!tokens.ok()) return false;
  std::vector<const sql::Token*> w;
  for (const sql::Token& t : *tokens)
    if (t.kind != sql::TokenKind::kComment) w.push_back(&t);
  if (w.empty()) return false;
  if (w[0]->IsWord("commit") || w[0]->IsWord("end") || w[0]->IsWord("abort")) return true;
  return w[0]->IsWord("rollback") && !(w.size() > 1 && w[1]->IsWord("to")) &&
         !(w.size() > 2 && w[2]->IsWord("to"));
}

}  // namespace

std::string_view MigrationStateName(MigrationState state) {
  switch (state) {
    case MigrationState::kApplied: return "applied";
    case MigrationState::kPending: return "pending";
    case MigrationState::kFailed: return "failed";
    case MigrationState::kRunning: return "running";
    case MigrationState::kModified: return "modified";
    case MigrationState::kMissing: return "missing";
    case MigrationState::kOutOfOrder: return "out-of-order";
    case MigrationState::kUndoing: return "undoing";
  }
  return "unknown";
}

std::vector<MigrationStatus> ComputeStatus(const std::vector<MigrationFile>& files,
                                           const std::vector<HistoryRow>& rows, bool runner_active) {
  std::map<std::string, const HistoryRow*> by_version;
  std::optional<MigrationVersion> newest_applied;
  for (const HistoryRow& r : rows) {
    if (r.state == "undone") continue;  // pending again
    by_version[VersionOf(r.version).Key()] = &r;
    if (r.state == "applied") {
      MigrationVersion v = VersionOf(r.version);
      if (!newest_applied || *newest_applied < v) newest_applied = v;
    }
  }
  std::vector<std::pair<MigrationVersion, MigrationStatus>> out;
  for (const MigrationFile& f : files) {
    MigrationStatus s{f.name.version.ToString(), f.name.description, f.file, MigrationState::kPending,
                      f.checksum, &f, nullptr};
    auto it = by_version.find(f.name.version.Key());
    if (it == by_version.end()) {
      if (newest_applied && f.name.version < *newest_applied) s.state = MigrationState::kOutOfOrder;
    } else {
      const HistoryRow& r = *it->second;
      s.row = &r;
      if (r.state == "applied")
        s.state = r.checksum == f.checksum ? MigrationState::kApplied : MigrationState::kModified;
      else if (r.state == "running" && runner_active)
        s.state = MigrationState::kRunning;
      else if (r.state == "undoing")
        s.state = MigrationState::kUndoing;
      else
        s.state = MigrationState::kFailed;
      by_version.erase(it);
    }
    out.emplace_back(f.name.version, s);
  }
  for (const auto& [key, r] : by_version)
    out.emplace_back(VersionOf(r->version), MigrationStatus{r->version, r->description, r->file,
                                                            MigrationState::kMissing, r->checksum, nullptr, r});
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<MigrationStatus> result;
  for (auto& [v, s] : out) result.push_back(s);
  return result;
}

bool NeedsAttention(const std::vector<MigrationStatus>& statuses) {
  return std::any_of(statuses.begin(), statuses.end(), [](const MigrationStatus& s) {
    return s.state == MigrationState::kFailed || s.state == MigrationState::kModified ||
           s.state == MigrationState::kMissing || s.state == MigrationState::kUndoing;
  });
}

std::vector<std::string> ValidationProblems(const std::vector<MigrationStatus>& statuses) {
  std::vector<std::string> out;
  for (const auto& s : statuses) {
    if (s.state == MigrationState::kModified)
      out.push_back(fmt::format("version {}: {} changed since it was applied (checksum {} applied, {} now)",
                                s.version, s.file, s.row->checksum.substr(0, 12), s.checksum.substr(0, 12)));
    if (s.state == MigrationState::kMissing)
      out.push_back(fmt::format("version {}: {} was applied but is not in the directory", s.version, s.file));
  }
  return out;
}

absl::StatusOr<int> ResumeAt(const HistoryRow& row, const MigrationScript& script, std::string_view file) {
  int applied = std::min<int>(row.statements_applied, static_cast<int>(row.statement_hashes.size()));
  if (applied > static_cast<int>(script.statements.size()))
    return absl::FailedPreconditionError(fmt::format(
        "{}: {} statements were applied but the file now has {}; restore the applied statements as they were",
        file, applied, script.statements.size()));
  for (int i = 0; i < applied; ++i) {
    const PlannedStatement& s = script.statements[i];
    if (StatementHash(s.sql) != row.statement_hashes[i])
      return absl::FailedPreconditionError(fmt::format(
          "{}: statement {} (line {}: {}) changed since it was applied; statements 1 to {} are applied and must "
          "stay as they were (edit only the later ones)",
          file, i + 1, s.line, FirstLine(s.sql), applied));
  }
  return applied;
}

absl::StatusOr<int> ResumeStep(const HistoryRow& row, const MigrationScript& script, int resume_at,
                               std::string_view file) {
  if (row.step <= 0) return 0;
  if (resume_at < static_cast<int>(script.statements.size()) &&
      StatementHash(script.statements[resume_at].sql) == row.step_statement)
    return row.step;
  return absl::FailedPreconditionError(fmt::format(
      "{}: statement {} changed after {} step{} of its safe path ran; restore it as it was to resume, or undo "
      "those steps by hand and set the history's step to 0",
      file, resume_at + 1, row.step, row.step == 1 ? "" : "s"));
}

std::vector<Unit> Units(const MigrationScript& script) {
  std::vector<Unit> out;
  const int n = static_cast<int>(script.statements.size());
  if (script.options.literal || script.options.transaction_file) return {{0, n}};
  for (int i = 0; i < n;) {
    int j = i + 1;
    if (script.statements[i].in_transaction_block)
      while (j < n && script.statements[j].in_transaction_block && !EndsBlock(script.statements[j - 1].sql)) ++j;
    out.push_back({i, j});
    i = j;
  }
  return out;
}

absl::StatusOr<std::vector<PendingMigration>> PendingMigrations(const std::vector<MigrationStatus>& statuses,
                                                                const std::optional<MigrationVersion>& to,
                                                                bool out_of_order) {
  if (auto problems = ValidationProblems(statuses); !problems.empty()) {
    std::string msg = "applied migrations do not match their files (nothing was run): ";
    for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    return absl::FailedPreconditionError(msg);
  }
  std::vector<PendingMigration> out;
  for (const MigrationStatus& s : statuses) {
    if (s.migration == nullptr) continue;
    if (to && *to < s.migration->name.version) break;
    if (s.state == MigrationState::kApplied) continue;
    if (s.state == MigrationState::kRunning)
      return absl::FailedPreconditionError(fmt::format("version {} is being applied by another runner", s.version));
    if (s.state == MigrationState::kUndoing)
      return absl::FailedPreconditionError(fmt::format(
          "version {} is being undone, or its undo was interrupted; finish it with `migrate down` first "
          "(nothing was run)", s.version));
    if (s.state == MigrationState::kOutOfOrder && !out_of_order)
      return absl::FailedPreconditionError(fmt::format(
          "{} (version {}) is pending but older than an applied migration; nothing was run (apply it with "
          "--out-of-order, or give it a newer version)",
          s.file, s.version));
    PendingMigration p;
    p.file = s.migration;
    ASSIGN_OR_RETURN(p.script, ParseMigrationScript(s.file, s.migration->text));
    if (s.row != nullptr) {
      p.resumed = true;
      ASSIGN_OR_RETURN(p.resume_at, ResumeAt(*s.row, p.script, s.file));
      // A literal or transaction=file file is one unit: resumed whole.
      if (p.script.options.literal || p.script.options.transaction_file)
        p.resume_at = p.resume_at == static_cast<int>(p.script.statements.size()) ? p.resume_at : 0;
      else {
        ASSIGN_OR_RETURN(p.resume_step, ResumeStep(*s.row, p.script, p.resume_at, s.file));
      }
    }
    for (const PlannedStatement& st : p.script.statements) {
      SafePath path = SafePathFor(st, p.script.options);
      if (!RunnerExecutes(path))
        return absl::FailedPreconditionError(fmt::format(
            "{}:{}: the safe path {} is not executed by migrate yet; nothing was run", s.file, st.line,
            SafePathName(path)));
      p.paths.push_back(path);
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::string PlanJson(const PendingMigration& p) {
  Json statements = Json::array();
  for (size_t i = 0; i < p.script.statements.size() && i < p.paths.size(); ++i)
    statements.push_back({{"line", p.script.statements[i].line}, {"safe_path", SafePathName(p.paths[i])}});
  const auto& o = p.script.options;
  return DumpJson(Json{{"statements", statements},
                       {"transaction", o.literal ? "literal" : o.transaction_file ? "file" : "statement"}});
}

}  // namespace shadowcopy::workflow
