// What the rehearsal must know about a statement before running it: whether
// it controls the transaction (BEGIN, COMMIT, ROLLBACK) and whether the
// server refuses to run it inside a transaction block (CREATE INDEX
// CONCURRENTLY, VACUUM, ...), so its locks cannot be observed. Also the
// ordering of pg_locks' relation lock modes, and the relation names a
// statement's text may refer to.
//
// Pure: no I/O. Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_STATEMENT_KIND_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_STATEMENT_KIND_H_

#include <string>
#include <string_view>
#include <vector>

namespace shadowcopy::workflow {

enum class RehearsalTxnControl {
  kNone,      // an ordinary statement (SAVEPOINT and RELEASE included)
  kBegin,     // BEGIN, START TRANSACTION
  kCommit,    // COMMIT, END (not COMMIT PREPARED)
  kRollback,  // ROLLBACK, ABORT (not ROLLBACK TO SAVEPOINT or PREPARED)
};

struct RehearsalKind {
  RehearsalTxnControl control = RehearsalTxnControl::kNone;
  // The server runs it only outside a transaction block; `why` names it
  // ("CREATE INDEX CONCURRENTLY", "VACUUM", ...).
  bool outside_transaction = false;
  std::string why;
};

// What a statement does to the transaction block, from its leading words:
// the one classifier of transaction control that plan, migrate and the
// rehearsal share.
enum class TxnStatement {
  kOther,     // any other (SAVEPOINT, RELEASE, ROLLBACK TO, COMMIT PREPARED ...)
  kBegin,     // BEGIN, START TRANSACTION
  kCommit,    // COMMIT, END
  kRollback,  // ROLLBACK, ABORT
  kPrepare,   // PREPARE TRANSACTION
};
// `sql` is one statement, as split by sql::SplitStatements; comments are
// skipped. Text that does not tokenize is kOther.
TxnStatement ClassifyTxnStatement(std::string_view sql);

// Classifies `sql` (one statement, as split by sql::SplitStatements) from its
// leading words; comments are skipped. Text that does not tokenize is kNone.
// A PREPARE TRANSACTION is kNone here: the rehearsal does not run one.
RehearsalKind ClassifyForRehearsal(std::string_view sql);

// The strength of a relation lock mode as pg_locks spells it, 1 (AccessShareLock)
// to 8 (AccessExclusiveLock); 0 for anything else.
int LockModeStrength(std::string_view mode);

// The names the statement's text may refer to relations by: each identifier
// and each `a.b` pair, outside strings and comments, as written (quoted ones
// with their quotes), for to_regclass() to resolve. Keywords are included;
// they resolve to nothing. Duplicates removed, order kept.
std::vector<std::string> CandidateRelationNames(std::string_view sql);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_STATEMENT_KIND_H_
