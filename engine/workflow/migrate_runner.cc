#include "engine/workflow/migrate_runner.h"

#include <unistd.h>

#include <chrono>

#include "common/log.h"
#include "common/quote.h"
#include "common/sql_lexer.h"
#include "common/status.h"
#include "engine/workflow/migrate_history.h"
#include "engine/workflow/migrate_safe_path.h"
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
  MigrationRun(PgConn* conn, const PendingMigration& p, const MigrateConfig& config, const Say& say)
      : conn_(conn), p_(p), config_(config), say_(say),
        lock_timeout_(p.script.options.lock_timeout.value_or(config.lock_timeout)) {}

  absl::Status Run() {
    const auto& stmts = p_.script.statements;
    for (int i = 0; i < p_.resume_at; ++i) hashes_.push_back(StatementHash(stmts[i].sql));
    RETURN_IF_ERROR(MarkRunning(conn_, *p_.file, static_cast<int>(stmts.size()), p_.resume_at > 0, PlanJson(p_)));
    if (p_.resumed)
      say_(fmt::format("{}: resuming after {} of {} statements applied earlier", p_.file->file, p_.resume_at,
                       stmts.size()));
    for (const Unit& u : Units(p_.script)) {
      if (u.end <= p_.resume_at) continue;
      failing_ = u.begin;
      absl::Status st = RunUnit(u);
      if (!st.ok()) return Fail(st);
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
    if (p_.script.options.literal) {
      st = RunLiteral(u);
    } else if (u.end - u.begin == 1 && p_.paths[u.begin] == SafePath::kConcurrentIndex) {
      st = RunConcurrent(stmts[u.begin]);
    } else if (u.end - u.begin == 1 && RunsOutsideTransaction(stmts[u.begin].sql)) {
      st = RunOutsideTransaction(stmts[u.begin]);
    } else {
      st = RetryIf(config_.retry, p_.file->file, [&] { return RunInTransaction(u); }, nullptr,
                   RetryableLockFailure);
    }
    if (st.ok())
      say_(fmt::format("{}: [{}/{}] done in {} ms", p_.file->file, u.end, stmts.size(), MsSince(began)));
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

  // CREATE/DROP INDEX CONCURRENTLY as written, outside any transaction and
  // without a lock_timeout (its waits block no reader or writer). An INVALID
  // index of the same name, left by an earlier failed build, is dropped
  // first; a VALID one built by an interrupted try of this migration that
  // was not recorded yet is recorded instead of built again.
  absl::Status RunConcurrent(const PlannedStatement& s) {
    auto name = CreatedIndexName(s.sql);
    if (!name.second.empty()) {
      ASSIGN_OR_RETURN(auto valid, IndexValidity(conn_, name));
      std::string qualified = name.first.empty() ? QuoteIdent(name.second) : QualifiedName(name.first, name.second);
      if (valid && !*valid) {
        say_(fmt::format("{}: dropping the INVALID index {} an earlier build left", p_.file->file, qualified));
        RETURN_IF_ERROR(conn_->Exec("DROP INDEX CONCURRENTLY IF EXISTS " + qualified).status());
      } else if (valid && *valid && p_.resumed) {
        say_(fmt::format("{}: index {} was built by the interrupted run; recording it", p_.file->file, qualified));
        return Record(static_cast<int>(hashes_.size()) + 1);
      }
    }
    RETURN_IF_ERROR(conn_->Exec("SET lock_timeout = 0").status());
    RETURN_IF_ERROR(conn_->Exec(s.sql).status());
    return Record(static_cast<int>(hashes_.size()) + 1);
  }

  PgConn* const conn_;
  const PendingMigration& p_;
  const MigrateConfig& config_;
  const Say& say_;
  const std::chrono::milliseconds lock_timeout_;
  const Clock::time_point start_ = Clock::now();
  std::vector<std::string> hashes_;  // of the statements applied so far
  int failing_ = -1;                 // the statement running, for the record of a failure
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
  for (const PendingMigration& p : pending) {
    auto began = Clock::now();
    RETURN_IF_ERROR(MigrationRun(conn, p, config, say).Run());
    say(fmt::format("{}: version {} applied in {} ms", p.file->file, p.file->name.version.ToString(),
                    MsSince(began)));
  }
  return absl::OkStatus();
}

}  // namespace shadowcopy::workflow
