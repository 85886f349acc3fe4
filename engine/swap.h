// The swap: the statements that, inside the cutover transaction holding
// ACCESS EXCLUSIVE on the original, put the shadow in the original's place —
// table and index names, sequence ownership and identity positions, grants,
// comment and replica identity.
//
// ReadSwapCatalog() must run on the connection that holds the lock: any other
// connection reading the original would queue behind it forever.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_SWAP_H_
#define SHADOWCOPY_ENGINE_SWAP_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/shadow_builder.h"

namespace shadowcopy::engine {

struct OwnedSequence {
  std::string sequence;  // qualified, quoted
  std::string column;    // the original's column
  bool identity = false;
};

struct Grant {
  std::string privilege;  // SELECT, INSERT, ...
  std::string grantee;    // role name, empty for PUBLIC
  bool grantable = false;
};

struct SwapCatalog {
  std::vector<OwnedSequence> sequences;
  std::vector<Grant> grants;
  std::optional<std::string> comment;
  char replica_identity = 'd';
  // The original's autovacuum_enabled / toast.autovacuum_enabled reloptions
  // ("" when unset), restored on the new table.
  std::string autovacuum_enabled;
  std::string toast_autovacuum_enabled;
};

absl::StatusOr<SwapCatalog> ReadSwapCatalog(PgConn* locked_conn, const ShadowPlan& plan);

struct SwapStatements {
  // Run in the cutover transaction, under the lock.
  std::vector<std::string> in_lock;
  // Run after it commits, each with a short lock_timeout and retries.
  // Re-owning a serial sequence takes SHARE ROW EXCLUSIVE on the sequence,
  // which a writer that called nextval() and now queues behind our table lock
  // holds: doing it under the lock deadlocks with that writer (and the
  // deadlock detector may pick the application as the victim).
  std::vector<std::string> after_commit;
};

// The swap statements, in order (pure).
SwapStatements BuildSwapStatements(const ShadowPlan& plan, const SwapCatalog& catalog);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_SWAP_H_
