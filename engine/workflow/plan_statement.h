// What one migration statement does, read from its tokens (common/sql_lexer)
// without a server: the kind of statement, the relation it works on, and for
// ALTER TABLE each subcommand (column, type, default, constraint, ...). The
// rules (plan_rules.h) judge this when nothing was observed, and name the
// safe path from it in every case.
//
// Relation names are schema-qualified ("public" when unqualified, as with
// the default search_path) and quoted only where needed: public.orders,
// public."Order Lines".
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_WORKFLOW_PLAN_STATEMENT_H_
#define SHADOWCOPY_ENGINE_WORKFLOW_PLAN_STATEMENT_H_

#include <string>
#include <string_view>
#include <vector>

namespace shadowcopy::workflow {

enum class StatementKind {
  kOther,
  kBegin,
  kCommit,    // COMMIT, END, ROLLBACK, ABORT
  kSet,       // SET [LOCAL|SESSION] name ...
  kAlterTable,
  kCreateIndex,
  kDropIndex,
  kReindex,
  kCreateTable,
  kDropTable,
  kTruncate,
  kUpdate,
  kDelete,
  kInsert,
  kVacuumFull,
  kCluster,
  kLockTable,
};

enum class ActionKind {
  kOther,
  kAddColumn,
  kDropColumn,
  kAlterType,
  kSetDefault,
  kDropDefault,
  kSetNotNull,
  kDropNotNull,
  kAddConstraint,
  kDropConstraint,
  kValidateConstraint,
  kRenameColumn,
  kRenameTable,
  kRenameConstraint,
  kSetSchema,
  kSetLogged,
  kSetUnlogged,
  kSetTablespace,
  kSetAccessMethod,
  kSetStorageParameters,  // SET (...) / RESET (...) / SET STATISTICS / SET STORAGE
  kAttachPartition,
  kDetachPartition,
};

enum class ConstraintKind { kNone, kCheck, kForeignKey, kUnique, kPrimaryKey, kExclusion };

struct ConstraintSpec {
  ConstraintKind kind = ConstraintKind::kNone;
  std::string name;                  // as written (folded), "" when unnamed
  std::string definition;            // from its kind's keyword on, as written: CHECK (x > 0)
  bool not_valid = false;
  bool using_index = false;          // UNIQUE / PRIMARY KEY USING INDEX
  std::vector<std::string> columns;  // the constrained (referencing) columns
  std::string references;            // FOREIGN KEY: the referenced relation
  // CHECK (c IS NOT NULL) on one column: c.
  std::string not_null_column;
};

struct AlterAction {
  ActionKind kind = ActionKind::kOther;
  std::string text;         // the subcommand as written
  // ADD COLUMN: the subcommand up to its first column constraint other than
  // DEFAULT / NOT NULL / GENERATED (REFERENCES, UNIQUE, PRIMARY KEY, CHECK).
  std::string column_definition;
  std::string column;       // its column (folded name), when it has one
  std::string new_name;     // RENAME ... TO
  std::string type;         // ADD COLUMN / TYPE: the type as written, lower-cased
  bool has_default = false;
  bool volatile_default = false;  // a volatile DEFAULT, serial, identity or STORED generated column
  bool not_null = false;          // ADD COLUMN ... NOT NULL
  bool has_using = false;         // TYPE ... USING
  ConstraintSpec constraint;      // ADD CONSTRAINT, or the column constraint of an ADD COLUMN
};

struct ColumnDef {
  std::string name;
  std::string type;  // lower-cased
  bool primary_key = false;
};

struct StatementShape {
  StatementKind kind = StatementKind::kOther;
  std::string relation;                 // the table (or index for DROP INDEX / REINDEX INDEX)
  std::vector<std::string> relations;   // DROP TABLE / DROP INDEX: every name
  std::vector<std::string> references;  // tables a CREATE TABLE's foreign keys reference
  bool concurrently = false;
  bool unique = false;
  bool if_exists = false;
  std::vector<AlterAction> actions;     // ALTER TABLE
  std::string index_name;               // CREATE INDEX (relation-qualified like the table)
  std::vector<std::string> index_columns;  // CREATE INDEX: plain column names, in order
  bool has_where = false;               // UPDATE / DELETE
  bool simple_dml = false;              // UPDATE/DELETE without FROM, USING, RETURNING, WITH
  std::string set_clause;               // UPDATE: the SET list as written
  std::string where_clause;             // UPDATE / DELETE: the WHERE condition as written
  std::string setting;                  // SET: the parameter (lower case)
  std::string setting_value;            // SET: the value as written, quotes removed
  bool set_local = false;
  bool reindex_table = false;           // REINDEX TABLE (else INDEX / other)
  std::string lock_mode;                // LOCK TABLE: pg_locks spelling
  std::vector<ColumnDef> columns;       // CREATE TABLE
};

// Reads `sql` (one statement, as split). Never fails: what it does not
// recognise is kOther / ActionKind::kOther.
StatementShape ClassifyStatement(std::string_view sql);

// schema.name, each part quoted only where needed.
std::string RelationName(std::string_view schema, std::string_view name);
// An identifier quoted only where needed.
std::string IdentAsNeeded(std::string_view name);

// A lock_timeout / statement_timeout value in milliseconds ("2s", '500ms',
// 1000, '1min'); -1 when it cannot be read. 0 means no timeout.
double SettingMilliseconds(std::string_view value);

}  // namespace shadowcopy::workflow

#endif  // SHADOWCOPY_ENGINE_WORKFLOW_PLAN_STATEMENT_H_
