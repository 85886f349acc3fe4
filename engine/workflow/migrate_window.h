// `migrate`'s revert windows, without I/O: which migrations keep their
// online rewrite's revert window open after its cutover (`migrate
// --revert-window D`), and which way `migrate down` takes an applied
// migration back — the lossless revert while its window is open and held
// by a live run, else its down file, else refused with why.
//
// Thread-safety: stateless functions over plain data.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_WINDOW_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_WINDOW_H_

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "engine/workflow/migrate_state.h"

namespace shadowcopy::workflow {

// Why `p` keeps no revert window; "" when it does: every statement of the
// migration is one online rewrite (a single ALTER, or consecutive ALTERs of
// one table run as one rewrite), nothing applied earlier, no verify block.
// A migration with other statements beside its rewrite would be only half
// undone by swapping the table back, so it is undone by its down file.
std::string NoWindowReason(const PendingMigration& p);

// The rewrite's words for a window of `window` (`--revert-window Nms`),
// then `extra` (--revert-accept, --health-check, ...).
std::vector<std::string> RevertWindowArgs(std::chrono::milliseconds window, const std::vector<std::string>& extra);

// What `migrate down` knows of an applied migration's window.
struct WindowFacts {
  std::string recorded;  // the history's revert_window: "", "open", "closed", "reverted"
  // shadowcopy.revert_windows' state of that run ("" none); "open" only
  // while its reverse slot exists (cleanup drops it).
  std::string live;
  bool held = false;     // a live runner holds the window (the runner lock is taken by another session)
  std::string schema, table;  // the online rewrite's table
  std::string until;     // when the window ends (UTC)
  bool run_alive = false;  // a session holds the window's run's own lock (its run, or a --resume of it)
};

enum class DownPath { kDownFile, kRevert, kRefuse };

struct DownChoice {
  DownPath path = DownPath::kDownFile;
  std::string why;  // kRefuse: one line, naming the version
};

// The way back for the recorded migration `s` (its own state aside, which
// DownMigrations checks): inside an open window held by a live run, the
// lossless revert; an open window nobody holds (its run was killed) is
// refused, naming how to end it; otherwise the down file, refused when
// there is none.
DownChoice ChooseDownPath(const MigrationStatus& s, const WindowFacts& w);

// Why `migrate --execute`, holding the runner lock, must not apply anything
// yet; "" when nothing is in the way. A window the history records open
// whose reverse stream still exists is in the way: its run still going (a
// --resume by hand: the next migration waits for it to end), or its run
// ended without closing it (a killed migrate: nothing replays writes back
// and its reverse slot retains WAL). One line naming the version, the table
// and what ends it. `windows` as ReadWindows gives them, by version.
std::string OpenWindowInTheWay(const std::map<std::string, WindowFacts>& windows);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_MIGRATE_WINDOW_H_
