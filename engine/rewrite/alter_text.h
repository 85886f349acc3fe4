// The structure of the --alter text: what follows `ALTER TABLE <name>`, cut
// into its comma-separated subcommands with PostgreSQL's lexical rules
// (common/sql_lexer.h), so a quote inside a dollar-quoted string or a comment
// cannot hide a later subcommand from the checks.
//
// Pure: no I/O. The server still validates the ALTER itself (it is applied to
// an empty shadow first); this only recognises what the online path must
// refuse: SET LOGGED/UNLOGGED (an unlogged shadow loses its rows in a crash),
// renaming or moving the table, and a statement separator; and it finds the
// USING expressions the copy, the replay and the verification apply.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_REWRITE_ALTER_TEXT_H_
#define SHADOWCOPY_ENGINE_REWRITE_ALTER_TEXT_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine {

struct AlterSubcommand {
  enum class Kind {
    kOther,            // anything else (ADD, DROP, RENAME COLUMN, SET (...), ...)
    kAlterColumnType,  // ALTER [COLUMN] col [SET DATA] TYPE type [COLLATE c] [USING expr]
    kSetLogged,        // SET LOGGED
    kSetUnlogged,      // SET UNLOGGED
    kRenameTable,      // RENAME TO name
    kSetSchema,        // SET SCHEMA name
    kDropExpression,   // ALTER [COLUMN] col DROP EXPRESSION [IF EXISTS]
  };
  Kind kind = Kind::kOther;
  std::string text;  // as written, without the separating commas
  int line = 1;      // line of its first token in the --alter text
  size_t offset = 0;  // byte offset of `text` in the --alter text
  // kAlterColumnType only, each as written ("" when absent):
  std::string column;  // the column's identifier token
  std::string type;    // the type name up to COLLATE/USING
  std::string collate;
  bool has_using = false;  // a USING clause, even one with nothing after it
  std::string using_expr;  // the expression after USING
  size_t using_offset = 0;  // its byte offset in the --alter text
};

// The subcommands of `alter`, split at commas outside parentheses and
// brackets. InvalidArgument for a lexical error (unterminated string,
// identifier, comment or dollar quote, with its line), a `;` anywhere outside
// strings and comments, and an empty subcommand (`a,,b`, a trailing comma, or
// no subcommand at all).
absl::StatusOr<std::vector<AlterSubcommand>> ParseAlterSubcommands(std::string_view alter);

// Attaches each ALTER COLUMN ... TYPE ... USING expression of `alter` to its
// column in `columns` (matched by source_name; `table` becomes the name the
// expression may qualify the column with). FailedPrecondition, one line, for
// a USING on a key column (the key is matched by plain casts), on a column
// the original does not have, or one that uses the whole row (`table`
// alone). That the expression uses only its own column and is immutable is
// checked by the server (ShadowBuilder).
absl::Status AttachUsingExpressions(std::string_view alter, const std::string& table,
                                    const std::vector<std::string>& key_names, std::vector<MappedColumn>* columns);

// The --alter text to apply to the shadow table: in each USING expression,
// `table.` (and `"table".`) qualifying a column is renamed `"shadow".`, so
// the expression means on the shadow what it means on the original. Other
// text is returned as written. InvalidArgument as ParseAlterSubcommands.
absl::StatusOr<std::string> AlterTextForShadow(std::string_view alter, const std::string& table,
                                               const std::string& shadow);

// Validates the --alter text before it reaches the server: it parses
// (above), does not start with `ALTER TABLE` (the text is what follows the
// table's name), and has no subcommand the online path cannot follow: no
// RENAME TO or SET SCHEMA of the table, no SET LOGGED/UNLOGGED, no DROP
// EXPRESSION (a generated column's values are neither copied nor sent by
// pgoutput: they would be lost). InvalidArgument, one line, otherwise.
absl::Status ValidateAlterText(const std::string& alter);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_ALTER_TEXT_H_
