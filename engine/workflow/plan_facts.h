// What `plan` knows about each statement of a migration file: the statement
// as split from the file, what the rehearsal observed the server do when it
// ran it, and production's sizes of the relations it touches. The rehearsal
// (rehearsal.h) fills the observations; the rules (plan_rules.h) judge them;
// the report prints them. Plain data, no I/O.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_PLAN_FACTS_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_PLAN_FACTS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shadowcopy::workflow {

// One statement of a migration file, as split by sql::SplitStatements.
struct PlannedStatement {
  std::string file;   // as given on the command line ("-" for stdin)
  int line = 1;       // 1-based line of the statement's first token
  std::string sql;    // as written, without the terminating `;`
  // Inside an explicit BEGIN ... COMMIT block of the file (the block's own
  // BEGIN and COMMIT statements are listed too, with this set to true).
  bool in_transaction_block = false;
};

// A relation lock the statement's backend held once it had run, on a
// relation that existed before it (pg_locks.locktype = 'relation').
struct ObservedLock {
  std::string relation;  // schema-qualified and quoted as needed: public.orders
  std::string mode;      // as pg_locks spells it: "AccessExclusiveLock"
};

// What the rehearsal saw one statement do.
struct Observation {
  bool rehearsed = false;              // false with --rehearsal none, or when
                                       // the statement cannot be rehearsed
                                       // (CONCURRENTLY: see `note`)
  std::vector<ObservedLock> locks;     // strongest mode per relation
  std::vector<std::string> rewrites;   // relations whose relfilenode changed
  // CHECK and FOREIGN KEY constraints the statement added already validated
  // (convalidated) on a table that existed before: a full scan under the
  // statement's lock. (A UNIQUE or PRIMARY KEY constraint's scan is the build
  // of its index, in indexes_built.)
  // "public.orders.orders_total_check"
  std::vector<std::string> validated_constraints;
  // Indexes the statement built on a table that existed before, without
  // CONCURRENTLY: "public.orders_customer_idx"
  std::vector<std::string> indexes_built;
  // Columns of tables that existed before that became NOT NULL:
  // "public.orders.customer_id"
  std::vector<std::string> columns_set_not_null;
  // Relations that existed before and are gone afterwards.
  std::vector<std::string> dropped;
  std::optional<std::string> error;    // the server's message, if it failed
  double duration_ms = 0;              // on the rehearsal (schema only: small)
  std::string note;                    // why not rehearsed, when it was not
};

// Production's size of one relation, read from its catalogs only.
struct RelationSize {
  int64_t rows = 0;    // pg_class.reltuples (or a count when never analyzed)
  int64_t bytes = 0;   // pg_total_relation_size
};

struct StatementFacts {
  PlannedStatement statement;
  Observation observation;
};

struct PlanFacts {
  std::string target;                 // the production database's name
  std::string rehearsal;              // "local", "dsn" or "none"
  std::vector<StatementFacts> statements;
  // Keyed like ObservedLock::relation, for every relation a statement locks,
  // rewrites or names.
  std::map<std::string, RelationSize> sizes;
  // Bytes per second a full rewrite of a table proceeds at on the target's
  // server (measured there, read-only), used to estimate lock times.
  double rewrite_bytes_per_s = 0;
  int server_version_num = 0;         // the target's, e.g. 150004
  // Wall time of the whole rehearsal (schema copy, server start and stop,
  // statements), in seconds; 0 without one.
  double rehearsal_s = 0;
  // Production's columns of the tables the statements name, keyed
  // "public.orders.total" (the column quoted as needed), as format_type
  // spells the type: "numeric(10,2)", "character varying(50)".
  std::map<std::string, std::string> column_types;
  // Production's indexes of those tables: table -> each index's columns in
  // order, up to its first expression column.
  std::map<std::string, std::vector<std::vector<std::string>>> index_columns;
  // Production's primary key columns of those tables.
  std::map<std::string, std::vector<std::string>> primary_keys;
};

// How `migrate` executes a statement: the stable words of `plan`'s output.
enum class SafePath {
  kAsIs,                     // run as written, with a lock_timeout and retries
  kOnlineRewrite,            // shadowcopy's online rewrite with an --alter
  kBackfill,                 // shadowcopy's batched UPDATE/DELETE
  kConcurrentIndex,          // CREATE/DROP INDEX CONCURRENTLY, outside a txn
  kNotValidThenValidate,     // ADD CONSTRAINT ... NOT VALID; then VALIDATE
  kCheckThenSetNotNull,      // CHECK (c IS NOT NULL) NOT VALID, VALIDATE, SET NOT NULL
  kUniqueViaConcurrentIndex, // CREATE UNIQUE INDEX CONCURRENTLY; ADD ... USING INDEX
  kRefuse,                   // not run: the finding says why
};

// "as-is", "online-rewrite", "backfill", "concurrent-index",
// "not-valid-then-validate", "check-then-set-not-null",
// "unique-via-concurrent-index", "refuse".
std::string_view SafePathName(SafePath path);
// The inverse of SafePathName; nullopt for another word.
std::optional<SafePath> ParseSafePath(std::string_view name);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_PLAN_FACTS_H_
