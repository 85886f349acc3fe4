// A lexer for PostgreSQL's SQL text, following the server's own scanner
// (src/backend/parser/scan.l, PostgreSQL 15) with standard_conforming_strings
// on, and a statement splitter on top of it following psql's rules.
//
// Pure: no I/O, no server. Used wherever the tool must understand the
// structure of SQL text the user gave (the --alter subcommands, scripts):
// where a string, an identifier or a comment starts and ends is decided
// exactly as the server decides it, never by counting quote characters.
//
// What is recognised:
//   - whitespace (space, \t, \n, \r, \f, \v) separates tokens and is dropped;
//   - comments: `-- ...` to the end of the line, and `/* ... */`, which nest;
//   - strings: '...' with '' for a quote (no backslash escapes), E'...' with
//     backslash escapes (\' and \\ among them) as well as '', U&'...', and
//     B'...', X'...', N'...'; a string continues across a newline
//     ('a'<newline>'b' is one string, as in the server);
//   - dollar-quoted strings: $$...$$ and $tag$...$tag$, where the tag is
//     identifier-like without `$`; `$1` is a parameter, not a tag;
//   - identifiers: bare (letters, digits, _, $, any byte >= 0x80) and quoted
//     "..." with "" for a quote, and U&"...";
//   - numbers (integers, decimals, exponents; 1..2 is 1 followed by `..`);
//   - operators, as the server cuts them (`::`, `->>`, `<=`, `!=`, `+-` is
//     two operators, an operator ends where a comment starts);
//   - punctuation: ( ) [ ] , ; . and a lone `:`.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_COMMON_SQL_LEXER_H_
#define SHADOWCOPY_COMMON_SQL_LEXER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace shadowcopy::sql {

enum class TokenKind {
  kIdentifier,        // bare word: keywords too (`select`, `TYPE`)
  kQuotedIdentifier,  // "..." or U&"..."
  kString,            // '...', E'...', U&'...', B'...', X'...', N'...'
  kDollarString,      // $$...$$ or $tag$...$tag$
  kNumber,            // 42, 1.5, .5, 1e-3
  kParameter,         // $1
  kOperator,          // + - * / < > = ~ ! @ # % ^ & | ` ? and their
                      // combinations, `::`, `:=`, `=>`, `..`
  kPunctuation,       // ( ) [ ] , ; . :
  kComment,           // -- ... (without the newline) or /* ... */
  kOther,             // any other single byte, e.g. a backslash
};

// Its name, for messages and tests: "identifier", "string", ...
std::string_view TokenKindName(TokenKind kind);

struct Token {
  TokenKind kind;
  // The token as written, quotes and delimiters included. A view into the
  // text passed to Tokenize(): valid while that text lives.
  std::string_view text;
  size_t offset = 0;  // byte offset of the token's first byte in the text
  int line = 1;       // 1-based line of the token's first byte

  size_t end() const { return offset + text.size(); }
  // True for a bare identifier equal to `word` ignoring ASCII case; a quoted
  // identifier never matches (`"type"` is not the keyword TYPE).
  bool IsWord(std::string_view word) const;
  bool Is(TokenKind k, std::string_view t) const { return kind == k && text == t; }
};

// The tokens of `text`, comments included, whitespace left out.
// Returns InvalidArgument, with the line where the construct starts, for an
// unterminated quoted string, quoted identifier, dollar-quoted string or
// comment, and for a zero-length quoted identifier ("").
absl::StatusOr<std::vector<Token>> Tokenize(std::string_view text);

// The name an identifier token stands for: a bare identifier folded to lower
// case (ASCII letters only, as the server does), a quoted one without its
// quotes and with "" undoubled, a U&"..." one with its \XXXX and \+XXXXXX
// escapes decoded (UESCAPE is not supported). InvalidArgument for another
// kind of token or a bad escape.
absl::StatusOr<std::string> IdentifierName(const Token& token);

// One statement of a script.
struct Statement {
  // As written: from its first token that is not a comment to its last one
  // (comments inside the statement are kept); the terminating `;` is not
  // part of it.
  std::string text;
  int line = 1;         // the line the text starts on
  size_t offset = 0;    // byte offset of the text in the script
  bool terminated = false;  // ended with `;` (false only for the last one)
};

// Splits `script` into statements as psql does: at each `;` outside strings,
// quoted identifiers, comments and parentheses, and outside the BEGIN ... END
// body of a CREATE [OR REPLACE] FUNCTION/PROCEDURE (BEGIN ATOMIC). Transaction
// statements (BEGIN, COMMIT, ...) are statements like any other. Empty
// statements (`;;`, or comments only) are left out.
// Returns InvalidArgument, with its line, for a lexical error (see Tokenize)
// and for a psql meta-command (a backslash outside strings and comments, e.g.
// `\set` or `\connect`): only SQL is accepted.
absl::StatusOr<std::vector<Statement>> SplitStatements(std::string_view script);

}  // namespace shadowcopy::sql

#endif  // SHADOWCOPY_COMMON_SQL_LEXER_H_
