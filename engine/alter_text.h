// The structure of the --alter text: what follows `ALTER TABLE <name>`, cut
// into its comma-separated subcommands with PostgreSQL's lexical rules
// (common/sql_lexer.h), so a quote inside a dollar-quoted string or a comment
// cannot hide a later subcommand from the checks.
//
// Pure: no I/O. The server still validates the ALTER itself (it is applied to
// an empty shadow first); this only recognises what the online path must
// refuse: a USING conversion (the copy and the replay convert with plain
// casts), SET LOGGED/UNLOGGED (an unlogged shadow loses its rows in a crash),
// renaming or moving the table, and a statement separator.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_ALTER_TEXT_H_
#define SHADOWCOPY_ENGINE_ALTER_TEXT_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace shadowcopy::engine {

struct AlterSubcommand {
  enum class Kind {
    kOther,            // anything else (ADD, DROP, RENAME COLUMN, SET (...), ...)
    kAlterColumnType,  // ALTER [COLUMN] col [SET DATA] TYPE type [COLLATE c] [USING expr]
    kSetLogged,        // SET LOGGED
    kSetUnlogged,      // SET UNLOGGED
    kRenameTable,      // RENAME TO name
    kSetSchema,        // SET SCHEMA name
  };
  Kind kind = Kind::kOther;
  std::string text;  // as written, without the separating commas
  int line = 1;      // line of its first token in the --alter text
  // kAlterColumnType only, each as written ("" when absent):
  std::string column;  // the column's identifier token
  std::string type;    // the type name up to COLLATE/USING
  std::string collate;
  bool has_using = false;  // a USING clause, even one with nothing after it
  std::string using_expr;  // the expression after USING
};

// The subcommands of `alter`, split at commas outside parentheses and
// brackets. InvalidArgument for a lexical error (unterminated string,
// identifier, comment or dollar quote, with its line), a `;` anywhere outside
// strings and comments, and an empty subcommand (`a,,b`, a trailing comma, or
// no subcommand at all).
absl::StatusOr<std::vector<AlterSubcommand>> ParseAlterSubcommands(std::string_view alter);

// Validates the --alter text before it reaches the server: it parses
// (above), does not start with `ALTER TABLE` (the text is what follows the
// table's name), and has no subcommand the online path cannot follow: no
// RENAME TO or SET SCHEMA of the table, no SET LOGGED/UNLOGGED, no
// ALTER COLUMN ... TYPE ... USING. InvalidArgument, one line, otherwise.
absl::Status ValidateAlterText(const std::string& alter);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_ALTER_TEXT_H_
