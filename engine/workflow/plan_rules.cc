#include "engine/workflow/plan_rules.h"

#include <algorithm>
#include <map>
#include <set>

#include "engine/workflow/plan_safe_path.h"
#include "engine/workflow/plan_statement.h"
#include "engine/workflow/plan_types.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

const std::vector<RuleInfo> kRules = {
    {"rewrite-under-access-exclusive", Severity::kError,
     "rewrites the whole table while every reader and writer waits (type change, volatile default, "
     "SET LOGGED/UNLOGGED, VACUUM FULL, ...)"},
    {"create-index-not-concurrently", Severity::kError,
     "CREATE INDEX without CONCURRENTLY blocks every write to the table for the whole build"},
    {"drop-index-not-concurrently", Severity::kWarning,
     "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table: it queues behind every query"},
    {"reindex-not-concurrently", Severity::kError,
     "REINDEX without CONCURRENTLY blocks writes, and reads that use the index, for the whole build"},
    {"constraint-without-not-valid", Severity::kError,
     "a CHECK or FOREIGN KEY added valid scans the whole table under a lock that blocks writes"},
    {"set-not-null-without-check", Severity::kError,
     "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE unless a validated CHECK proves it"},
    {"not-null-column-without-default", Severity::kError,
     "ADD COLUMN ... NOT NULL without a DEFAULT fails on a table that has rows"},
    {"unique-without-concurrent-index", Severity::kError,
     "a UNIQUE, PRIMARY KEY or EXCLUDE constraint builds its index under ACCESS EXCLUSIVE"},
    {"concurrently-in-transaction", Severity::kError,
     "CONCURRENTLY cannot run inside a transaction block: the statement fails"},
    {"lock-without-timeout", Severity::kWarning,
     "a lock request without lock_timeout waits behind long queries while every later query queues "
     "behind it"},
    {"statements-after-access-exclusive", Severity::kWarning,
     "the ACCESS EXCLUSIVE lock taken earlier in the transaction is held while this statement runs"},
    {"alters-could-be-combined", Severity::kInfo,
     "several ALTER TABLE of one table take its lock (and scan it) once each; one statement would do"},
    {"foreign-key-without-index", Severity::kWarning,
     "no index on the referencing columns: each delete or key update of the referenced table scans "
     "this one"},
    {"large-update-delete", Severity::kError,
     "one UPDATE/DELETE over a large table holds its row locks to the end and lags replicas"},
    {"drop-column", Severity::kWarning,
     "running application code that still reads the column fails: stop using it first (expand-contract)"},
    {"drop-table", Severity::kWarning,
     "running application code that still uses the table fails, and the data is gone"},
    {"rename-column", Severity::kWarning,
     "running application code uses the old name: add the new column, write both, then drop "
     "(expand-contract)"},
    {"rename-table", Severity::kWarning,
     "running application code uses the old name: a view under the old name bridges the deploy"},
    {"prefer-jsonb", Severity::kWarning,
     "json keeps the text as written: no equality, no GIN index, reparsed on every access; use jsonb"},
    {"integer-key", Severity::kError,
     "an integer key runs out at 2^31 (2147483647); changing it later rewrites the table and every "
     "referencing one"},
    {"transaction-not-closed", Severity::kWarning,
     "the file ends inside BEGIN ...: its statements are rolled back when the session ends"},
    {"rehearsal-failed", Severity::kError, "the statement failed on the rehearsal: it would fail in production"},
};

bool Blocks(std::string_view mode) {
  return mode == "ShareLock" || mode == "ShareRowExclusiveLock" || mode == "ExclusiveLock" ||
         mode == "AccessExclusiveLock";
}

int ModeRank(std::string_view mode) {
  static const char* kOrder[] = {"AccessShareLock",          "RowShareLock", "RowExclusiveLock",
                                 "ShareUpdateExclusiveLock", "ShareLock",    "ShareRowExclusiveLock",
                                 "ExclusiveLock",            "AccessExclusiveLock"};
  for (int i = 0; i < 8; ++i)
    if (mode == kOrder[i]) return i;
  return -1;
}

void AddLock(std::vector<ObservedLock>* locks, const std::string& relation, const std::string& mode) {
  for (ObservedLock& l : *locks) {
    if (l.relation != relation) continue;
    if (ModeRank(mode) > ModeRank(l.mode)) l.mode = mode;
    return;
  }
  locks->push_back({relation, mode});
}

int PathRank(SafePath p) {
  switch (p) {
    case SafePath::kAsIs: return 0;
    case SafePath::kNotValidThenValidate: return 1;
    case SafePath::kCheckThenSetNotNull: return 2;
    case SafePath::kUniqueViaConcurrentIndex: return 3;
    case SafePath::kConcurrentIndex: return 4;
    case SafePath::kBackfill: return 5;
    case SafePath::kOnlineRewrite: return 6;
    case SafePath::kRefuse: return 7;
  }
  return 0;
}

// What the judgement carries from one statement to the next.
struct Context {
  std::string file;
  double lock_timeout_ms = 0;         // 0: none set
  double saved_lock_timeout_ms = -1;  // before a SET LOCAL in the open block (-1: none)
  std::set<std::string> created;   // tables created earlier in the migration
  std::map<std::string, std::vector<std::vector<std::string>>> new_indexes;  // table -> columns
  std::map<std::string, std::string> new_column_types;  // "t.c" -> type
  std::set<std::string> proven_not_null;  // "t.c" with a validated CHECK (c IS NOT NULL)
  std::map<std::string, std::string> pending_not_null;  // constraint name -> "t.c"
  std::string exclusive_relation;   // ACCESS EXCLUSIVE held in the open block
  int exclusive_line = 0;
  bool exclusive_tiny = false;
  std::map<std::string, int> altered;  // table -> line of its last ALTER in this file
  std::set<std::string> key_reported;  // tables whose integer key was reported
  bool in_block = false;
};

class Judge {
 public:
  Judge(const PlanFacts& facts, double rate) : facts_(facts), rate_(rate) {}

  StatementJudgement Run(const StatementFacts& sf, Context* ctx);

 private:
  bool IsNew(const std::string& rel) const { return ctx_->created.count(rel) > 0; }
  int64_t Bytes(const std::string& rel) const {
    auto it = facts_.sizes.find(rel);
    return it == facts_.sizes.end() || IsNew(rel) ? 0 : it->second.bytes;
  }
  int64_t Rows(const std::string& rel) const {
    auto it = facts_.sizes.find(rel);
    return it == facts_.sizes.end() || IsNew(rel) ? 0 : it->second.rows;
  }
  bool Existing(const std::string& rel) const { return !rel.empty() && !IsNew(rel); }
  double RewriteSeconds(const std::string& rel) const { return Bytes(rel) / rate_; }
  double ScanSeconds(const std::string& rel) const { return Bytes(rel) / (4 * rate_); }
  // The severity of holding a blocking lock on `rel` for `seconds`.
  Severity LockSeverity(const std::string& rel, double seconds, Severity cap = Severity::kError) const {
    Severity s = Severity::kWarning;
    if (!Existing(rel) || Bytes(rel) < kTinyTableBytes) s = Severity::kInfo;
    else if (ctx_->lock_timeout_ms > 0 && seconds * 1000 < ctx_->lock_timeout_ms) s = Severity::kInfo;
    else if (seconds >= kErrorLockSeconds) s = Severity::kError;
    return std::min(s, cap);
  }
  std::string SizeText(const std::string& rel) const {
    if (IsNew(rel)) return "created in this migration";
    if (!facts_.sizes.count(rel)) return "size unknown";
    return fmt::format("{} rows, {:.1f} MB", Rows(rel), Bytes(rel) / 1048576.0);
  }
  void Add(std::string_view rule, Severity s, std::string message) {
    out_->findings.push_back({std::string(rule), s, std::move(message)});
  }
  void Path(SafePath p) {
    if (PathRank(p) > PathRank(out_->safe_path)) out_->safe_path = p;
  }
  void Blocking(double seconds) { out_->estimated_lock_s = std::max(out_->estimated_lock_s, seconds); }
  bool Rewrites(const std::string& rel, bool statically) const {
    if (rehearsed_) return std::count(obs_->rewrites.begin(), obs_->rewrites.end(), rel) > 0;
    return statically;
  }
  bool HasIndexOn(const std::string& table, const std::vector<std::string>& cols) const;

  void AlterTable(const StatementShape& s);
  void Action(const StatementShape& s, const AlterAction& a, std::vector<std::string>* split,
              std::vector<std::string>* plain, bool* rewrite);
  void AddConstraint(const StatementShape& s, const ConstraintSpec& c, std::vector<std::string>* split,
                     bool* handled);
  void IndexStatement(const StatementShape& s);
  void Dml(const StatementShape& s);
  void CreateTable(const StatementShape& s);
  void StaticLocks(const StatementShape& s);
  void LockChecks(const StatementShape& s);
  void ExistingIntegerKey(const std::string& rel);

  const PlanFacts& facts_;
  const double rate_;
  Context* ctx_ = nullptr;
  StatementJudgement* out_ = nullptr;
  const Observation* obs_ = nullptr;
  const PlannedStatement* st_ = nullptr;
  bool rehearsed_ = false;
};

bool Judge::HasIndexOn(const std::string& table, const std::vector<std::string>& cols) const {
  auto covers = [&](const std::vector<std::vector<std::string>>& indexes) {
    for (const auto& idx : indexes) {
      if (idx.size() < cols.size()) continue;
      std::set<std::string> lead(idx.begin(), idx.begin() + cols.size());
      if (lead == std::set<std::string>(cols.begin(), cols.end())) return true;
    }
    return false;
  };
  auto p = facts_.index_columns.find(table);
  if (p != facts_.index_columns.end() && covers(p->second)) return true;
  auto n = ctx_->new_indexes.find(table);
  return n != ctx_->new_indexes.end() && covers(n->second);
}

void Judge::StaticLocks(const StatementShape& s) {
  auto lock = [&](const std::string& rel, const char* mode) {
    if (Existing(rel)) AddLock(&out_->locks, rel, mode);
  };
  switch (s.kind) {
    case StatementKind::kAlterTable:
      for (const auto& a : s.actions) {
        const char* mode = "AccessExclusiveLock";
        if (a.kind == ActionKind::kValidateConstraint || a.kind == ActionKind::kSetStorageParameters ||
            a.kind == ActionKind::kAttachPartition)
          mode = "ShareUpdateExclusiveLock";
        if (a.kind == ActionKind::kAddConstraint && a.constraint.kind == ConstraintKind::kForeignKey)
          mode = "ShareRowExclusiveLock";
        lock(s.relation, mode);
        if (a.constraint.kind == ConstraintKind::kForeignKey) lock(a.constraint.references, "ShareRowExclusiveLock");
      }
      break;
    case StatementKind::kCreateIndex:
      lock(s.relation, s.concurrently ? "ShareUpdateExclusiveLock" : "ShareLock");
      break;
    case StatementKind::kDropIndex:
      for (const auto& r : s.relations) lock(r, s.concurrently ? "ShareUpdateExclusiveLock" : "AccessExclusiveLock");
      break;
    case StatementKind::kReindex:
      lock(s.relation, s.concurrently ? "ShareUpdateExclusiveLock"
                                      : (s.reindex_table ? "ShareLock" : "AccessExclusiveLock"));
      break;
    case StatementKind::kCreateTable:
      for (const auto& r : s.references) lock(r, "ShareRowExclusiveLock");
      break;
    case StatementKind::kDropTable:
    case StatementKind::kTruncate:
      for (const auto& r : s.relations) lock(r, "AccessExclusiveLock");
      break;
    case StatementKind::kVacuumFull:
    case StatementKind::kCluster:
      lock(s.relation, "AccessExclusiveLock");
      break;
    case StatementKind::kLockTable:
      for (const auto& r : s.relations) lock(r, s.lock_mode.c_str());
      break;
    case StatementKind::kUpdate:
    case StatementKind::kDelete:
    case StatementKind::kInsert:
      lock(s.relation, "RowExclusiveLock");
      break;
    default:
      break;
  }
}

void Judge::AddConstraint(const StatementShape& s, const ConstraintSpec& c, std::vector<std::string>* split,
                          bool* handled) {
  const std::string& rel = s.relation;
  const bool existing = Existing(rel);
  *handled = false;
  switch (c.kind) {
    case ConstraintKind::kCheck:
    case ConstraintKind::kForeignKey: {
      if (c.kind == ConstraintKind::kForeignKey && !c.columns.empty() && !HasIndexOn(rel, c.columns)) {
        bool small = Bytes(rel) < kTinyTableBytes && Bytes(c.references) < kTinyTableBytes;
        std::vector<std::string> q;
        for (const auto& col : c.columns) q.push_back(IdentAsNeeded(col));
        Add("foreign-key-without-index", small ? Severity::kInfo : Severity::kWarning,
            fmt::format("no index on {} ({}) for its foreign key to {}: each DELETE or key UPDATE there scans {} "
                        "({}); CREATE INDEX CONCURRENTLY on those columns first",
                        rel, fmt::join(q, ", "), c.references, rel, SizeText(rel)));
      }
      if (!c.not_null_column.empty()) {
        const std::string key = rel + "." + IdentAsNeeded(c.not_null_column);
        if (!c.not_valid)
          ctx_->proven_not_null.insert(key);
        else
          ctx_->pending_not_null[ConstraintName(rel, c)] = key;
      }
      if (!existing || c.not_valid) return;
      if (rehearsed_ && obs_->validated_constraints.empty()) return;
      const bool fk = c.kind == ConstraintKind::kForeignKey;
      const double sec = ScanSeconds(rel) + (fk ? ScanSeconds(c.references) : 0);
      Blocking(sec);
      Add("constraint-without-not-valid", LockSeverity(rel, sec),
          fmt::format("{} validates every row of {} ({}) under {}: ~{:.1f} s; add it NOT VALID, then VALIDATE "
                      "(ShareUpdateExclusiveLock: reads and writes go on)",
                      fk ? "FOREIGN KEY" : "CHECK", rel, SizeText(rel),
                      fk ? "ShareRowExclusiveLock (writes wait)" : "AccessExclusiveLock", sec));
      Path(SafePath::kNotValidThenValidate);
      for (auto& cmd : NotValidThenValidateCommands(rel, c)) split->push_back(cmd);
      *handled = true;
      return;
    }
    case ConstraintKind::kUnique:
    case ConstraintKind::kPrimaryKey: {
      if (!c.columns.empty()) ctx_->new_indexes[rel].push_back(c.columns);
      if (c.kind == ConstraintKind::kPrimaryKey && c.columns.size() == 1) {
        const std::string key = rel + "." + IdentAsNeeded(c.columns[0]);
        std::string type = ctx_->new_column_types.count(key) ? ctx_->new_column_types[key] : "";
        if (type.empty() && facts_.column_types.count(key)) type = facts_.column_types.at(key);
        if (IsNarrowInteger(type))
          Add("integer-key", Rows(rel) > 1000000000 ? Severity::kError : Severity::kWarning,
              fmt::format("primary key {} of {} is {}: prefer bigint", c.columns[0], rel, type));
      }
      if (!existing || c.using_index) return;
      const double sec = RewriteSeconds(rel);
      Blocking(sec);
      Add("unique-without-concurrent-index", LockSeverity(rel, sec),
          fmt::format("{} builds its index on {} ({}) under AccessExclusiveLock: ~{:.1f} s",
                      c.kind == ConstraintKind::kUnique ? "UNIQUE" : "PRIMARY KEY", rel, SizeText(rel), sec));
      auto cmds = UniqueViaIndexCommands(rel, c);
      if (cmds.empty()) return;
      Path(SafePath::kUniqueViaConcurrentIndex);
      for (auto& cmd : cmds) split->push_back(cmd);
      *handled = true;
      return;
    }
    case ConstraintKind::kExclusion:
      if (!existing) return;
      Blocking(RewriteSeconds(rel));
      Add("unique-without-concurrent-index", LockSeverity(rel, RewriteSeconds(rel)),
          fmt::format("EXCLUDE builds its index on {} ({}) under AccessExclusiveLock: ~{:.1f} s (an exclusion "
                      "constraint cannot be attached to a concurrently built index)",
                      rel, SizeText(rel), RewriteSeconds(rel)));
      return;
    case ConstraintKind::kNone:
      return;
  }
}

void Judge::Action(const StatementShape& s, const AlterAction& a, std::vector<std::string>* split,
                   std::vector<std::string>* plain, bool* rewrite) {
  const std::string& rel = s.relation;
  const bool existing = Existing(rel);
  const std::string key = rel + "." + IdentAsNeeded(a.column);
  auto rewrite_finding = [&](const std::string& what) {
    const double sec = RewriteSeconds(rel);
    Blocking(sec);
    Add("rewrite-under-access-exclusive", LockSeverity(rel, sec),
        fmt::format("{} rewrites {} ({}) under AccessExclusiveLock: ~{:.1f} s", what, rel, SizeText(rel), sec));
  };
  bool handled = false;
  switch (a.kind) {
    case ActionKind::kAlterType: {
      if (IsJson(a.type)) Add("prefer-jsonb", Severity::kWarning, fmt::format("column {} becomes json", a.column));
      std::string old = ctx_->new_column_types.count(key) ? ctx_->new_column_types[key] : "";
      if (old.empty() && facts_.column_types.count(key)) old = facts_.column_types.at(key);
      const std::optional<bool> statically = TypeChangeRewrites(old, a.type, a.has_using);
      if (existing && Rewrites(rel, statically.value_or(true))) {
        *rewrite = true;
        rewrite_finding(fmt::format("ALTER COLUMN {} TYPE {}{}", a.column, a.type,
                                    old.empty() ? " (its current type unknown: assumed to)"
                                                : fmt::format(" (from {})", old)));
      }
      ctx_->new_column_types[key] = a.type;
      break;
    }
    case ActionKind::kAddColumn:
      ctx_->new_column_types[key] = a.type;
      if (IsJson(a.type)) Add("prefer-jsonb", Severity::kWarning, fmt::format("column {} is json", a.column));
      if (existing && Rewrites(rel, a.volatile_default)) {
        *rewrite = true;
        rewrite_finding(fmt::format("ADD COLUMN {} with a volatile default (serial, identity, stored generated or "
                                    "a volatile function)",
                                    a.column));
      }
      if (existing && a.not_null && !a.has_default && Rows(rel) > 0) {
        Add("not-null-column-without-default", Severity::kError,
            fmt::format("ADD COLUMN {} NOT NULL without a DEFAULT fails: {} has rows ({}); add it nullable, "
                        "backfill it, then SET NOT NULL",
                        a.column, rel, SizeText(rel)));
        Path(SafePath::kRefuse);
      }
      if (a.constraint.kind != ConstraintKind::kNone) {
        AddConstraint(s, a.constraint, split, &handled);
        if (handled) {
          plain->push_back(a.column_definition);
          return;
        }
      }
      break;
    case ActionKind::kSetNotNull:
      if (existing && !ctx_->proven_not_null.count(key)) {
        const double sec = ScanSeconds(rel);
        Blocking(sec);
        Add("set-not-null-without-check", LockSeverity(rel, sec),
            fmt::format("SET NOT NULL on {} scans {} ({}) under AccessExclusiveLock: ~{:.1f} s; no validated "
                        "CHECK ({} IS NOT NULL) proves it",
                        a.column, rel, SizeText(rel), sec, IdentAsNeeded(a.column)));
        Path(SafePath::kCheckThenSetNotNull);
        for (auto& cmd : CheckThenSetNotNullCommands(rel, a.column)) split->push_back(cmd);
        return;
      }
      break;
    case ActionKind::kAddConstraint:
      AddConstraint(s, a.constraint, split, &handled);
      if (handled) return;
      break;
    case ActionKind::kValidateConstraint: {
      auto it = ctx_->pending_not_null.find(a.constraint.name);
      if (it != ctx_->pending_not_null.end()) ctx_->proven_not_null.insert(it->second);
      break;
    }
    case ActionKind::kDropColumn:
      if (existing)
        Add("drop-column", Severity::kWarning,
            fmt::format("DROP COLUMN {} of {}: deploy application code that no longer reads or writes it "
                        "first, then drop it",
                        a.column, rel));
      break;
    case ActionKind::kRenameColumn:
      if (existing)
        Add("rename-column", Severity::kWarning,
            fmt::format("RENAME COLUMN {} TO {} on {}: code running now still uses {}; add {}, write both, "
                        "backfill, switch reads, then drop {}",
                        a.column, a.new_name, rel, a.column, a.new_name, a.column));
      break;
    case ActionKind::kRenameTable:
      if (existing)
        Add("rename-table", Severity::kWarning,
            fmt::format("RENAME {} TO {}: code running now still uses the old name; create a view under it "
                        "for the deploy",
                        rel, a.new_name));
      break;
    case ActionKind::kSetLogged:
    case ActionKind::kSetUnlogged:
      if (existing && Rewrites(rel, true)) {
        rewrite_finding(a.kind == ActionKind::kSetLogged ? "SET LOGGED" : "SET UNLOGGED");
        Path(SafePath::kRefuse);
        Add("rewrite-under-access-exclusive", Severity::kInfo,
            "shadowcopy cannot change a table's persistence online: run it in a maintenance window");
      }
      break;
    case ActionKind::kSetTablespace:
    case ActionKind::kSetAccessMethod:
      if (existing && Rewrites(rel, true)) {
        *rewrite = true;
        rewrite_finding(a.kind == ActionKind::kSetTablespace ? "SET TABLESPACE" : "SET ACCESS METHOD");
      }
      break;
    default:
      break;
  }
  plain->push_back(a.text);
}

void Judge::AlterTable(const StatementShape& s) {
  std::vector<std::string> split, plain;
  bool rewrite = false;
  for (const auto& a : s.actions) Action(s, a, &split, &plain, &rewrite);
  const std::string& rel = s.relation;
  if (rewrite) Path(SafePath::kOnlineRewrite);
  // Two ALTERs of one table in a file, neither of them the second step of
  // a safe path (VALIDATE, SET NOT NULL after its CHECK).
  bool step = false;
  for (const auto& a : s.actions)
    step = step || a.kind == ActionKind::kValidateConstraint || a.kind == ActionKind::kDropConstraint ||
           a.constraint.not_valid || a.kind == ActionKind::kSetNotNull;
  if (Existing(rel) && !step) {
    auto it = ctx_->altered.find(rel);
    if (it != ctx_->altered.end())
      Add("alters-could-be-combined", Severity::kInfo,
          fmt::format("{} was altered at line {} already: one ALTER TABLE with both subcommands takes its lock "
                      "once",
                      rel, it->second));
    ctx_->altered[rel] = st_->line;
  }
  switch (out_->safe_path) {
    case SafePath::kOnlineRewrite: {
      std::vector<std::string> texts;
      for (const auto& a : s.actions) texts.push_back(a.text);
      out_->commands = {RewriteCommand(rel, fmt::format("{}", fmt::join(texts, ", ")))};
      break;
    }
    case SafePath::kNotValidThenValidate:
    case SafePath::kCheckThenSetNotNull:
    case SafePath::kUniqueViaConcurrentIndex:
      if (!plain.empty()) out_->commands.push_back(fmt::format("ALTER TABLE {} {}", rel, fmt::join(plain, ", ")));
      for (auto& c : split) out_->commands.push_back(c);
      break;
    default:
      break;
  }
}

void Judge::IndexStatement(const StatementShape& s) {
  const char* what = s.kind == StatementKind::kCreateIndex ? "CREATE INDEX"
                     : s.kind == StatementKind::kDropIndex ? "DROP INDEX"
                                                            : "REINDEX";
  if (s.kind == StatementKind::kCreateIndex) {
    if (!s.index_columns.empty()) ctx_->new_indexes[s.relation].push_back(s.index_columns);
    if (!s.index_name.empty()) ctx_->created.insert(s.index_name);
  }
  if (s.concurrently) {
    if (st_->in_transaction_block) {
      Add("concurrently-in-transaction", Severity::kError,
          fmt::format("{} CONCURRENTLY inside BEGIN ... COMMIT fails (\"cannot run inside a transaction "
                      "block\"): run it on its own",
                      what));
      Path(SafePath::kConcurrentIndex);
      out_->commands = {st_->sql};
    }
    return;
  }
  const std::string& rel = s.relation;
  if (!Existing(rel)) return;
  if (s.kind == StatementKind::kCreateIndex && rehearsed_ && obs_->indexes_built.empty()) return;
  const double sec = s.kind == StatementKind::kDropIndex ? 0 : RewriteSeconds(rel);
  Blocking(sec);
  if (s.kind == StatementKind::kCreateIndex) {
    Add("create-index-not-concurrently", LockSeverity(rel, sec),
        fmt::format("CREATE INDEX on {} ({}) blocks its writes (ShareLock) for the build: ~{:.1f} s", rel,
                    SizeText(rel), sec));
  } else if (s.kind == StatementKind::kDropIndex) {
    Add("drop-index-not-concurrently", Bytes(rel) < kTinyTableBytes ? Severity::kInfo : Severity::kWarning,
        fmt::format("DROP INDEX {} ({}) takes AccessExclusiveLock on its table: it waits for every running "
                    "query on it and every query after waits for it",
                    rel, SizeText(rel)));
  } else {
    Add("reindex-not-concurrently", LockSeverity(rel, sec),
        fmt::format("REINDEX {} ({}) blocks writes and the index's readers for the build: ~{:.1f} s", rel,
                    SizeText(rel), sec));
  }
  Path(SafePath::kConcurrentIndex);
  out_->commands = ConcurrentIndexCommands(st_->sql, s);
}

void Judge::Dml(const StatementShape& s) {
  const std::string& rel = s.relation;
  if (!Existing(rel)) return;
  const int64_t rows = Rows(rel);
  if (rows < 10000) return;
  Severity sev = s.has_where ? Severity::kWarning : Severity::kError;
  if (rows < 100000) sev = s.has_where ? Severity::kInfo : Severity::kWarning;
  const double sec = RewriteSeconds(rel);
  Blocking(sec);
  Add("large-update-delete", sev,
      fmt::format("one {} over {} ({}{}): its row locks are held to the end (~{:.1f} s) and replicas lag by the "
                  "whole change",
                  s.kind == StatementKind::kUpdate ? "UPDATE" : "DELETE", rel, SizeText(rel),
                  s.has_where ? ", with a WHERE" : ", every row", sec));
  if (s.simple_dml) {
    Path(SafePath::kBackfill);
    out_->commands = {BackfillCommand(s)};
  }
}

void Judge::CreateTable(const StatementShape& s) {
  ctx_->created.insert(s.relation);
  for (const ColumnDef& c : s.columns) {
    ctx_->new_column_types[s.relation + "." + IdentAsNeeded(c.name)] = c.type;
    if (IsJson(c.type)) Add("prefer-jsonb", Severity::kWarning, fmt::format("column {} is json", c.name));
    if (c.primary_key) {
      ctx_->new_indexes[s.relation].push_back({c.name});
      if (IsNarrowInteger(c.type))
        Add("integer-key", Severity::kWarning,
            fmt::format("primary key {} of {} is {}: prefer bigint (or bigint GENERATED ALWAYS AS IDENTITY)",
                        c.name, s.relation, c.type));
    }
  }
}

// An existing table keyed by an integer that already holds a good part of
// its range: the statement touching it is the moment to say so.
void Judge::ExistingIntegerKey(const std::string& rel) {
  if (!Existing(rel) || ctx_->key_reported.count(rel)) return;
  auto pk = facts_.primary_keys.find(rel);
  if (pk == facts_.primary_keys.end() || pk->second.size() != 1) return;
  auto type = facts_.column_types.find(rel + "." + IdentAsNeeded(pk->second[0]));
  if (type == facts_.column_types.end() || !IsNarrowInteger(type->second)) return;
  const double limit = NormalizeType(type->second).base == "smallint" ? 32767.0 : 2147483647.0;
  const double used = Rows(rel) / limit;
  if (used < 0.25) return;
  ctx_->key_reported.insert(rel);
  Add("integer-key", used >= 0.5 ? Severity::kError : Severity::kWarning,
      fmt::format("the key {} of {} is {} and the table already holds {} rows ({:.0f}% of its range): {}",
                  pk->second[0], rel, type->second, Rows(rel), used * 100,
                  RewriteCommand(rel, fmt::format("ALTER COLUMN {} TYPE bigint", IdentAsNeeded(pk->second[0])))));
}

void Judge::LockChecks(const StatementShape& s) {
  for (const ObservedLock& l : out_->locks) {
    if (!Blocks(l.mode) || !Existing(l.relation)) continue;
    if (ctx_->lock_timeout_ms <= 0) {
      Add("lock-without-timeout", Bytes(l.relation) < kTinyTableBytes ? Severity::kInfo : Severity::kWarning,
          fmt::format("{} on {} is requested without a lock_timeout: SET lock_timeout = '2s' before it (and "
                      "retry)",
                      l.mode, l.relation));
      break;
    }
  }
  if (!st_->in_transaction_block || !ctx_->exclusive_relation.empty() || s.kind == StatementKind::kCommit) return;
  for (const ObservedLock& l : out_->locks) {
    if (l.mode != "AccessExclusiveLock" || !Existing(l.relation)) continue;
    ctx_->exclusive_relation = l.relation;
    ctx_->exclusive_line = st_->line;
    ctx_->exclusive_tiny = Bytes(l.relation) < kTinyTableBytes;
    return;
  }
}

StatementJudgement Judge::Run(const StatementFacts& sf, Context* ctx) {
  StatementJudgement out;
  ctx_ = ctx;
  out_ = &out;
  obs_ = &sf.observation;
  st_ = &sf.statement;
  rehearsed_ = obs_->rehearsed;
  if (ctx->file != st_->file) {  // each file runs in its own session
    ctx->file = st_->file;
    ctx->lock_timeout_ms = 0;
    ctx->saved_lock_timeout_ms = -1;
    ctx->exclusive_relation.clear();
    ctx->altered.clear();
    ctx->in_block = false;
  }
  const StatementShape s = ClassifyStatement(st_->sql);
  if (rehearsed_) {
    out.locks = obs_->locks;
    out.locks_observed = true;
    out.rewrites = obs_->rewrites;
  } else {
    StaticLocks(s);
  }
  if (obs_->error) Add("rehearsal-failed", Severity::kError, *obs_->error);
  switch (s.kind) {
    case StatementKind::kAlterTable: AlterTable(s); break;
    case StatementKind::kCreateIndex:
    case StatementKind::kDropIndex:
    case StatementKind::kReindex: IndexStatement(s); break;
    case StatementKind::kUpdate:
    case StatementKind::kDelete: Dml(s); break;
    case StatementKind::kCreateTable: CreateTable(s); break;
    case StatementKind::kDropTable:
      for (const auto& r : s.relations)
        if (Existing(r))
          Add("drop-table", Severity::kWarning,
              fmt::format("DROP TABLE {} ({}): deploy application code that no longer uses it first; its data "
                          "is gone",
                          r, SizeText(r)));
      break;
    case StatementKind::kVacuumFull:
    case StatementKind::kCluster:
      if (Existing(s.relation)) {
        const double sec = RewriteSeconds(s.relation);
        Blocking(sec);
        Add("rewrite-under-access-exclusive", LockSeverity(s.relation, sec),
            fmt::format("{} rewrites {} ({}) under AccessExclusiveLock: ~{:.1f} s",
                        s.kind == StatementKind::kCluster ? "CLUSTER" : "VACUUM FULL", s.relation,
                        SizeText(s.relation), sec));
        Path(SafePath::kOnlineRewrite);
        out.commands = {RewriteCommand(s.relation, "")};
      }
      break;
    default:
      break;
  }
  if (!rehearsed_) {
    for (const ObservedLock& l : out.locks)
      if (out.safe_path == SafePath::kOnlineRewrite && l.relation == s.relation &&
          s.kind == StatementKind::kAlterTable)
        out.rewrites = {s.relation};
    if (s.kind == StatementKind::kVacuumFull || s.kind == StatementKind::kCluster)
      if (Existing(s.relation)) out.rewrites = {s.relation};
  }
  // Later statements of a transaction that holds ACCESS EXCLUSIVE.
  if (st_->in_transaction_block && !ctx->exclusive_relation.empty() && s.kind != StatementKind::kCommit) {
    Severity sev = ctx->exclusive_tiny ? Severity::kInfo
                   : out.estimated_lock_s >= kErrorLockSeconds ? Severity::kError
                                                               : Severity::kWarning;
    Add("statements-after-access-exclusive", sev,
        fmt::format("runs while {} is held in AccessExclusiveLock since line {} (until COMMIT): its readers and "
                    "writers wait meanwhile",
                    ctx->exclusive_relation, ctx->exclusive_line));
  }
  LockChecks(s);
  if (s.kind != StatementKind::kCreateTable) ExistingIntegerKey(s.relation);
  // Transaction control and settings.
  if (s.kind == StatementKind::kBegin) ctx->in_block = true;
  if (s.kind == StatementKind::kCommit) {
    ctx->in_block = false;
    ctx->exclusive_relation.clear();
    if (ctx->saved_lock_timeout_ms >= 0) ctx->lock_timeout_ms = ctx->saved_lock_timeout_ms;
    ctx->saved_lock_timeout_ms = -1;
  }
  if (s.kind == StatementKind::kSet && s.setting == "lock_timeout") {
    const double ms = SettingMilliseconds(s.setting_value);
    if (s.set_local && ctx->in_block && ctx->saved_lock_timeout_ms < 0) ctx->saved_lock_timeout_ms = ctx->lock_timeout_ms;
    if (ms >= 0) ctx->lock_timeout_ms = ms;
  }
  // The commands and the lock of the safe path.
  if (out.commands.empty() && out.safe_path == SafePath::kAsIs) out.commands = {st_->sql};
  switch (out.safe_path) {
    case SafePath::kAsIs:
    case SafePath::kRefuse: out.safe_path_lock_s = out.estimated_lock_s; break;
    case SafePath::kOnlineRewrite: out.safe_path_lock_s = std::min(out.estimated_lock_s, 0.1); break;
    case SafePath::kBackfill: out.safe_path_lock_s = std::min(out.estimated_lock_s, 0.2); break;
    default: out.safe_path_lock_s = 0; break;
  }
  if (out.safe_path == SafePath::kRefuse) out.commands.clear();
  return out;
}

}  // namespace

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo: return "info";
    case Severity::kWarning: return "warning";
    case Severity::kError: return "error";
  }
  return "error";
}

std::optional<Severity> ParseSeverity(std::string_view name) {
  for (Severity s : {Severity::kInfo, Severity::kWarning, Severity::kError})
    if (SeverityName(s) == name) return s;
  return std::nullopt;
}

const std::vector<RuleInfo>& AllRules() { return kRules; }

std::optional<Severity> HighestSeverity(const PlanJudgement& judgement) {
  std::optional<Severity> out;
  for (const auto& s : judgement.statements)
    for (const auto& f : s.findings)
      if (!out || f.severity > *out) out = f.severity;
  return out;
}

PlanJudgement JudgePlan(const PlanFacts& facts) {
  PlanJudgement j;
  j.throughput_assumed = !(facts.rewrite_bytes_per_s > 0);
  j.rewrite_bytes_per_s = j.throughput_assumed ? kAssumedRewriteBytesPerS : facts.rewrite_bytes_per_s;
  Judge judge(facts, j.rewrite_bytes_per_s);
  Context ctx;
  for (size_t i = 0; i < facts.statements.size(); ++i) {
    const StatementFacts& sf = facts.statements[i];
    if (sf.observation.rehearsed) j.static_only = false;
    j.statements.push_back(judge.Run(sf, &ctx));
    const bool last_of_file = i + 1 == facts.statements.size() || facts.statements[i + 1].statement.file != sf.statement.file;
    if (last_of_file && ctx.in_block) {
      j.statements.back().findings.push_back(
          {"transaction-not-closed", Severity::kWarning,
           fmt::format("{} ends inside a transaction block (no COMMIT after its BEGIN)", sf.statement.file)});
    }
  }
  return j;
}

}  // namespace shadowcopy::workflow
