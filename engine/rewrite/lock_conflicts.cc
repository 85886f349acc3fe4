#include "engine/rewrite/lock_conflicts.h"

#include <array>

#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

struct ModeNames {
  LockMode mode;
  std::string_view pg_locks;
  std::string_view sql;
};

constexpr std::array<ModeNames, 8> kModes{{
    {LockMode::kAccessShare, "AccessShareLock", "ACCESS SHARE"},
    {LockMode::kRowShare, "RowShareLock", "ROW SHARE"},
    {LockMode::kRowExclusive, "RowExclusiveLock", "ROW EXCLUSIVE"},
    {LockMode::kShareUpdateExclusive, "ShareUpdateExclusiveLock", "SHARE UPDATE EXCLUSIVE"},
    {LockMode::kShare, "ShareLock", "SHARE"},
    {LockMode::kShareRowExclusive, "ShareRowExclusiveLock", "SHARE ROW EXCLUSIVE"},
    {LockMode::kExclusive, "ExclusiveLock", "EXCLUSIVE"},
    {LockMode::kAccessExclusive, "AccessExclusiveLock", "ACCESS EXCLUSIVE"},
}};

// PostgreSQL's LockConflicts table (src/backend/storage/lmgr/lock.c): for
// each mode, the modes it conflicts with, as bits indexed by LockMode.
constexpr unsigned Bit(LockMode m) { return 1u << static_cast<unsigned>(m); }
constexpr std::array<unsigned, 8> kConflicts{
    /* ACCESS SHARE */ Bit(LockMode::kAccessExclusive),
    /* ROW SHARE */ Bit(LockMode::kExclusive) | Bit(LockMode::kAccessExclusive),
    /* ROW EXCLUSIVE */ Bit(LockMode::kShare) | Bit(LockMode::kShareRowExclusive) | Bit(LockMode::kExclusive) |
        Bit(LockMode::kAccessExclusive),
    /* SHARE UPDATE EXCLUSIVE */ Bit(LockMode::kShareUpdateExclusive) | Bit(LockMode::kShare) |
        Bit(LockMode::kShareRowExclusive) | Bit(LockMode::kExclusive) | Bit(LockMode::kAccessExclusive),
    /* SHARE */ Bit(LockMode::kRowExclusive) | Bit(LockMode::kShareUpdateExclusive) |
        Bit(LockMode::kShareRowExclusive) | Bit(LockMode::kExclusive) | Bit(LockMode::kAccessExclusive),
    /* SHARE ROW EXCLUSIVE */ Bit(LockMode::kRowExclusive) | Bit(LockMode::kShareUpdateExclusive) |
        Bit(LockMode::kShare) | Bit(LockMode::kShareRowExclusive) | Bit(LockMode::kExclusive) |
        Bit(LockMode::kAccessExclusive),
    /* EXCLUSIVE */ Bit(LockMode::kRowShare) | Bit(LockMode::kRowExclusive) | Bit(LockMode::kShareUpdateExclusive) |
        Bit(LockMode::kShare) | Bit(LockMode::kShareRowExclusive) | Bit(LockMode::kExclusive) |
        Bit(LockMode::kAccessExclusive),
    /* ACCESS EXCLUSIVE */ 0xffu,
};

}  // namespace

std::optional<LockMode> ParseLockMode(std::string_view pg_locks_mode) {
  for (const auto& m : kModes)
    if (m.pg_locks == pg_locks_mode) return m.mode;
  return std::nullopt;
}

std::string_view LockModeName(LockMode mode) { return kModes[static_cast<size_t>(mode)].sql; }

bool LocksConflict(LockMode a, LockMode b) { return (kConflicts[static_cast<size_t>(a)] & Bit(b)) != 0; }

std::optional<LockHolder> FirstBlocker(const std::vector<LockHolder>& locks, LockMode want, double young_ms) {
  const LockHolder* waiter = nullptr;
  const LockHolder* holder = nullptr;
  for (const auto& l : locks) {
    auto mode = ParseLockMode(l.mode);
    // A mode we do not know (none today) is taken as the strongest.
    if (!LocksConflict(want, mode.value_or(LockMode::kAccessExclusive))) continue;
    if (!l.granted) {
      if (!waiter) waiter = &l;
      continue;
    }
    const bool young = l.xact_age_ms >= 0 && l.xact_age_ms < young_ms;
    if (young) continue;
    if (!holder || (holder->xact_age_ms >= 0 && (l.xact_age_ms < 0 || l.xact_age_ms > holder->xact_age_ms)))
      holder = &l;
  }
  if (waiter) return *waiter;
  if (holder) return *holder;
  return std::nullopt;
}

std::string DescribeHolder(const LockHolder& h) {
  auto mode = ParseLockMode(h.mode);
  std::string mode_name = mode ? std::string(LockModeName(*mode)) : h.mode;
  std::string query = h.query;
  for (char& c : query)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  std::string age = h.xact_age_ms >= 0 ? fmt::format(" for {:.1f} s", h.xact_age_ms / 1000.0) : "";
  return fmt::format("pid {} (application {}, user {}) {} {}{}{}", h.pid,
                     h.application_name.empty() ? "-" : h.application_name, h.usename.empty() ? "-" : h.usename,
                     h.granted ? "holding" : "waiting for", mode_name, age,
                     query.empty() ? "" : ": " + query);
}

}  // namespace shadowcopy::engine
