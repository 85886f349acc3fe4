#include "engine/workflow/plan_statement.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <initializer_list>

#include "common/quote.h"
#include "common/sql_lexer.h"

namespace shadowcopy::workflow {
namespace {

using sql::Token;
using sql::TokenKind;

// Functions whose value differs per row: a DEFAULT calling one makes
// ADD COLUMN rewrite the table (a stable one such as now() does not).
constexpr std::string_view kVolatileFunctions[] = {
    "random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
    "clock_timestamp", "timeofday", "nextval", "setseed", "txid_current"};

// Words that end a column's type in a column definition.
constexpr std::string_view kColumnStops[] = {"default",    "not",       "null",     "constraint", "check",
                                             "unique",     "primary",   "references", "generated", "collate",
                                             "compression", "using"};

bool IsIdent(const Token& t) {
  return t.kind == TokenKind::kIdentifier || t.kind == TokenKind::kQuotedIdentifier;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Name(const Token& t) {
  auto n = sql::IdentifierName(t);
  return n.ok() ? *n : std::string(t.text);
}

// A statement's tokens without comments, with the text they point into.
class Reader {
 public:
  explicit Reader(std::string_view sql) : sql_(sql) {
    auto tokens = sql::Tokenize(sql);
    if (!tokens.ok()) return;
    for (const Token& t : *tokens)
      if (t.kind != TokenKind::kComment) t_.push_back(t);
  }

  size_t size() const { return t_.size(); }
  const Token& at(size_t i) const { return t_[i]; }
  bool Word(size_t i, std::string_view w) const { return i < t_.size() && t_[i].IsWord(w); }
  bool Punct(size_t i, std::string_view p) const {
    return i < t_.size() && t_[i].Is(TokenKind::kPunctuation, p);
  }
  bool WordsAt(size_t i, std::initializer_list<std::string_view> words) const {
    for (std::string_view w : words)
      if (!Word(i++, w)) return false;
    return true;
  }
  // Text as written from token b up to (not including) token e.
  std::string Slice(size_t b, size_t e) const {
    if (b >= e || b >= t_.size()) return "";
    e = std::min(e, t_.size());
    return std::string(sql_.substr(t_[b].offset, t_[e - 1].end() - t_[b].offset));
  }
  // The tokens b..e joined compactly and lower-cased: "numeric(12,2)".
  std::string Compact(size_t b, size_t e) const {
    std::string out;
    for (size_t i = b; i < e && i < t_.size(); ++i) {
      const Token& t = t_[i];
      bool word = t.kind == TokenKind::kIdentifier || t.kind == TokenKind::kNumber;
      if (word && !out.empty() && (std::isalnum(static_cast<unsigned char>(out.back())) || out.back() == '_'))
        out += ' ';
      out += t.kind == TokenKind::kIdentifier ? Lower(t.text) : std::string(t.text);
    }
    return out;
  }
  // After an opening parenthesis at i: the index of its closing one (or size()).
  size_t Close(size_t i) const {
    int depth = 0;
    for (; i < t_.size(); ++i) {
      if (Punct(i, "(") || Punct(i, "[")) ++depth;
      if (Punct(i, ")") || Punct(i, "]")) {
        if (--depth == 0) return i;
      }
    }
    return t_.size();
  }
  // A possibly qualified name at *i: advances past it. Empty when none.
  std::string QualifiedName(size_t* i) const {
    if (*i >= t_.size() || !IsIdent(t_[*i])) return "";
    std::vector<std::string> parts{Name(t_[*i])};
    ++*i;
    while (Punct(*i, ".") && *i + 1 < t_.size() && IsIdent(t_[*i + 1])) {
      parts.push_back(Name(t_[*i + 1]));
      *i += 2;
    }
    if (parts.size() == 1) return RelationName("public", parts[0]);
    return RelationName(parts[parts.size() - 2], parts.back());
  }
  // Items of the parenthesized list opening at `open`: [begin, end) pairs.
  std::vector<std::pair<size_t, size_t>> Items(size_t open) const {
    std::vector<std::pair<size_t, size_t>> out;
    const size_t close = Close(open);
    size_t b = open + 1;
    for (size_t i = open + 1; i < close; ++i) {
      if (Punct(i, "(") || Punct(i, "[")) {
        i = Close(i);
        continue;
      }
      if (Punct(i, ",")) {
        if (i > b) out.push_back({b, i});
        b = i + 1;
      }
    }
    if (close > b) out.push_back({b, close});
    return out;
  }
  // Index of the first bare word of `words` at parenthesis depth 0 in [b, e).
  size_t Find(size_t b, size_t e, std::initializer_list<std::string_view> words) const {
    for (size_t i = b; i < e && i < t_.size(); ++i) {
      if (Punct(i, "(") || Punct(i, "[")) {
        i = Close(i);
        continue;
      }
      for (std::string_view w : words)
        if (t_[i].IsWord(w)) return i;
    }
    return std::min(e, t_.size());
  }

 private:
  std::string_view sql_;
  std::vector<Token> t_;
};

bool AnyVolatileCall(const Reader& r, size_t b, size_t e) {
  for (size_t i = b; i + 1 < e && i + 1 < r.size(); ++i) {
    if (r.at(i).kind != TokenKind::kIdentifier || !r.Punct(i + 1, "(")) continue;
    for (std::string_view f : kVolatileFunctions)
      if (r.at(i).IsWord(f)) return true;
  }
  return false;
}

bool IsStop(const Token& t) {
  for (std::string_view w : kColumnStops)
    if (t.IsWord(w)) return true;
  return false;
}

// Plain column names of a parenthesized list at `open`.
std::vector<std::string> ColumnList(const Reader& r, size_t open) {
  std::vector<std::string> out;
  if (!r.Punct(open, "(")) return out;
  for (auto [b, e] : r.Items(open)) {
    if (!IsIdent(r.at(b)) || r.Punct(b + 1, "(")) break;  // an expression: no plain column from here
    out.push_back(Name(r.at(b)));
  }
  return out;
}

// A table constraint from its kind keyword at i (CONSTRAINT name before it
// already read) to e.
void ReadTableConstraint(const Reader& r, size_t i, size_t e, ConstraintSpec* c) {
  size_t not_valid = e;
  for (size_t k = i; k + 1 < e; ++k)
    if (r.Word(k, "not") && r.Word(k + 1, "valid")) not_valid = k;
  c->not_valid = not_valid < e;
  c->definition = r.Slice(i, not_valid);
  if (r.Word(i, "check")) {
    c->kind = ConstraintKind::kCheck;
    if (r.Punct(i + 1, "(") && IsIdent(r.at(i + 2)) && r.WordsAt(i + 3, {"is", "not", "null"}) &&
        r.Punct(i + 6, ")"))
      c->not_null_column = Name(r.at(i + 2));
  } else if (r.Word(i, "unique") || r.WordsAt(i, {"primary", "key"})) {
    c->kind = r.Word(i, "unique") ? ConstraintKind::kUnique : ConstraintKind::kPrimaryKey;
    size_t k = r.Word(i, "unique") ? i + 1 : i + 2;
    if (r.WordsAt(k, {"nulls", "not", "distinct"})) k += 3;
    if (r.WordsAt(k, {"nulls", "distinct"})) k += 2;
    c->using_index = r.WordsAt(k, {"using", "index"});
    c->columns = ColumnList(r, k);
  } else if (r.WordsAt(i, {"foreign", "key"})) {
    c->kind = ConstraintKind::kForeignKey;
    c->columns = ColumnList(r, i + 2);
    size_t ref = r.Find(i + 2, e, {"references"});
    size_t k = ref + 1;
    if (ref < e) c->references = r.QualifiedName(&k);
  } else if (r.Word(i, "exclude")) {
    c->kind = ConstraintKind::kExclusion;
  }
}

// ADD [COLUMN] [IF NOT EXISTS] name type [column constraints].
void ReadAddColumn(const Reader& r, size_t b, size_t i, size_t e, AlterAction* a) {
  a->kind = ActionKind::kAddColumn;
  a->column_definition = r.Slice(b, r.Find(i, e, {"constraint", "references", "unique", "primary", "check"}));
  if (r.WordsAt(i, {"if", "not", "exists"})) i += 3;
  if (i >= e) return;
  a->column = Name(r.at(i++));
  size_t type_end = i;
  while (type_end < e && !IsStop(r.at(type_end))) {
    if (r.Punct(type_end, "(")) type_end = r.Close(type_end);
    ++type_end;
  }
  a->type = r.Compact(i, std::min(type_end, e));
  if (a->type == "serial" || a->type == "bigserial" || a->type == "smallserial" || a->type == "serial4" ||
      a->type == "serial8" || a->type == "serial2")
    a->volatile_default = true;
  for (size_t k = type_end; k < e; ++k) {
    if (r.Punct(k, "(")) {
      k = r.Close(k);
      continue;
    }
    if (r.Word(k, "default")) {
      a->has_default = true;
      size_t end = k + 1;
      while (end < e && !(IsStop(r.at(end)) && !r.Word(end, "null"))) {
        if (r.Punct(end, "(")) end = r.Close(end);
        ++end;
      }
      if (AnyVolatileCall(r, k + 1, end)) a->volatile_default = true;
      k = end - 1;
    } else if (r.Word(k, "not") && r.Word(k + 1, "null")) {
      a->not_null = true;
    } else if (r.Word(k, "generated")) {
      size_t as = r.Find(k, e, {"identity", "stored"});
      if (as < e) a->volatile_default = true;  // identity values or a stored expression: every row written
    } else if (r.Word(k, "constraint") && k + 1 < e) {
      a->constraint.name = Name(r.at(k + 1));
    } else if (r.Word(k, "references")) {
      a->constraint.kind = ConstraintKind::kForeignKey;
      a->constraint.columns = {a->column};
      a->constraint.definition = "FOREIGN KEY (" + IdentAsNeeded(a->column) + ") " + r.Slice(k, e);
      size_t q = k + 1;
      a->constraint.references = r.QualifiedName(&q);
    } else if (r.Word(k, "unique") || r.WordsAt(k, {"primary", "key"})) {
      a->constraint.kind = r.Word(k, "unique") ? ConstraintKind::kUnique : ConstraintKind::kPrimaryKey;
      a->constraint.columns = {a->column};
    } else if (r.Word(k, "check") && a->constraint.kind == ConstraintKind::kNone) {
      a->constraint.kind = ConstraintKind::kCheck;
      a->constraint.definition = r.Slice(k, r.Close(k + 1) + 1);
    }
  }
}

// ALTER [COLUMN] name ...
void ReadAlterColumn(const Reader& r, size_t i, size_t e, AlterAction* a) {
  if (i >= e) return;
  a->column = Name(r.at(i++));
  if (r.Word(i, "type") || r.WordsAt(i, {"set", "data", "type"})) {
    a->kind = ActionKind::kAlterType;
    size_t b = r.Word(i, "type") ? i + 1 : i + 3;
    size_t end = r.Find(b, e, {"using", "collate"});
    a->type = r.Compact(b, end);
    a->has_using = r.Find(b, e, {"using"}) < e;
  } else if (r.WordsAt(i, {"set", "default"})) {
    a->kind = ActionKind::kSetDefault;
  } else if (r.WordsAt(i, {"drop", "default"})) {
    a->kind = ActionKind::kDropDefault;
  } else if (r.WordsAt(i, {"set", "not", "null"})) {
    a->kind = ActionKind::kSetNotNull;
  } else if (r.WordsAt(i, {"drop", "not", "null"})) {
    a->kind = ActionKind::kDropNotNull;
  } else if (r.WordsAt(i, {"set", "statistics"}) || r.WordsAt(i, {"set", "storage"}) ||
             (r.Word(i, "set") && r.Punct(i + 1, "(")) || (r.Word(i, "reset") && r.Punct(i + 1, "("))) {
    a->kind = ActionKind::kSetStorageParameters;
  }
}

AlterAction ReadAction(const Reader& r, size_t b, size_t e) {
  AlterAction a;
  a.text = r.Slice(b, e);
  size_t i = b;
  if (r.Word(i, "add")) {
    ++i;
    if (r.Word(i, "column")) {
      ReadAddColumn(r, b, i + 1, e, &a);
      return a;
    }
    if (r.Word(i, "constraint") && i + 1 < e) {
      a.constraint.name = Name(r.at(i + 1));
      i += 2;
    }
    if (r.Word(i, "check") || r.Word(i, "unique") || r.Word(i, "primary") || r.Word(i, "foreign") ||
        r.Word(i, "exclude")) {
      a.kind = ActionKind::kAddConstraint;
      ReadTableConstraint(r, i, e, &a.constraint);
      return a;
    }
    ReadAddColumn(r, b, i, e, &a);
  } else if (r.Word(i, "drop")) {
    ++i;
    if (r.Word(i, "constraint")) {
      a.kind = ActionKind::kDropConstraint;
      return a;
    }
    if (r.Word(i, "column")) ++i;
    if (r.WordsAt(i, {"if", "exists"})) i += 2;
    a.kind = ActionKind::kDropColumn;
    if (i < e) a.column = Name(r.at(i));
  } else if (r.Word(i, "alter")) {
    ++i;
    if (r.Word(i, "constraint")) return a;
    if (r.Word(i, "column")) ++i;
    ReadAlterColumn(r, i, e, &a);
  } else if (r.WordsAt(i, {"validate", "constraint"})) {
    a.kind = ActionKind::kValidateConstraint;
    if (i + 2 < e) a.constraint.name = Name(r.at(i + 2));
  } else if (r.Word(i, "rename")) {
    ++i;
    if (r.Word(i, "to")) {
      a.kind = ActionKind::kRenameTable;
      if (i + 1 < e) a.new_name = Name(r.at(i + 1));
    } else if (r.Word(i, "constraint")) {
      a.kind = ActionKind::kRenameConstraint;
    } else {
      if (r.Word(i, "column")) ++i;
      a.kind = ActionKind::kRenameColumn;
      if (i < e) a.column = Name(r.at(i));
      if (i + 2 < e && r.Word(i + 1, "to")) a.new_name = Name(r.at(i + 2));
    }
  } else if (r.Word(i, "set")) {
    ++i;
    if (r.Word(i, "schema")) a.kind = ActionKind::kSetSchema;
    else if (r.Word(i, "logged")) a.kind = ActionKind::kSetLogged;
    else if (r.Word(i, "unlogged")) a.kind = ActionKind::kSetUnlogged;
    else if (r.Word(i, "tablespace")) a.kind = ActionKind::kSetTablespace;
    else if (r.WordsAt(i, {"access", "method"})) a.kind = ActionKind::kSetAccessMethod;
    else if (r.Punct(i, "(")) a.kind = ActionKind::kSetStorageParameters;
  } else if (r.Word(i, "reset") && r.Punct(i + 1, "(")) {
    a.kind = ActionKind::kSetStorageParameters;
  } else if (r.WordsAt(i, {"attach", "partition"})) {
    a.kind = ActionKind::kAttachPartition;
  } else if (r.WordsAt(i, {"detach", "partition"})) {
    a.kind = ActionKind::kDetachPartition;
  }
  return a;
}

void ReadAlterTable(const Reader& r, size_t i, StatementShape* s) {
  if (r.WordsAt(i, {"if", "exists"})) {
    s->if_exists = true;
    i += 2;
  }
  if (r.Word(i, "only")) ++i;
  s->relation = r.QualifiedName(&i);
  if (s->relation.empty()) return;
  s->kind = StatementKind::kAlterTable;
  if (i < r.size() && r.at(i).Is(TokenKind::kOperator, "*")) ++i;
  size_t b = i;
  for (size_t k = i; k < r.size(); ++k) {
    if (r.Punct(k, "(") || r.Punct(k, "[")) {
      k = r.Close(k);
      continue;
    }
    if (r.Punct(k, ",")) {
      if (k > b) s->actions.push_back(ReadAction(r, b, k));
      b = k + 1;
    }
  }
  if (r.size() > b) s->actions.push_back(ReadAction(r, b, r.size()));
}

void ReadCreateIndex(const Reader& r, size_t i, StatementShape* s) {
  s->kind = StatementKind::kCreateIndex;
  if (r.Word(i, "concurrently")) {
    s->concurrently = true;
    ++i;
  }
  if (r.WordsAt(i, {"if", "not", "exists"})) i += 3;
  std::string name;
  if (!r.Word(i, "on")) {
    size_t k = i;
    name = r.QualifiedName(&k);
    i = k;
  }
  if (!r.Word(i, "on")) return;
  ++i;
  if (r.Word(i, "only")) ++i;
  s->relation = r.QualifiedName(&i);
  if (!name.empty()) {
    // An index lives in its table's schema.
    std::string bare = name.substr(name.find('.') + 1);
    s->index_name = s->relation.substr(0, s->relation.find('.')) + "." + bare;
  }
  if (r.WordsAt(i, {"using"})) i += 2;
  s->index_columns = ColumnList(r, i);
}

void ReadNames(const Reader& r, size_t i, std::vector<std::string>* out) {
  while (i < r.size()) {
    std::string n = r.QualifiedName(&i);
    if (n.empty()) break;
    out->push_back(n);
    if (!r.Punct(i, ",")) break;
    ++i;
  }
}

void ReadCreateTable(const Reader& r, size_t i, StatementShape* s) {
  if (r.WordsAt(i, {"if", "not", "exists"})) i += 3;
  s->relation = r.QualifiedName(&i);
  if (s->relation.empty()) return;
  s->kind = StatementKind::kCreateTable;
  if (!r.Punct(i, "(")) return;
  for (auto [b, e] : r.Items(i)) {
    if (r.Word(b, "constraint")) b += 2;
    if (r.WordsAt(b, {"primary", "key"})) {
      for (const std::string& c : ColumnList(r, b + 2))
        for (ColumnDef& d : s->columns)
          if (d.name == c) d.primary_key = true;
      continue;
    }
    if (r.Word(b, "foreign") || r.Word(b, "references")) {
      size_t ref = r.Find(b, e, {"references"});
      size_t k = ref + 1;
      if (ref < e) s->references.push_back(r.QualifiedName(&k));
      continue;
    }
    if (r.Word(b, "unique") || r.Word(b, "check") || r.Word(b, "exclude") || r.Word(b, "like")) continue;
    ColumnDef d;
    d.name = Name(r.at(b));
    size_t te = b + 1;
    while (te < e && !IsStop(r.at(te))) {
      if (r.Punct(te, "(")) te = r.Close(te);
      ++te;
    }
    d.type = r.Compact(b + 1, std::min(te, e));
    d.primary_key = r.Find(te, e, {"primary"}) < e;
    size_t ref = r.Find(te, e, {"references"});
    if (ref < e) {
      size_t k = ref + 1;
      s->references.push_back(r.QualifiedName(&k));
    }
    s->columns.push_back(d);
  }
}

void ReadDml(const Reader& r, size_t i, StatementShape* s, bool update) {
  s->kind = update ? StatementKind::kUpdate : StatementKind::kDelete;
  if (!update && r.Word(i, "from")) ++i;
  if (r.Word(i, "only")) ++i;
  s->relation = r.QualifiedName(&i);
  bool alias = i < r.size() && !r.Word(i, "set") && !r.Word(i, "where") && !r.Word(i, "using");
  const size_t n = r.size();
  size_t set = update ? r.Find(i, n, {"set"}) : n;
  size_t from = r.Find(i, n, {update ? "from" : "using"});
  size_t where = r.Find(i, n, {"where"});
  size_t returning = r.Find(i, n, {"returning"});
  s->has_where = where < n;
  s->simple_dml = !alias && from == n && returning == n && !r.WordsAt(where + 1, {"current", "of"});
  if (update && set < n) s->set_clause = r.Slice(set + 1, std::min({from, where, returning}));
  if (s->has_where) s->where_clause = r.Slice(where + 1, returning);
}

const char* LockModeName(const Reader& r, size_t i) {
  struct M {
    std::initializer_list<std::string_view> words;
    const char* name;
  };
  static const M kModes[] = {{{"access", "share"}, "AccessShareLock"},
                             {{"row", "share"}, "RowShareLock"},
                             {{"row", "exclusive"}, "RowExclusiveLock"},
                             {{"share", "update", "exclusive"}, "ShareUpdateExclusiveLock"},
                             {{"share", "row", "exclusive"}, "ShareRowExclusiveLock"},
                             {{"share"}, "ShareLock"},
                             {{"exclusive"}, "ExclusiveLock"},
                             {{"access", "exclusive"}, "AccessExclusiveLock"}};
  for (const M& m : kModes)
    if (r.WordsAt(i, m.words) && r.Word(i + m.words.size(), "mode")) return m.name;
  return "AccessExclusiveLock";
}

}  // namespace

std::string IdentAsNeeded(std::string_view name) {
  bool plain = !name.empty() && (std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_');
  for (char c : name)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
          c == '$'))
      plain = false;
  return plain ? std::string(name) : QuoteIdent(name);
}

std::string RelationName(std::string_view schema, std::string_view name) {
  return IdentAsNeeded(schema) + "." + IdentAsNeeded(name);
}

double SettingMilliseconds(std::string_view value) {
  std::string v = Lower(value);
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') v = v.substr(1, v.size() - 2);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  char* end = nullptr;
  double n = std::strtod(v.c_str(), &end);
  if (end == v.c_str()) return -1;
  std::string unit(end);
  unit.erase(0, unit.find_first_not_of(' '));
  if (unit.empty() || unit == "ms") return n;
  if (unit == "s") return n * 1000;
  if (unit == "min") return n * 60000;
  if (unit == "h") return n * 3600000;
  if (unit == "us") return n / 1000;
  return -1;
}

StatementShape ClassifyStatement(std::string_view text) {
  StatementShape s;
  Reader r(text);
  if (r.size() == 0) return s;
  const size_t n = r.size();
  if (r.Word(0, "begin") || r.WordsAt(0, {"start", "transaction"})) {
    s.kind = StatementKind::kBegin;
  } else if ((r.Word(0, "commit") || r.Word(0, "rollback")) && !r.Word(1, "prepared") && !r.Word(1, "to")) {
    s.kind = StatementKind::kCommit;
  } else if (r.Word(0, "end") || r.Word(0, "abort")) {
    s.kind = StatementKind::kCommit;
  } else if (r.Word(0, "set")) {
    size_t i = 1;
    if (r.Word(i, "local") || r.Word(i, "session")) s.set_local = r.Word(i++, "local");
    if (i < n && IsIdent(r.at(i))) {
      s.kind = StatementKind::kSet;
      s.setting = Name(r.at(i));
      size_t v = i + 1;
      if (r.Word(v, "to") || (v < n && r.at(v).Is(TokenKind::kOperator, "="))) ++v;
      s.setting_value = r.Slice(v, n);
      if (s.setting_value.size() >= 2 && s.setting_value.front() == '\'')
        s.setting_value = s.setting_value.substr(1, s.setting_value.size() - 2);
    }
  } else if (r.WordsAt(0, {"alter", "table"})) {
    ReadAlterTable(r, 2, &s);
  } else if (r.Word(0, "create")) {
    size_t i = 1;
    if (r.Word(i, "unique")) {
      s.unique = true;
      ++i;
    }
    if (r.Word(i, "index")) {
      ReadCreateIndex(r, i + 1, &s);
    } else {
      while (r.Word(i, "unlogged") || r.Word(i, "temp") || r.Word(i, "temporary") || r.Word(i, "global") ||
             r.Word(i, "local"))
        ++i;
      if (r.Word(i, "table")) ReadCreateTable(r, i + 1, &s);
    }
  } else if (r.WordsAt(0, {"drop", "index"})) {
    s.kind = StatementKind::kDropIndex;
    size_t i = 2;
    if (r.Word(i, "concurrently")) {
      s.concurrently = true;
      ++i;
    }
    if (r.WordsAt(i, {"if", "exists"})) i += 2;
    ReadNames(r, i, &s.relations);
    if (!s.relations.empty()) s.relation = s.relations[0];
  } else if (r.WordsAt(0, {"drop", "table"})) {
    s.kind = StatementKind::kDropTable;
    size_t i = 2;
    if (r.WordsAt(i, {"if", "exists"})) i += 2;
    ReadNames(r, i, &s.relations);
    if (!s.relations.empty()) s.relation = s.relations[0];
  } else if (r.Word(0, "reindex")) {
    s.kind = StatementKind::kReindex;
    size_t i = 1;
    if (r.Punct(i, "(")) i = r.Close(i) + 1;
    s.reindex_table = r.Word(i, "table");
    ++i;
    if (r.Word(i, "concurrently")) {
      s.concurrently = true;
      ++i;
    }
    s.relation = r.QualifiedName(&i);
  } else if (r.Word(0, "truncate")) {
    s.kind = StatementKind::kTruncate;
    size_t i = 1;
    if (r.Word(i, "table")) ++i;
    if (r.Word(i, "only")) ++i;
    ReadNames(r, i, &s.relations);
    if (!s.relations.empty()) s.relation = s.relations[0];
  } else if (r.Word(0, "update")) {
    ReadDml(r, 1, &s, true);
  } else if (r.Word(0, "delete")) {
    ReadDml(r, 1, &s, false);
  } else if (r.WordsAt(0, {"insert", "into"})) {
    s.kind = StatementKind::kInsert;
    size_t i = 2;
    s.relation = r.QualifiedName(&i);
  } else if (r.Word(0, "vacuum")) {
    bool full = r.Find(1, n, {"full"}) < n;
    for (size_t i = 1; i < n && !full; ++i) full = r.Word(i, "full");
    if (full) {
      s.kind = StatementKind::kVacuumFull;
      size_t i = 1;
      if (r.Punct(i, "(")) i = r.Close(i) + 1;
      while (r.Word(i, "full") || r.Word(i, "verbose") || r.Word(i, "analyze") || r.Word(i, "freeze")) ++i;
      s.relation = r.QualifiedName(&i);
    }
  } else if (r.Word(0, "cluster")) {
    s.kind = StatementKind::kCluster;
    size_t i = 1;
    if (r.Word(i, "verbose")) ++i;
    s.relation = r.QualifiedName(&i);
  } else if (r.Word(0, "lock")) {
    s.kind = StatementKind::kLockTable;
    size_t i = 1;
    if (r.Word(i, "table")) ++i;
    if (r.Word(i, "only")) ++i;
    ReadNames(r, i, &s.relations);
    if (!s.relations.empty()) s.relation = s.relations[0];
    size_t in = r.Find(1, n, {"in"});
    s.lock_mode = in < n ? LockModeName(r, in + 1) : "AccessExclusiveLock";
  }
  return s;
}

}  // namespace shadowcopy::workflow
