// The judgement of `plan`: rules over PlanFacts, each with a stable id, a
// severity scaled by production's real sizes and a one-line why; the safe
// path of every statement with the exact commands it runs; the time each
// statement would hold a lock that blocks the application, as written and
// on its safe path.
//
// What the rehearsal observed (locks, rewrites, validated constraints,
// indexes built) is used when the statement was rehearsed; otherwise the
// statement's text (plan_statement.h) and production's catalogs are read
// as PostgreSQL's documentation describes each command.
//
// Pure: no I/O. Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_PLAN_RULES_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_PLAN_RULES_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/workflow/plan_facts.h"

namespace shadowcopy::workflow {

enum class Severity { kInfo = 0, kWarning = 1, kError = 2 };

// "info", "warning", "error", and back.
std::string_view SeverityName(Severity s);
std::optional<Severity> ParseSeverity(std::string_view name);

struct RuleInfo {
  std::string_view id;   // stable: scripts and CI filter on it
  Severity severity;     // the most it is (smaller or new tables get less)
  std::string_view why;  // one line
};

// Every rule, in the order of the README's table.
const std::vector<RuleInfo>& AllRules();

struct Finding {
  std::string rule;
  Severity severity = Severity::kInfo;
  std::string message;
};

struct StatementJudgement {
  std::vector<ObservedLock> locks;     // observed, else as documented
  bool locks_observed = false;
  std::vector<std::string> rewrites;   // observed, else as documented
  std::vector<Finding> findings;
  SafePath safe_path = SafePath::kAsIs;
  std::vector<std::string> commands;   // what the safe path runs, in order
  // Seconds the statement would hold a lock that blocks readers or writers
  // of an existing table, as written and on its safe path.
  double estimated_lock_s = 0;
  double safe_path_lock_s = 0;
};

struct PlanJudgement {
  std::vector<StatementJudgement> statements;  // one per facts.statements
  bool static_only = true;            // no statement was rehearsed
  double rewrite_bytes_per_s = 0;     // used for the estimates
  bool throughput_assumed = false;    // facts had none: a default was used
};

// Judges every statement of `facts`, in order (transaction blocks, lock
// timeouts set and tables created earlier in the same file count).
PlanJudgement JudgePlan(const PlanFacts& facts);

// The highest severity of all findings; nullopt when there are none.
std::optional<Severity> HighestSeverity(const PlanJudgement& judgement);

// Below this a table is tiny: a lock on it is information, not a risk.
inline constexpr int64_t kTinyTableBytes = 8 << 20;
// A lock held at least this long (as estimated) on a table that is not tiny
// is an error.
inline constexpr double kErrorLockSeconds = 1.0;
// Used when the facts carry no measured throughput.
inline constexpr double kAssumedRewriteBytesPerS = 64.0 * (1 << 20);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_PLAN_RULES_H_
