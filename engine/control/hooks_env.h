// Hooks, the pure half: the events a run announces, the file that answers
// each (`shadowcopy-on-<event>` in the --hooks-path directory), and the
// environment a hook is started with. No I/O here (hooks.h runs them).
//
// Adding an event is one line in HookEvents() (hooks_env.cc) and a call to
// Hooks::Fire where it happens.
//
// Thread-safety: pure functions over values.
#ifndef SHADOWCOPY_ENGINE_CONTROL_HOOKS_ENV_H_
#define SHADOWCOPY_ENGINE_CONTROL_HOOKS_ENV_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shadowcopy::engine {

inline constexpr std::string_view kHookFilePrefix = "shadowcopy-on-";

// Every event name hooks may answer, in the order a run meets them; the
// names reserved for events still to come are included (a hook file for
// them is accepted and runs once they are announced).
const std::vector<std::string>& HookEvents();

// True when `event` is one of HookEvents().
bool IsHookEvent(std::string_view event);

// "shadowcopy-on-<event>".
std::string HookFileName(std::string_view event);

// The event a file name in the hooks directory answers: nullopt when the
// name lacks the prefix (not a hook: ignored); the text after the prefix
// otherwise, whether or not it is a known event (the caller reports unknown ones).
std::optional<std::string> HookEventOfFile(std::string_view file_name);

// Extra variables of one event: names must be SHADOWCOPY_[A-Z0-9_]+.
using HookVars = std::vector<std::pair<std::string, std::string>>;

// True for a name a hook variable may have: SHADOWCOPY_ then upper-case
// letters, digits and underscores.
bool IsHookVarName(std::string_view name);

// The facts of a run every hook is told; empty strings and unset optionals
// give empty variables (the variable is always set, so scripts may test it).
struct HookFacts {
  std::string database;
  std::string schema;
  std::string table;
  std::string alter;                  // the rewrite's ALTER (empty: a rebuild)
  std::string migration_version;      // migrate: the file's version
  std::string migration_description;  // migrate: the file's description
  std::string run_id;
  std::string phase;
  std::optional<int64_t> rows_copied;        // rewrite: rows copied; backfill: keys covered
  std::optional<int64_t> rows_estimated;     // planner estimate (backfill: keys in the span)
  std::optional<uint64_t> changes_replayed;  // rewrite only
  std::optional<double> elapsed_s;
  std::optional<double> eta_s;               // unknown: unset
};

// The SHADOWCOPY_* variables of `event`, in a fixed order: SHADOWCOPY_EVENT,
// then the facts, then `extra` (those with a bad name are left out; a NUL
// byte in a value ends it).
HookVars BuildHookVars(std::string_view event, const HookFacts& facts, const HookVars& extra);

// The environment of the hook process ("NAME=VALUE" strings): `inherited`
// (ours) with every SHADOWCOPY_* variable an event may set (standard or its
// own) and every name in `vars` removed, then `vars`.
std::vector<std::string> MergeHookEnvironment(const std::vector<std::string>& inherited, const HookVars& vars);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_CONTROL_HOOKS_ENV_H_
