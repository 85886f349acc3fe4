#include "engine/control/hooks_env.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

// The variables every hook gets, in order (SHADOWCOPY_EVENT first).
constexpr const char* kStandardHookVars[] = {
    "SHADOWCOPY_EVENT",          "SHADOWCOPY_DATABASE",          "SHADOWCOPY_SCHEMA",
    "SHADOWCOPY_TABLE",          "SHADOWCOPY_ALTER",             "SHADOWCOPY_MIGRATION_VERSION",
    "SHADOWCOPY_MIGRATION_DESCRIPTION", "SHADOWCOPY_RUN_ID",     "SHADOWCOPY_PHASE",
    "SHADOWCOPY_ROWS_COPIED",    "SHADOWCOPY_ROWS_ESTIMATED",    "SHADOWCOPY_CHANGES_REPLAYED",
    "SHADOWCOPY_ELAPSED_SECONDS", "SHADOWCOPY_ETA_SECONDS",
};

// The events' own variables: never inherited either (a stale one would read
// as this event's).
constexpr const char* kEventHookVars[] = {
    "SHADOWCOPY_ERROR",        "SHADOWCOPY_COMMAND",          "SHADOWCOPY_COMMAND_REPLY",
    "SHADOWCOPY_RETRY_ATTEMPT", "SHADOWCOPY_RETRY_REASON",    "SHADOWCOPY_CUTOVER_ATTEMPT",
    "SHADOWCOPY_MIGRATION_FILE", "SHADOWCOPY_ROWS_CHANGED",
};

std::string HookNumber(double v) { return fmt::format("{:.0f}", std::max(0.0, std::floor(v))); }

std::string HookValue(const std::string& v) { return v.substr(0, v.find('\0')); }

std::string_view VarName(std::string_view entry) { return entry.substr(0, entry.find('=')); }

}  // namespace

const std::vector<std::string>& HookEvents() {
  static const std::vector<std::string> kEvents = {
      "startup", "validated", "before-row-copy", "row-copy-complete", "status", "begin-postponed",
      "before-cutover", "success", "failure", "interactive-command", "batch-retry",
      // migrate
      "migration-start", "migration-applied", "migration-failed",
      // migrate's revert window
      "revert-window-open", "revert-window-closed", "health-check-failed", "reverted",
  };
  return kEvents;
}

bool IsHookEvent(std::string_view event) {
  const auto& events = HookEvents();
  return std::find(events.begin(), events.end(), event) != events.end();
}

std::string HookFileName(std::string_view event) { return fmt::format("{}{}", kHookFilePrefix, event); }

std::optional<std::string> HookEventOfFile(std::string_view file_name) {
  if (file_name.substr(0, kHookFilePrefix.size()) != kHookFilePrefix) return std::nullopt;
  return std::string(file_name.substr(kHookFilePrefix.size()));
}

bool IsHookVarName(std::string_view name) {
  constexpr std::string_view kPrefix = "SHADOWCOPY_";
  if (name.size() <= kPrefix.size() || name.substr(0, kPrefix.size()) != kPrefix) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
}

HookVars BuildHookVars(std::string_view event, const HookFacts& f, const HookVars& extra) {
  auto num = [](const auto& v) { return v ? HookNumber(static_cast<double>(*v)) : std::string(); };
  HookVars vars = {
      {"SHADOWCOPY_EVENT", std::string(event)},
      {"SHADOWCOPY_DATABASE", HookValue(f.database)},
      {"SHADOWCOPY_SCHEMA", HookValue(f.schema)},
      {"SHADOWCOPY_TABLE", HookValue(f.table)},
      {"SHADOWCOPY_ALTER", HookValue(f.alter)},
      {"SHADOWCOPY_MIGRATION_VERSION", HookValue(f.migration_version)},
      {"SHADOWCOPY_MIGRATION_DESCRIPTION", HookValue(f.migration_description)},
      {"SHADOWCOPY_RUN_ID", HookValue(f.run_id)},
      {"SHADOWCOPY_PHASE", HookValue(f.phase)},
      {"SHADOWCOPY_ROWS_COPIED", num(f.rows_copied)},
      {"SHADOWCOPY_ROWS_ESTIMATED", num(f.rows_estimated)},
      {"SHADOWCOPY_CHANGES_REPLAYED", num(f.changes_replayed)},
      {"SHADOWCOPY_ELAPSED_SECONDS", num(f.elapsed_s)},
      {"SHADOWCOPY_ETA_SECONDS", num(f.eta_s)},
  };
  for (const auto& [name, value] : extra) {
    if (!IsHookVarName(name)) continue;
    auto same = [&](const auto& v) { return v.first == name; };
    auto it = std::find_if(vars.begin(), vars.end(), same);
    if (it != vars.end()) it->second = HookValue(value);
    else vars.emplace_back(name, HookValue(value));
  }
  return vars;
}

std::vector<std::string> MergeHookEnvironment(const std::vector<std::string>& inherited, const HookVars& vars) {
  auto ours = [&](std::string_view name) {
    for (const char* s : kStandardHookVars)
      if (name == s) return true;
    for (const char* s : kEventHookVars)
      if (name == s) return true;
    for (const auto& v : vars)
      if (name == v.first) return true;
    return false;
  };
  std::vector<std::string> env;
  for (const auto& e : inherited)
    if (!ours(VarName(e))) env.push_back(e);
  for (const auto& [name, value] : vars) env.push_back(name + "=" + value);
  return env;
}

}  // namespace shadowcopy::engine
