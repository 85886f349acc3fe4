#include "common/sql_lexer.h"

#include <cstdint>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace shadowcopy::sql {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool IsHorizSpace(char c) { return c == ' ' || c == '\t' || c == '\f'; }
bool IsNewline(char c) { return c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsHigh(char c) { return static_cast<unsigned char>(c) >= 0x80; }
bool IsIdentStart(char c) { return IsAsciiLetter(c) || IsHigh(c) || c == '_'; }
bool IsIdentCont(char c) { return IsIdentStart(c) || IsDigit(c) || c == '$'; }
bool IsDollarTagCont(char c) { return IsIdentStart(c) || IsDigit(c); }
bool IsOpChar(char c) {
  switch (c) {
    case '~': case '!': case '@': case '#': case '^': case '&': case '|': case '`': case '?':
    case '+': case '-': case '*': case '/': case '%': case '<': case '>': case '=':
      return true;
    default:
      return false;
  }
}
// Characters that make an operator ending in + or - keep its tail (scan.l).
bool IsNonSqlOpChar(char c) {
  switch (c) {
    case '~': case '!': case '@': case '#': case '^': case '&': case '|': case '`': case '?': case '%':
      return true;
    default:
      return false;
  }
}

absl::Status LexError(int line, std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("{} starting at line {}", what, line));
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : s_(text) {}

  absl::StatusOr<std::vector<Token>> Run() {
    std::vector<Token> out;
    while (true) {
      while (pos_ < s_.size() && IsSpace(s_[pos_])) Advance(1);
      if (pos_ >= s_.size()) break;
      size_t start = pos_;
      int line = line_;
      auto kind = Next();
      if (!kind.ok()) return kind.status();
      out.push_back(Token{*kind, s_.substr(start, pos_ - start), start, line});
    }
    return out;
  }

 private:
  char At(size_t i) const { return i < s_.size() ? s_[i] : '\0'; }
  bool Has(size_t i) const { return i < s_.size(); }
  // Moves n bytes on, counting lines.
  void Advance(size_t n) {
    for (size_t i = 0; i < n && pos_ < s_.size(); ++i, ++pos_)
      if (s_[pos_] == '\n') ++line_;
  }
  void AdvanceTo(size_t p) { Advance(p - pos_); }

  absl::StatusOr<TokenKind> Next() {
    char c = s_[pos_];
    char n = At(pos_ + 1);
    if (c == '-' && n == '-') {
      while (Has(pos_) && !IsNewline(s_[pos_])) Advance(1);
      return TokenKind::kComment;
    }
    if (c == '/' && n == '*') return BlockComment();
    if (c == '\'') return QuotedString(pos_, StringStyle::kStandard);
    if ((c == 'e' || c == 'E') && n == '\'') return QuotedString(pos_ + 1, StringStyle::kEscape);
    if ((c == 'b' || c == 'B' || c == 'x' || c == 'X') && n == '\'')
      return QuotedString(pos_ + 1, StringStyle::kBitOrHex);
    if ((c == 'n' || c == 'N') && n == '\'') return QuotedString(pos_ + 1, StringStyle::kStandard);
    if ((c == 'u' || c == 'U') && n == '&' && At(pos_ + 2) == '\'')
      return QuotedString(pos_ + 2, StringStyle::kStandard);
    if ((c == 'u' || c == 'U') && n == '&' && At(pos_ + 2) == '"') return QuotedIdentifier(pos_ + 2);
    if (c == '"') return QuotedIdentifier(pos_);
    if (c == '$') return Dollar();
    if (IsIdentStart(c)) {
      while (Has(pos_) && IsIdentCont(s_[pos_])) Advance(1);
      return TokenKind::kIdentifier;
    }
    if (IsDigit(c) || (c == '.' && IsDigit(n))) return Number();
    if (c == ':' && n == ':') { Advance(2); return TokenKind::kOperator; }
    if (c == ':' && n == '=') { Advance(2); return TokenKind::kOperator; }
    if (c == '.' && n == '.') { Advance(2); return TokenKind::kOperator; }
    if (IsOpChar(c)) return Operator();
    switch (c) {
      case '(': case ')': case '[': case ']': case ',': case ';': case '.': case ':':
        Advance(1);
        return TokenKind::kPunctuation;
      default:
        Advance(1);
        return TokenKind::kOther;
    }
  }

  absl::StatusOr<TokenKind> BlockComment() {
    int line = line_;
    int depth = 0;
    while (Has(pos_)) {
      if (s_[pos_] == '/' && At(pos_ + 1) == '*') {
        ++depth;
        Advance(2);
      } else if (s_[pos_] == '*' && At(pos_ + 1) == '/') {
        Advance(2);
        if (--depth == 0) return TokenKind::kComment;
      } else {
        Advance(1);
      }
    }
    return LexError(line, "unterminated /* comment");
  }

  enum class StringStyle { kStandard, kEscape, kBitOrHex };

  // `quote` is the position of the opening quote (after any prefix).
  absl::StatusOr<TokenKind> QuotedString(size_t quote, StringStyle style) {
    int line = line_;
    AdvanceTo(quote + 1);
    while (true) {
      if (!Has(pos_))
        return LexError(line, style == StringStyle::kBitOrHex ? "unterminated bit or hexadecimal string literal"
                                                              : "unterminated quoted string");
      char c = s_[pos_];
      if (c == '\\' && style == StringStyle::kEscape) {
        if (!Has(pos_ + 1)) return LexError(line, "unterminated quoted string");
        Advance(2);
        continue;
      }
      if (c != '\'') {
        Advance(1);
        continue;
      }
      if (style != StringStyle::kBitOrHex && At(pos_ + 1) == '\'') {  // '' is a quote
        Advance(2);
        continue;
      }
      Advance(1);  // the closing quote; a continuation may follow
      size_t next = Continuation(pos_);
      if (next == pos_) return TokenKind::kString;
      AdvanceTo(next + 1);
    }
  }

  // A string continues when its closing quote is followed by whitespace with
  // at least one newline (and -- comments) and another quote: returns that
  // quote's position, else `p`.
  size_t Continuation(size_t p) const {
    size_t i = p;
    auto skip_dash_comment = [&] {
      while (i < s_.size() && !IsNewline(s_[i])) ++i;
    };
    while (i < s_.size()) {
      if (IsHorizSpace(s_[i])) ++i;
      else if (s_[i] == '-' && At(i + 1) == '-') skip_dash_comment();
      else break;
    }
    if (i >= s_.size() || !IsNewline(s_[i])) return p;
    while (i < s_.size()) {
      if (IsSpace(s_[i])) ++i;
      else if (s_[i] == '-' && At(i + 1) == '-') {
        skip_dash_comment();
        if (i >= s_.size()) return p;  // a comment must end with a newline
      } else break;
    }
    return At(i) == '\'' ? i : p;
  }

  absl::StatusOr<TokenKind> QuotedIdentifier(size_t quote) {
    int line = line_;
    AdvanceTo(quote + 1);
    size_t body = pos_;
    while (true) {
      if (!Has(pos_)) return LexError(line, "unterminated quoted identifier");
      if (s_[pos_] != '"') {
        Advance(1);
        continue;
      }
      if (At(pos_ + 1) == '"') {
        Advance(2);
        continue;
      }
      if (pos_ == body) return LexError(line, "zero-length delimited identifier");
      Advance(1);
      return TokenKind::kQuotedIdentifier;
    }
  }

  absl::StatusOr<TokenKind> Dollar() {
    int line = line_;
    size_t start = pos_;
    if (IsDigit(At(pos_ + 1))) {
      Advance(1);
      while (Has(pos_) && IsDigit(s_[pos_])) Advance(1);
      return TokenKind::kParameter;
    }
    size_t i = pos_ + 1;
    if (IsIdentStart(At(i))) {
      ++i;
      while (i < s_.size() && IsDollarTagCont(s_[i])) ++i;
    }
    if (At(i) != '$') {  // not a delimiter: a lone `$`
      Advance(1);
      return TokenKind::kOther;
    }
    std::string_view delim = s_.substr(start, i + 1 - start);
    size_t close = s_.find(delim, i + 1);
    if (close == std::string_view::npos) return LexError(line, "unterminated dollar-quoted string");
    AdvanceTo(close + delim.size());
    return TokenKind::kDollarString;
  }

  absl::StatusOr<TokenKind> Number() {
    while (Has(pos_) && IsDigit(s_[pos_])) Advance(1);
    if (At(pos_) == '.' && At(pos_ + 1) != '.') {
      Advance(1);
      while (Has(pos_) && IsDigit(s_[pos_])) Advance(1);
    }
    if (At(pos_) == 'e' || At(pos_) == 'E') {
      size_t i = pos_ + 1;
      if (At(i) == '+' || At(i) == '-') ++i;
      if (IsDigit(At(i))) {
        AdvanceTo(i);
        while (Has(pos_) && IsDigit(s_[pos_])) Advance(1);
      }
    }
    return TokenKind::kNumber;
  }

  absl::StatusOr<TokenKind> Operator() {
    size_t end = pos_;
    while (end < s_.size() && IsOpChar(s_[end])) ++end;
    // A comment start inside the run ends the operator there.
    for (size_t i = pos_ + 1; i + 1 < end; ++i)
      if ((s_[i] == '/' && s_[i + 1] == '*') || (s_[i] == '-' && s_[i + 1] == '-')) {
        end = i;
        break;
      }
    size_t n = end - pos_;
    if (n > 1 && (s_[end - 1] == '+' || s_[end - 1] == '-')) {
      bool keep = false;
      for (size_t i = pos_; i + 1 < end; ++i)
        if (IsNonSqlOpChar(s_[i])) keep = true;
      if (!keep) {
        do {
          --n;
        } while (n > 1 && (s_[pos_ + n - 1] == '+' || s_[pos_ + n - 1] == '-'));
      }
    }
    Advance(n);
    return TokenKind::kOperator;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int line_ = 1;
};

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool ParseHex(std::string_view s, size_t at, size_t digits, uint32_t* out) {
  if (at + digits > s.size()) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < digits; ++i) {
    char c = s[at + i];
    int d = IsDigit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) return false;
    v = v * 16 + static_cast<uint32_t>(d);
  }
  *out = v;
  return true;
}

absl::StatusOr<std::string> DecodeUnicodeEscapes(std::string_view body, int line) {
  auto bad = [&] { return absl::InvalidArgumentError(fmt::format("invalid Unicode escape at line {}", line)); };
  std::string out;
  uint32_t high = 0;  // a pending high surrogate
  for (size_t i = 0; i < body.size();) {
    if (body[i] != '\\') {
      if (high) return bad();
      out.push_back(body[i++]);
      continue;
    }
    if (i + 1 < body.size() && body[i + 1] == '\\') {
      if (high) return bad();
      out.push_back('\\');
      i += 2;
      continue;
    }
    uint32_t cp = 0;
    if (i + 1 < body.size() && body[i + 1] == '+') {
      if (!ParseHex(body, i + 2, 6, &cp)) return bad();
      i += 8;
    } else {
      if (!ParseHex(body, i + 1, 4, &cp)) return bad();
      i += 5;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (high) return bad();
      high = cp;
      continue;
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      if (!high) return bad();
      cp = 0x10000 + ((high - 0xD800) << 10) + (cp - 0xDC00);
      high = 0;
    } else if (high) {
      return bad();
    }
    if (cp == 0 || cp > 0x10FFFF) return bad();
    AppendUtf8(cp, &out);
  }
  if (high) return bad();
  return out;
}

}  // namespace

std::string_view TokenKindName(TokenKind kind) {
  switch (kind) {
    case TokenKind::kIdentifier: return "identifier";
    case TokenKind::kQuotedIdentifier: return "quoted identifier";
    case TokenKind::kString: return "string";
    case TokenKind::kDollarString: return "dollar-quoted string";
    case TokenKind::kNumber: return "number";
    case TokenKind::kParameter: return "parameter";
    case TokenKind::kOperator: return "operator";
    case TokenKind::kPunctuation: return "punctuation";
    case TokenKind::kComment: return "comment";
    case TokenKind::kOther: return "other";
  }
  return "?";
}

bool Token::IsWord(std::string_view word) const {
  if (kind != TokenKind::kIdentifier || text.size() != word.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    char a = text[i], b = word[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view text) { return Lexer(text).Run(); }

absl::StatusOr<std::string> IdentifierName(const Token& token) {
  if (token.kind == TokenKind::kIdentifier) {
    std::string out(token.text);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
  }
  if (token.kind != TokenKind::kQuotedIdentifier)
    return absl::InvalidArgumentError(
        fmt::format("expected an identifier at line {}, found a {}", token.line, TokenKindName(token.kind)));
  bool unicode = token.text.front() != '"';
  std::string_view body = token.text.substr(unicode ? 3 : 1);
  body.remove_suffix(1);
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    out.push_back(body[i]);
    if (body[i] == '"') ++i;  // "" stands for one quote
  }
  if (!unicode) return out;
  return DecodeUnicodeEscapes(out, token.line);
}

absl::StatusOr<std::vector<Statement>> SplitStatements(std::string_view script) {
  auto tokens = Tokenize(script);
  if (!tokens.ok()) return tokens.status();
  std::vector<Statement> out;
  const Token* first = nullptr;  // first non-comment token of the statement
  const Token* last = nullptr;   // last non-comment token so far
  int paren_depth = 0, begin_depth = 0, identifier_count = 0;
  char identifiers[4] = {0, 0, 0, 0};
  auto finish = [&](bool terminated) {
    if (first != nullptr) {
      out.push_back(Statement{std::string(script.substr(first->offset, last->end() - first->offset)), first->line,
                              first->offset, terminated});
    }
    first = last = nullptr;
    paren_depth = begin_depth = identifier_count = 0;
    for (char& c : identifiers) c = 0;
  };
  for (const Token& t : *tokens) {
    if (t.kind == TokenKind::kComment) continue;
    if (t.Is(TokenKind::kOther, "\\")) {
      size_t end = t.offset + 1;
      while (end < script.size() && !IsSpace(script[end]) && script[end] != '\\') ++end;
      return absl::InvalidArgumentError(fmt::format(
          "line {}: psql meta-command {} is not supported: only SQL statements are accepted", t.line,
          script.substr(t.offset, end - t.offset)));
    }
    if (t.Is(TokenKind::kPunctuation, ";") && paren_depth == 0 && begin_depth == 0) {
      finish(true);
      continue;
    }
    if (first == nullptr) first = &t;
    last = &t;
    if (t.Is(TokenKind::kPunctuation, "(")) {
      ++paren_depth;
    } else if (t.Is(TokenKind::kPunctuation, ")")) {
      if (paren_depth > 0) --paren_depth;
    } else if (t.kind == TokenKind::kIdentifier) {
      // psql's heuristic for the BEGIN ... END body of a CREATE [OR
      // REPLACE] FUNCTION/PROCEDURE: its semicolons do not end the statement.
      if (identifier_count < 4) {
        identifiers[identifier_count] = 0;
        for (const char* w : {"create", "function", "procedure", "or", "replace"})
          if (t.IsWord(w)) identifiers[identifier_count] = w[0];
      }
      ++identifier_count;
      bool in_routine =
          identifiers[0] == 'c' &&
          (identifiers[1] == 'f' || identifiers[1] == 'p' ||
           (identifiers[1] == 'o' && identifiers[2] == 'r' && (identifiers[3] == 'f' || identifiers[3] == 'p')));
      if (in_routine && paren_depth == 0) {
        if (t.IsWord("begin")) {
          ++begin_depth;
        } else if (t.IsWord("case")) {
          if (begin_depth >= 1) ++begin_depth;
        } else if (t.IsWord("end")) {
          if (begin_depth > 0) --begin_depth;
        }
      }
    }
  }
  finish(false);
  return out;
}

}  // namespace shadowcopy::sql
