#include "engine/workflow/migrate_runner.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "common/quote.h"
#include "common/sql_lexer.h"
#include "common/status.h"
#include "engine/workflow/migrate_backup.h"
#include "engine/workflow/migrate_history.h"
#include "engine/workflow/migrate_safe_path.h"
#include "engine/workflow/migrate_window.h"
#include "engine/workflow/plan_safe_path.h"
#include "engine/workflow/migrate_window_record.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::string FirstLine(std::string_view sql) {
  std::string line(sql.substr(0, sql.find('\n')));
  if (line.size() > 100) line = line.substr(0, 97) + "...";
  return line;
}

// Lock timeout, deadlock, serialization failure: the unit rolled back and
// may simply run again.
bool RetryableLockFailure(const absl::Status& st) {
  std::string state = SqlStateOf(st);
  return state == "55P03" || state == "40P01" || state == "40001";
}

// Schema (may be empty) and name of the index a CREATE [UNIQUE] INDEX
// CONCURRENTLY [IF NOT EXISTS] name statement builds; empty name when it has
// none (the server picks one).
std::pair<std::string, std::string> CreatedIndexName(std::string_view sql_text) {
  auto tokens = sql::Tokenize(sql_text);
  if (!tokens.ok()) return {};
  std::vector<const sql::Token*> w;
  for (const sql::Token& t : *tokens)
    if (t.kind != sql::TokenKind::kComment) w.push_back(&t);
  size_t i = 0;
  if (i < w.size() && w[i]->IsWord("create")) ++i; else return {};
  if (i < w.size() && w[i]->IsWord("unique")) ++i;
  if (i < w.size() && w[i]->IsWord("index")) ++i; else return {};
  if (i < w.size() && w[i]->IsWord("concurrently")) ++i; else return {};
  if (i + 2 < w.size() && w[i]->IsWord("if") && w[i + 1]->IsWord("not") && w[i + 2]->IsWord("exists")) i += 3;
  auto name_at = [&](size_t k) -> std::string {
    if (k >= w.size() || w[k]->IsWord("on")) return "";
    auto n = sql::IdentifierName(*w[k]);
    return n.ok() ? *n : "";
  };
  std::string first = name_at(i);
  if (first.empty()) return {};
  if (i + 2 < w.size() && w[i + 1]->Is(sql::TokenKind::kPunctuation, ".")) return {first, name_at(i + 2)};
  return {"", first};
}

// Whether an index `schema.name` (schema empty: visible on the search path)
// exists, and whether it is valid.
absl::StatusOr<std::optional<bool>> IndexValidity(PgConn* conn, const std::pair<std::string, std::string>& name) {
  ASSIGN_OR_RETURN(PgResult r, conn->Query(
      "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relname = $2 AND (CASE WHEN $1 = '' THEN pg_table_is_visible(c.oid) ELSE n.nspname = $1 END)",
      {name.first, name.second}));
  if (r.Rows() == 0) return std::optional<bool>();
  return std::optional<bool>(r.GetBool(0, 0));
}

class MigrationRun {
 public:
  MigrationRun(PgConn* conn, const PendingMigration& p, const MigrateConfig& config, const Say& say,
               std::string backup = "")
      : conn_(conn), p_(p), config_(config), say_(say), backup_(std::move(backup)),
        lock_timeout_(p.script.options.lock_timeout.value_or(config.lock_timeout)) {}

  absl::Status Run() {
    const auto& stmts = p_.script.statements;
    for (int i = 0; i < p_.resume_at; ++i) hashes_.push_back(StatementHash(stmts[i].sql));
    RETURN_IF_ERROR(MarkRunning(conn_, *p_.file, static_cast<int>(stmts.size()), p_.resume_at > 0, PlanJson(p_)));
    if (!backup_.empty()) RETURN_IF_ERROR(RecordBackup(conn_, *p_.file, backup_));
    if (p_.resumed)
      say_(fmt::format("{}: resuming after {} of {} statements applied earlier", p_.file->file, p_.resume_at,
                       stmts.size()));
    for (const Unit& u : Units(p_.script)) {
      if (u.end <= static_cast<int>(hashes_.size())) continue;  // applied (earlier, or by a merged rewrite)
      failing_ = u.begin;
      absl::Status st = RunUnit(u);
      if (!st.ok()) return reverted_ ? st : Fail(st);
    }
    failing_ = -1;
    for (const PlannedStatement& q : p_.script.verify) {
      auto r = conn_->Exec(q.sql);
      if (!r.ok()) return Fail(Annotate(r.status(), fmt::format("verify query at line {}", q.line)), &q);
      if (r->Rows() != 1 || r->Cols() < 1 || r->IsNull(0, 0) || r->Get(0, 0) != "t")
        return Fail(absl::FailedPreconditionError(fmt::format(
                        "verify query at line {} did not return true: {}", q.line, FirstLine(q.sql))), &q);
      say_(fmt::format("{}: verified (line {})", p_.file->file, q.line));
    }
    return MarkApplied(conn_, *p_.file, MsSince(start_));
  }

 private:
  absl::Status Fail(const absl::Status& st, const PlannedStatement* verify = nullptr) {
    conn_->RollbackQuietly();
    const PlannedStatement* s = verify != nullptr ? verify : failing_ >= 0 ? &p_.script.statements[failing_] : nullptr;
    std::string where = s == nullptr ? "" : fmt::format("line {}: {}", s->line, s->sql);
    auto rec = MarkFailed(conn_, *p_.file, MsSince(start_), std::string(st.message()), where);
    if (!rec.ok()) Log(LogLevel::kWarning, "could not record the failure: {}", rec.message());
    std::string what = s == nullptr ? "" :
        fmt::format(" at line {} ({})", s->line, FirstLine(s->sql));
    return Annotate(st, fmt::format("{}{} failed with {} of {} statements applied and recorded (fix the file's "
                                    "later statements and run again: it resumes after those)",
                                    p_.file->file, what, hashes_.size(), p_.script.statements.size()));
  }

  void Announce(const Unit& u) {
    const auto& s = p_.script.statements[u.begin];
    say_(fmt::format("{}: [{}/{}] line {} {}: {}", p_.file->file, u.begin + 1, p_.script.statements.size(), s.line,
                     SafePathName(p_.paths[u.begin]), FirstLine(s.sql)));
  }

  std::string LockTimeoutSql(bool local) const {
    return fmt::format("SET {}lock_timeout = '{}ms'", local ? "LOCAL " : "", lock_timeout_.count());
  }

  absl::Status RunUnit(const Unit& u) {
    Announce(u);
    const auto& stmts = p_.script.statements;
    auto began = Clock::now();
    absl::Status st;
    const SafePath path = p_.paths[u.begin];
    const bool single = u.end - u.begin == 1 && !p_.script.options.literal;
    if (p_.script.options.literal) {
      st = RunLiteral(u);
    } else if (single && (path == SafePath::kOnlineRewrite || path == SafePath::kBackfill)) {
      st = RunEngineStep(u.begin);
    } else if (single && static_cast<size_t>(u.begin) < p_.commands.size() && !p_.commands[u.begin].empty()) {
      st = RunSteps(u.begin);
    } else if (single && path == SafePath::kConcurrentIndex) {
      st = RunConcurrent(stmts[u.begin]);
    } else if (u.end - u.begin == 1 && RunsOutsideTransaction(stmts[u.begin].sql)) {
      st = RunOutsideTransaction(stmts[u.begin]);
    } else {
      st = RetryIf(config_.retry, p_.file->file, [&] { return RunInTransaction(u); }, nullptr,
                   RetryableLockFailure);
    }
    if (st.ok())
      say_(fmt::format("{}: [{}/{}] done in {} ms", p_.file->file, hashes_.size(), stmts.size(), MsSince(began)));
    return st;
  }

  // Statements of `u` and the record in one transaction: an explicit block
  // keeps its own BEGIN (with its options) and COMMIT.
  absl::Status RunInTransaction(const Unit& u) {
    const auto& stmts = p_.script.statements;
    bool block = stmts[u.begin].in_transaction_block && !p_.script.options.transaction_file;
    int first = u.begin, last = u.end;
    absl::Status st = conn_->Exec(block ? stmts[first++].sql : "BEGIN").status();
    if (block) --last;
    if (st.ok()) st = conn_->Exec(LockTimeoutSql(true)).status();
    for (int i = first; st.ok() && i < last; ++i) {
      failing_ = i;
      st = conn_->Exec(stmts[i].sql).status();
    }
    if (st.ok()) failing_ = u.begin;
    std::vector<std::string> hashes = hashes_;
    for (int i = u.begin; i < u.end; ++i) hashes.push_back(StatementHash(stmts[i].sql));
    if (st.ok()) {
      auto [sql, params] = UnitDoneSql(*p_.file, u.end, hashes);
      st = conn_->Query(sql, params).status();
    }
    if (st.ok()) st = conn_->Exec(block ? stmts[u.end - 1].sql : "COMMIT").status();
    if (st.ok() && conn_->InTransaction()) st = absl::InternalError("the transaction is still open after COMMIT");
    if (!st.ok()) {
      conn_->RollbackQuietly();
      return st;
    }
    hashes_ = std::move(hashes);
    return absl::OkStatus();
  }

  absl::Status Record(int end) {
    std::vector<std::string> hashes = hashes_;
    for (int i = static_cast<int>(hashes_.size()); i < end; ++i)
      hashes.push_back(StatementHash(p_.script.statements[i].sql));
    auto [sql, params] = UnitDoneSql(*p_.file, end, hashes);
    RETURN_IF_ERROR(conn_->Query(sql, params).status());
    hashes_ = std::move(hashes);
    return absl::OkStatus();
  }

  absl::Status RunLiteral(const Unit& u) {
    RETURN_IF_ERROR(conn_->Exec(p_.script.body).status());
    return Record(u.end);
  }

  absl::Status RunOutsideTransaction(const PlannedStatement& s) {
    RETURN_IF_ERROR(conn_->Exec(LockTimeoutSql(false)).status());
    RETURN_IF_ERROR(RetryIf(config_.retry, p_.file->file, [&] { return conn_->Exec(s.sql).status(); }, nullptr,
                            RetryableLockFailure));
    RETURN_IF_ERROR(conn_->Exec("RESET lock_timeout").status());
    return Record(static_cast<int>(hashes_.size()) + 1);
  }

  absl::Status RunConcurrent(const PlannedStatement& s) {
    RETURN_IF_ERROR(RunConcurrentSql(s.sql));
    return Record(static_cast<int>(hashes_.size()) + 1);
  }

  // The steps of statement `i`'s safe path (CONCURRENTLY, NOT VALID then
  // VALIDATE, CHECK then SET NOT NULL, a unique index then its constraint),
  // each in its own transaction (or outside one, for CONCURRENTLY) with its
  // completion recorded: a resumed run starts at the first step not done.
  absl::Status RunSteps(int i) {
    const auto& cmds = p_.commands[i];
    const int n = static_cast<int>(cmds.size());
    const int first = p_.resumed && i == p_.resume_at ? std::min(p_.resume_step, n) : 0;
    if (first > 0) say_(fmt::format("{}: resuming after {} of {} steps done earlier", p_.file->file, first, n));
    for (int k = first; k < n; ++k) {
      say_(fmt::format("{}:   step {}/{}: {}", p_.file->file, k + 1, n, FirstLine(cmds[k])));
      const bool last = k + 1 == n;
      if (RunsOutsideTransaction(cmds[k])) {
        RETURN_IF_ERROR(RunConcurrentSql(cmds[k]));
        if (last) return Record(i + 1);
        auto [sql, params] = StepDoneSql(*p_.file, k + 1, StatementHash(p_.script.statements[i].sql));
        RETURN_IF_ERROR(conn_->Query(sql, params).status());
        continue;
      }
      RETURN_IF_ERROR(RetryIf(config_.retry, p_.file->file, [&]() -> absl::Status {
        absl::Status st = conn_->Exec("BEGIN").status();
        if (st.ok()) st = conn_->Exec(LockTimeoutSql(true)).status();
        if (st.ok()) st = conn_->Exec(cmds[k]).status();
        std::vector<std::string> hashes = hashes_;
        if (last) hashes.push_back(StatementHash(p_.script.statements[i].sql));
        if (st.ok()) {
          auto [sql, params] = last ? UnitDoneSql(*p_.file, i + 1, hashes) : StepDoneSql(*p_.file, k + 1, StatementHash(p_.script.statements[i].sql));
          st = conn_->Query(sql, params).status();
        }
        if (st.ok()) st = conn_->Exec("COMMIT").status();
        if (!st.ok()) {
          conn_->RollbackQuietly();
          return st;
        }
        if (last) hashes_ = std::move(hashes);
        return absl::OkStatus();
      }, nullptr, RetryableLockFailure));
    }
    return absl::OkStatus();
  }

  // An online rewrite (statement `i` and the ALTERs of the same table that
  // follow it and combine with it) or a backfill, run by the engine. An
  // unfinished engine run of the table (a killed migrate) is resumed through
  // the engine's own --resume; one that finished since this step started is
  // recorded instead of run again.
  absl::Status RunEngineStep(int i) {
    const bool backfill = p_.paths[i] == SafePath::kBackfill;
    std::vector<std::string> args;
    std::string schema, table, what;
    int end = i + 1;
    bool windowed = false;
    if (backfill) {
      auto step = BackfillOf(p_.script.statements[i].sql);
      if (!step) return absl::InvalidArgumentError("not a simple UPDATE or DELETE: cannot run it as a backfill");
      schema = step->schema, table = step->table;
      what = step->set.empty() ? "delete" : "update";
      what += (step->set.empty() ? "" : " " + step->set) + " WHERE " + step->where;
      args = BackfillArgs(config_.dsn, *step, false);
    } else {
      auto group = RewriteGroupAt(p_, i);
      if (!group) return absl::InvalidArgumentError("not a table's rewrite: cannot run it online");
      schema = group->step.schema, table = group->step.table, what = group->step.alter, end = group->end;
      args = RewriteArgs(config_.dsn, group->step, false, config_.drop_old_table);
      if (config_.revert_window.count() > 0) {
        if (std::string why = NoWindowReason(p_); why.empty()) {
          for (const auto& w : RevertWindowArgs(config_.revert_window, config_.window_args)) args.push_back(w);
          windowed = true;
        } else {
          say_(fmt::format("{}: no revert window: {}", p_.file->file, why));
        }
      }
      if (end > i + 1)
        say_(fmt::format("{}: statements {} to {} are one online rewrite of {}: --alter \"{}\"", p_.file->file,
                         i + 1, end, QualifiedName(schema, table), what));
    }
    if (!config_.run_engine)
      return absl::UnimplementedError(fmt::format("the {} path needs the engine, which this runner lacks",
                                                  SafePathName(p_.paths[i])));
    ASSIGN_OR_RETURN(auto unfinished, UnfinishedEngineRun(conn_, backfill, schema, table));
    if (unfinished) {
      if (!backfill && *unfinished != what)
        return absl::FailedPreconditionError(fmt::format(
            "an unfinished rewrite of {} with --alter \"{}\" is in the way (shadowcopy cleanup --table {} "
            "--schema {} --execute removes it)", QualifiedName(schema, table), *unfinished, table, schema));
      say_(fmt::format("{}: resuming the interrupted {} of {}", p_.file->file, backfill ? "backfill" : "rewrite",
                       QualifiedName(schema, table)));
      args.push_back("--resume");
    } else {
      bool finished = false;
      if (p_.resumed) {
        ASSIGN_OR_RETURN(finished, EngineRunFinishedSinceStep(conn_, *p_.file, backfill, schema, table));
      }
      if (finished) {
        say_(fmt::format("{}: the interrupted run's {} of {} had finished; recording it", p_.file->file,
                         backfill ? "backfill" : "rewrite", QualifiedName(schema, table)));
        return Record(end);
      }
      RETURN_IF_ERROR(MarkStepStarted(conn_, *p_.file));
    }
    if (!config_.hooks.path.empty()) {  // the step announces its own phases; before-cutover may veto
      args.insert(args.end(), {"--hooks-path", config_.hooks.path, "--hooks-timeout",
                               fmt::format("{}ms", config_.hooks.timeout.count())});
    }
    args.insert(args.end(), config_.engine_args.begin(), config_.engine_args.end());
    const auto& own = backfill ? config_.backfill_args : config_.rewrite_args;
    args.insert(args.end(), own.begin(), own.end());
    EngineStepEvents events;
    if (windowed)
      events.window_open = [this, schema, table, end](const std::string& socket) {
        WindowOpened(schema, table, end, socket);
      };
    absl::Status ran = config_.run_engine(args, events);
    if (windowed) {
      ASSIGN_OR_RETURN(auto w, FindStepWindow(conn_, *p_.file, schema, table));
      if (w && (w->state == "reverted" || w->outcome == "reverted")) {
        reverted_ = true;
        RETURN_IF_ERROR(MarkUndoneByRevert(conn_, *p_.file, MsSince(start_)));
        return absl::AbortedError(fmt::format(
            "version {} was reverted during its revert window ({}): {} has its old definition and every write; "
            "recorded undone, and the run stops here", p_.file->name.version.ToString(),
            ran.ok() ? "asked by the operator" : ran.message(), QualifiedName(schema, table)));
      }
    }
    RETURN_IF_ERROR(ran);
    return Record(end);
  }

  // The rewrite's revert window opened (called once, on the step's watcher
  // thread, while this thread waits in the step): the migration is applied,
  // its window open. Its own connection: conn_ belongs to the runner's thread.
  void WindowOpened(const std::string& schema, const std::string& table, int end, const std::string& socket) {
    auto conn = ConnectForMigrate(config_.dsn);
    absl::StatusOr<std::optional<StepWindow>> w =
        conn.ok() ? FindStepWindow(conn->get(), *p_.file, schema, table) : conn.status();
    if (w.ok() && !*w) w = absl::NotFoundError("no revert window recorded for the step");
    absl::Status st = w.ok() ? absl::OkStatus() : w.status();
    if (st.ok()) {
      std::vector<std::string> hashes;
      for (int i = 0; i < end; ++i) hashes.push_back(StatementHash(p_.script.statements[i].sql));
      st = RecordWindowOpen(conn->get(), *p_.file, end, hashes, **w, socket, MsSince(start_));
    }
    if (!st.ok()) {
      Log(LogLevel::kWarning, "{}: could not record the open revert window in the history: {}", p_.file->file,
          st.message());
      return;
    }
    say_(fmt::format("{}: version {} applied; its revert window is open until {} UTC ({:.0f} s): `shadowcopy "
                     "migrate down --dir {} --execute` reverts it without losing a write; the next migration "
                     "starts when the window ends", p_.file->file, p_.file->name.version.ToString(), (*w)->until,
                     (*w)->seconds_left, ShellQuote(config_.dir)));
  }

  // CREATE/DROP INDEX CONCURRENTLY as written, outside any transaction and
  // without a lock_timeout (its waits block no reader or writer). An INVALID
  // index of the same name, left by an earlier failed build, is dropped
  // first; a VALID one built by an interrupted try of this migration that
  // was not recorded yet is kept instead of built again.
  absl::Status RunConcurrentSql(const std::string& sql_text) {
    auto name = CreatedIndexName(sql_text);
    if (!name.second.empty()) {
      ASSIGN_OR_RETURN(auto valid, IndexValidity(conn_, name));
      std::string qualified = name.first.empty() ? QuoteIdent(name.second) : QualifiedName(name.first, name.second);
      if (valid && !*valid) {
        say_(fmt::format("{}: dropping the INVALID index {} an earlier build left", p_.file->file, qualified));
        RETURN_IF_ERROR(conn_->Exec("DROP INDEX CONCURRENTLY IF EXISTS " + qualified).status());
      } else if (valid && *valid && p_.resumed) {
        say_(fmt::format("{}: index {} was built by the interrupted run; recording it", p_.file->file, qualified));
        return absl::OkStatus();
      }
    }
    RETURN_IF_ERROR(conn_->Exec("SET lock_timeout = 0").status());
    return conn_->Exec(sql_text).status();
  }

  PgConn* const conn_;
  const PendingMigration& p_;
  const MigrateConfig& config_;
  const Say& say_;
  const std::string backup_;  // the proven dump taken before the run, if any
  const std::chrono::milliseconds lock_timeout_;
  const Clock::time_point start_ = Clock::now();
  std::vector<std::string> hashes_;  // of the statements applied so far
  int failing_ = -1;                 // the statement running, for the record of a failure
  bool reverted_ = false;            // reverted in its revert window: recorded undone, not failed
};

}  // namespace

absl::StatusOr<std::unique_ptr<PgConn>> ConnectForMigrate(const std::string& dsn, bool for_statements) {
  ConnectOptions o;
  o.dsn = dsn;
  o.application_name = for_statements ? kStatementsApplicationName : "shadowcopy migrate";
  return PgConn::Connect(o);
}

absl::StatusOr<int> EndOrphanedStatementSessions(PgConn* conn) {
  ASSIGN_OR_RETURN(PgResult r, conn->Query(
      "SELECT pid, coalesce(state, ''), left(query, 100) FROM pg_stat_activity "
      "WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()",
      {kStatementsApplicationName}));
  int ended = 0;
  for (int i = 0; i < r.Rows(); ++i) {
    auto t = conn->Query("SELECT pg_terminate_backend($1::int)", {r.GetString(i, 0)});
    if (!t.ok() || !t->GetBool(0, 0)) {
      Log(LogLevel::kWarning, "could not end session {} of an earlier, killed runner ({}): {}", r.GetString(i, 0),
          r.GetString(i, 2), t.ok() ? "already gone" : std::string(t.status().message()));
      continue;
    }
    Log(LogLevel::kInfo, "ended session {} of an earlier, killed runner ({}: {})", r.GetString(i, 0),
        r.GetString(i, 1), r.GetString(i, 2));
    ++ended;
  }
  return ended;
}

absl::StatusOr<MigrateSnapshot> ReadSnapshot(PgConn* conn, const std::string& dir) {
  MigrateSnapshot s;
  ASSIGN_OR_RETURN(s.files, ReadMigrationDirectory(dir));
  ASSIGN_OR_RETURN(s.rows, LoadHistory(conn));
  ASSIGN_OR_RETURN(PgResult r, conn->Query(
      "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::bigint::oid "
      "AND objid = $2::bigint::oid AND objsubid = 1 "
      "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      {std::to_string(kMigrateRunnerLockKey >> 32), std::to_string(kMigrateRunnerLockKey & 0xffffffff)}));
  s.runner_active = r.GetBool(0, 0);
  return s;
}

absl::StatusOr<std::unique_ptr<PgConn>> AcquireRunnerLock(const std::string& dsn) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  ConnectOptions o;
  o.dsn = dsn;
  o.application_name = fmt::format("shadowcopy migrate {}:{}", host, getpid()).substr(0, 63);
  ASSIGN_OR_RETURN(auto conn, PgConn::Connect(o));
  ASSIGN_OR_RETURN(PgResult got, conn->Query("SELECT pg_try_advisory_lock($1::bigint)",
                                             {std::to_string(kMigrateRunnerLockKey)}));
  if (got.GetBool(0, 0)) return conn;
  ASSIGN_OR_RETURN(PgResult r, conn->Query(
      "SELECT a.pid, coalesce(a.usename, ''), coalesce(a.client_hostname, host(a.client_addr), 'local socket'), "
      "  coalesce(a.application_name, ''), "
      "  to_char(coalesce(a.query_start, a.backend_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"') "
      "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
      "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid "
      "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      {std::to_string(kMigrateRunnerLockKey >> 32), std::to_string(kMigrateRunnerLockKey & 0xffffffff)}));
  if (r.Rows() == 0)
    return absl::UnavailableError("another migrate runner holds the runner lock of this database; try again");
  return absl::UnavailableError(fmt::format(
      "another migrate runner is applying migrations to this database: server pid {}, user {}, from {}, "
      "application_name '{}', holding the runner lock since {}; nothing was run (try again when it ends)",
      r.GetString(0, 0), r.GetString(0, 1), r.GetString(0, 2), r.GetString(0, 3), r.GetString(0, 4)));
}

absl::Status ApplyPending(PgConn* conn, const std::vector<PendingMigration>& pending, const MigrateConfig& config,
                          const Say& say) {
  ASSIGN_OR_RETURN(auto hooks, engine::Hooks::Open(config.hooks, nullptr));
  hooks->UpdateFacts([&](engine::HookFacts* f) {
    f->database = PQdb(conn->raw());
    f->phase = "migrate";
  });
  hooks->Fire("startup");
  absl::Status st;
  for (const PendingMigration& p : pending) {
    auto began = Clock::now();
    hooks->UpdateFacts([&](engine::HookFacts* f) {
      f->migration_version = p.file->name.version.ToString();
      f->migration_description = p.file->name.description;
    });
    engine::HookVars file = {{"SHADOWCOPY_MIGRATION_FILE", p.file->file}};
    // A step run through the engine announces its own phases with hooks of
    // its own: this migration's earlier events run first, so all stay in order.
    if (std::any_of(p.paths.begin(), p.paths.end(),
                    [](SafePath s) { return s == SafePath::kOnlineRewrite || s == SafePath::kBackfill; })) {
      if (auto g = hooks->Gate("migration-start", file, [] { return absl::OkStatus(); }); !g.ok())
        Log(LogLevel::kWarning, "hook migration-start: {}", g.message());
    } else {
      hooks->Fire("migration-start", file);
    }
    std::string backup;
    if (!config.backup_dir.empty()) {
      if (auto tables = TablesAtRisk(p); !tables.empty()) {
        say(fmt::format("{}: backing up {} before it runs", p.file->file, fmt::join(tables, ", ")));
        auto b = BackupAndProve(config.dsn, config.backup_dir, *p.file, tables, std::stop_token());
        if (b.ok()) {
          backup = b->path;
          std::string counts;
          for (const auto& [t, n] : b->rows) counts += fmt::format("{}{} {} rows", counts.empty() ? "" : ", ", t, n);
          if (!backup.empty())
            say(fmt::format("{}: backup {} restored on a throwaway server with the same row counts ({}) in {:.1f} s",
                            p.file->file, backup, counts, b->seconds));
        } else {
          st = Annotate(b.status(), fmt::format("{}: the backup failed; nothing of it was run", p.file->file));
        }
      }
    }
    if (st.ok()) st = MigrationRun(conn, p, config, say, backup).Run();
    if (!st.ok()) {
      file.emplace_back("SHADOWCOPY_ERROR", std::string(st.message()));
      hooks->Fire("migration-failed", file);
      break;
    }
    hooks->Fire("migration-applied", file);
    if (config.after_each) config.after_each();
    say(fmt::format("{}: version {} {} in {} ms", p.file->file, p.file->name.version.ToString(),
                    p.file->name.kind == FileKind::kUndo ? "undone" : "applied", MsSince(began)));
  }
  if (st.ok()) hooks->Fire("success");
  else hooks->Fire("failure", {{"SHADOWCOPY_ERROR", std::string(st.message())}});
  hooks->Finish();
  return st;
}

}  // namespace shadowcopy::workflow
