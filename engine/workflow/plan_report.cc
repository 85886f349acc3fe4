#include "engine/workflow/plan_report.h"

#include <map>

#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

// The statement on one line, cut at `width` bytes.
std::string OneLine(std::string_view sql, size_t width) {
  std::string out;
  bool space = false;
  for (char c : sql) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  if (out.size() > width) out = out.substr(0, width - 3) + "...";
  return out;
}

bool Failed(const StatementJudgement& s) {
  for (const Finding& f : s.findings)
    if (f.rule == "rehearsal-failed") return true;
  return false;
}

}  // namespace

Json PlanJson(const PlanFacts& facts, const PlanJudgement& judgement) {
  Json out = Json::object();
  out["target"] = facts.target;
  out["rehearsal"] = facts.rehearsal.empty() ? "none" : facts.rehearsal;
  Json statements = Json::array();
  for (size_t i = 0; i < facts.statements.size() && i < judgement.statements.size(); ++i) {
    const PlannedStatement& st = facts.statements[i].statement;
    const StatementJudgement& j = judgement.statements[i];
    Json s = Json::object();
    s["file"] = st.file;
    s["line"] = st.line;
    s["sql"] = st.sql;
    Json locks = Json::array();
    for (const ObservedLock& l : j.locks) locks.push_back(Json{{"relation", l.relation}, {"mode", l.mode}});
    s["locks"] = locks;
    s["rewrites"] = j.rewrites;
    Json findings = Json::array();
    for (const Finding& f : j.findings)
      findings.push_back(Json{{"rule", f.rule}, {"severity", SeverityName(f.severity)}, {"message", f.message}});
    s["findings"] = findings;
    s["safe_path"] = SafePathName(j.safe_path);
    s["estimated_lock_s"] = FixedDecimals(j.estimated_lock_s, 3);
    s["safe_path_lock_s"] = FixedDecimals(j.safe_path_lock_s, 3);
    s["commands"] = j.commands;
    statements.push_back(std::move(s));
  }
  out["statements"] = statements;
  return out;
}

std::string PlanText(const PlanFacts& facts, const PlanJudgement& judgement, Severity fail_on) {
  std::string out = fmt::format("plan for database {}: {} statements", facts.target.empty() ? "?" : facts.target,
                                facts.statements.size());
  if (judgement.static_only)
    out += fmt::format(" (rehearsal: {}; static rules only: locks and rewrites are PostgreSQL's documented "
                       "ones, not observed)\n",
                       facts.rehearsal.empty() ? "none" : facts.rehearsal);
  else
    out += fmt::format(" (rehearsal: {}: locks and rewrites observed)\n", facts.rehearsal);
  out += fmt::format("lock times estimated at {:.0f} MB/s rewrite throughput{}\n",
                     judgement.rewrite_bytes_per_s / 1048576.0,
                     judgement.throughput_assumed ? " (assumed: none measured on the target)" : " (measured)");
  std::map<Severity, int> counts;
  for (size_t i = 0; i < facts.statements.size() && i < judgement.statements.size(); ++i) {
    const PlannedStatement& st = facts.statements[i].statement;
    const StatementJudgement& j = judgement.statements[i];
    out += fmt::format("\n{}:{}{}  {}\n", st.file, st.line, st.in_transaction_block ? " (in transaction)" : "",
                       OneLine(st.sql, 110));
    std::string locks;
    for (const ObservedLock& l : j.locks) locks += fmt::format("{}{} {}", locks.empty() ? "" : ", ", l.relation, l.mode);
    if (!locks.empty())
      out += fmt::format("  locks:      {}{}\n", locks, j.locks_observed ? "" : " (documented)");
    if (!j.rewrites.empty()) out += fmt::format("  rewrites:   {}\n", fmt::join(j.rewrites, ", "));
    for (const Finding& f : j.findings) {
      ++counts[f.severity];
      out += fmt::format("  {:<8}    {}: {}\n", SeverityName(f.severity), f.rule, f.message);
    }
    if (j.estimated_lock_s > 0 || j.safe_path_lock_s > 0)
      out += fmt::format("  lock time:  ~{:.1f} s as written, ~{:.1f} s on the safe path\n", j.estimated_lock_s,
                         j.safe_path_lock_s);
    out += fmt::format("  safe path:  {}\n", SafePathName(j.safe_path));
    if (j.safe_path != SafePath::kAsIs)
      for (const std::string& c : j.commands) out += fmt::format("    {}\n", OneLine(c, 1000));
  }
  const int code = PlanExitCode(judgement, fail_on);
  out += fmt::format("\n{} errors, {} warnings, {} info (--fail-on {}: exit {})\n", counts[Severity::kError],
                     counts[Severity::kWarning], counts[Severity::kInfo], SeverityName(fail_on), code);
  return out;
}

int PlanExitCode(const PlanJudgement& judgement, Severity fail_on) {
  bool at_or_above = false;
  for (const StatementJudgement& s : judgement.statements) {
    if (Failed(s)) return 2;
    for (const Finding& f : s.findings)
      if (f.severity >= fail_on) at_or_above = true;
  }
  return at_or_above ? 1 : 0;
}

}  // namespace shadowcopy::workflow
