// The swap: the statements that, inside the cutover transaction holding
// ACCESS EXCLUSIVE on the original, put the shadow in the original's place and
// carry over everything that hangs on the table — index, constraint and
// statistics names, sequences, foreign keys in both directions (re-created NOT
// VALID, validated after the commit), dependent views (dropped and created
// again: they bind by oid), triggers, row-level security and policies, table
// and column grants, comment, autovacuum settings, replica identity, the
// CLUSTER ON mark and publication memberships.
//
// ReadSwapCatalog() must run on the connection that holds the lock (any other
// connection reading the original would queue behind it forever) and before
// any rename: the definitions it reads name the original by its name, which
// the new table has once the statements run.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_REWRITE_SWAP_H_
#define SHADOWCOPY_ENGINE_REWRITE_SWAP_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg.h"
#include "engine/rewrite/shadow_builder.h"
#include "engine/table/inheritance.h"

namespace shadowcopy::engine {

struct OwnedSequence {
  std::string sequence;  // qualified, quoted
  std::string column;    // the original's column
  bool identity = false;
  std::string sequence_name;    // identity: the old sequence's bare name
  std::string shadow_sequence;  // identity: the shadow's sequence, qualified, quoted
};

struct Grant {
  std::string privilege;  // SELECT, INSERT, ...
  std::string grantee;    // role name, empty for PUBLIC
  bool grantable = false;
};

struct ColumnGrant {
  std::string column;  // the original's column name
  Grant grant;
};

// A foreign key to re-create: outgoing (the table references another) or
// incoming (a child table references the table).
struct ForeignKey {
  std::string table;       // qualified, quoted: the table that owns the constraint
  std::string name;        // constraint name
  std::string definition;  // pg_get_constraintdef, read before any rename
  bool validated = true;   // validate after the swap commits
  std::optional<std::string> comment;
};

struct Trigger {
  std::string name;
  std::string definition;  // pg_get_triggerdef, read before any rename
  char enabled = 'O';      // O, D, R, A
  std::optional<std::string> comment;
};

struct Policy {
  std::string name;
  std::string clauses;  // "AS ... FOR ... TO ... USING (...) WITH CHECK (...)"
  std::optional<std::string> comment;
};

// A view that depends (possibly through other views) on the table.
struct DependentView {
  std::string name;  // qualified, quoted
  int depth = 1;     // 1 = reads the table directly
  std::string definition;
  std::string options;  // reloptions joined by ", " ("" when none)
  std::string owner;
  std::vector<Grant> grants;
  std::optional<std::string> comment;
};

struct PublicationMembership {
  std::string publication;
  std::string columns;  // "(a, b)" or ""
  std::string filter;   // "WHERE (...)" or ""
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
  std::vector<ColumnGrant> column_grants;
  std::vector<ForeignKey> outgoing_fks;
  std::vector<ForeignKey> incoming_fks;
  std::vector<Trigger> triggers;
  bool row_security = false;
  bool force_row_security = false;
  std::vector<Policy> policies;
  std::vector<DependentView> views;  // creation order (depth ascending)
  std::vector<PublicationMembership> publications;
  std::string replica_identity_index;  // the original's index name when 'i'
  std::string clustered_index;         // the original's CLUSTER ON index name, "" when none
  InheritanceInfo inheritance;  // parents and children, re-pointed to the new table
};

absl::StatusOr<SwapCatalog> ReadSwapCatalog(PgConn* locked_conn, const ShadowPlan& plan);

struct SwapStatements {
  // Run in the cutover transaction, under the lock.
  std::vector<std::string> in_lock;
  // Run after it commits, each with a short lock_timeout and retries:
  // VALIDATE CONSTRAINT of the foreign keys re-created NOT VALID, and
  // re-owning serial sequences. The latter takes SHARE ROW EXCLUSIVE on the
  // sequence, which a writer that called nextval() and now queues behind our
  // table lock holds: doing it under the lock deadlocks with that writer (and
  // the deadlock detector may pick the application as the victim).
  std::vector<std::string> after_commit;
};

// The swap statements, in order (pure).
SwapStatements BuildSwapStatements(const ShadowPlan& plan, const SwapCatalog& catalog);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_SWAP_H_
