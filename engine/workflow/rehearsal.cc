// The rehearsal's phases, in order: production's facts (read-only), the
// schema copy, the rehearsal server or database, the statements, production's
// sizes of what they touched. Every resource is owned by an object whose
// destructor releases it, declared so they go in reverse order (connection,
// scratch database, server, directory) on every path, errors and stop
// requests included.
#include "engine/workflow/rehearsal.h"

#include <unistd.h>

#include <chrono>
#include <random>
#include <set>

#include "absl/status/status.h"
#include "common/log.h"
#include "common/quote.h"
#include "common/status.h"
#include "engine/workflow/cancelable_conn.h"
#include "engine/workflow/conninfo.h"
#include "engine/workflow/rehearsal_run.h"
#include "engine/workflow/rehearsal_server.h"
#include "engine/workflow/schema_copy.h"
#include "engine/workflow/sizes.h"
#include "engine/workflow/statement_kind.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// A database created on the staging server for one rehearsal, dropped
// (sessions terminated) on destruction.
class ScratchDatabase {
 public:
  ScratchDatabase(PgConn* admin, std::string name) : admin_(admin), name_(std::move(name)) {}
  ~ScratchDatabase() {
    admin_->RollbackQuietly();
    std::string force = admin_->ServerVersion() >= 130000 ? " WITH (FORCE)" : "";
    auto st = admin_->Exec(fmt::format("DROP DATABASE IF EXISTS {}{}", QuoteIdent(name_), force));
    if (!st.ok())
      Log(LogLevel::kWarning, "could not drop the rehearsal database {}: {}", name_, st.status().message());
  }
  const std::string& name() const { return name_; }

 private:
  PgConn* admin_;
  std::string name_;
};

std::string ScratchName() {
  std::random_device rd;
  return fmt::format("shadowcopy_rehearsal_{}_{:08x}", getpid(), rd());
}

absl::StatusOr<std::unique_ptr<PgConn>> ConnectRehearsal(const std::string& conninfo,
                                                         const ProductionInfo& prod) {
  ConnectOptions o;
  o.dsn = conninfo;
  o.application_name = "shadowcopy rehearsal";
  // Production's: unqualified names resolve as they will there.
  // Nothing the rehearsal commits is kept: no wait for the WAL flush.
  o.settings = {{"search_path", prod.search_path}, {"synchronous_commit", "off"}};
  return PgConn::Connect(o);
}

PlanFacts Unrehearsed(const std::vector<PlannedStatement>& statements, std::string_view note) {
  PlanFacts facts;
  facts.rehearsal = "none";
  for (const auto& s : statements) {
    StatementFacts f;
    f.statement = s;
    f.observation.note = std::string(note);
    facts.statements.push_back(std::move(f));
  }
  return facts;
}

// Everything the rehearsal holds, released in reverse order of declaration.
struct Resources {
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<LocalServer> server;
  std::unique_ptr<PgConn> staging;
  std::unique_ptr<ScratchDatabase> scratch;
  std::unique_ptr<PgConn> conn;  // the statements' session
};

class Rehearsal {
 public:
  Rehearsal(const RehearsalOptions& options, PlanFacts* facts) : options_(options), facts_(facts) {}

  absl::Status Run(const std::string& target_dsn, const std::vector<PlannedStatement>& statements) {
    auto start = Clock::now();
    std::stop_callback on_stop(options_.stop, [this] { active_.Cancel(); });
    ASSIGN_OR_RETURN(prod_, ConnectProduction(target_dsn));
    active_.Set(prod_.get());
    ASSIGN_OR_RETURN(info_, ReadProductionInfo(prod_.get()));
    facts_->target = info_.database;
    facts_->server_version_num = info_.server_version_num;
    facts_->rehearsal = options_.mode == RehearsalMode::kLocal ? "local" : "dsn";
    auto throughput = MeasureRewriteThroughput(prod_.get());
    if (throughput.ok()) {
      facts_->rewrite_bytes_per_s = *throughput;
    } else {
      if (options_.stop.stop_requested()) return absl::CancelledError("stopped");
      Log(LogLevel::kWarning, "could not measure a rewrite throughput on the target ({}); lock times not estimated",
          throughput.status().message());
    }
    std::set<std::string> relations;
    absl::Status st;
    {
      Resources res;
      st = Prepare(target_dsn, &res);
      if (st.ok()) {
        active_.Set(res.conn.get());
        auto run_start = Clock::now();
        st = RunStatements(res.conn.get(), statements, options_.keep_data, options_.stop, facts_, &relations);
        Log(LogLevel::kDebug, "rehearsal: {} statements in {:.2f} s", statements.size(), Seconds(run_start));
      }
      active_.Set(prod_.get());
      auto cleanup_start = Clock::now();
      res.conn.reset();
      res.scratch.reset();
      res.server.reset();
      res.dir.reset();
      Log(LogLevel::kDebug, "rehearsal: cleaned up in {:.2f} s", Seconds(cleanup_start));
    }
    if (!st.ok() && st.code() != absl::StatusCode::kInvalidArgument) return st;
    for (const auto& s : statements)
      for (auto& name : CandidateRelationNames(s.sql)) relations.insert(name);
    auto sizes = ReadSizes(prod_.get(), std::vector<std::string>(relations.begin(), relations.end()));
    if (!sizes.ok()) return Annotate(sizes.status(), "reading the target's table sizes");
    facts_->sizes = std::move(*sizes);
    facts_->rehearsal_s = Seconds(start);
    return st;
  }

 private:
  int Major() const { return info_.server_version_num / 10000; }

  absl::Status Prepare(const std::string& target_dsn, Resources* res) {
    if (options_.mode == RehearsalMode::kDsn) return PrepareStaging(target_dsn, res);
    return PrepareLocal(target_dsn, res);
  }

  absl::Status Dump(const std::string& target_dsn, const std::string& bindir, const std::string& dir,
                    std::string* file) {
    auto t = Clock::now();
    ASSIGN_OR_RETURN(auto conninfo, WithDatabase(target_dsn, info_.database));
    *file = dir + "/schema.sql";
    RETURN_IF_ERROR(DumpSchema(bindir, conninfo, *file, dir + "/pg_dump.log", options_.stop));
    Log(LogLevel::kDebug, "rehearsal: pg_dump --schema-only in {:.2f} s", Seconds(t));
    return absl::OkStatus();
  }

  absl::Status PrepareLocal(const std::string& target_dsn, Resources* res) {
    ASSIGN_OR_RETURN(auto bindir, FindBinDir(Major(), {"initdb", "postgres", "pg_dump", "psql"}, false));
    ASSIGN_OR_RETURN(auto user, ServerOsUser("postgres"));
    ASSIGN_OR_RETURN(res->dir, TempDir::Make(user));
    std::string dump;
    RETURN_IF_ERROR(Dump(target_dsn, bindir, res->dir->path(), &dump));
    auto t = Clock::now();
    ASSIGN_OR_RETURN(res->server, LocalServer::Start(bindir, res->dir->path(), user, info_.encoding, options_.stop));
    Log(LogLevel::kDebug, "rehearsal: server initialised and started in {:.2f} s", Seconds(t));
    // The target's name, so current_database() and ALTER DATABASE agree;
    // postgres (made by initdb, empty) for the names initdb took already.
    std::string db = "postgres";
    if (info_.database != "postgres" && info_.database != "template0" && info_.database != "template1") {
      ASSIGN_OR_RETURN(auto admin, ConnectRehearsal(res->server->Conninfo("postgres"), info_));
      RETURN_IF_ERROR(
          admin->Exec(fmt::format("CREATE DATABASE {} TEMPLATE template0", QuoteIdent(info_.database))).status());
      db = info_.database;
    }
    t = Clock::now();
    RETURN_IF_ERROR(LoadSchema(bindir, res->server->Conninfo(db), dump, res->dir->path() + "/psql.log",
                               options_.stop));
    Log(LogLevel::kDebug, "rehearsal: schema loaded in {:.2f} s", Seconds(t));
    ASSIGN_OR_RETURN(res->conn, ConnectRehearsal(res->server->Conninfo(db), info_));
    return absl::OkStatus();
  }

  // The server and database a session is on: the cluster's system
  // identifier where we may read it, else where libpq connected.
  static std::string Identity(PgConn* conn) {
    auto r = conn->Exec("SELECT (SELECT system_identifier FROM pg_catalog.pg_control_system())::text");
    std::string id = r.ok() && r->Rows() == 1 ? r->GetString(0, 0)
                                                : fmt::format("{}:{}", PQhost(conn->raw()), PQport(conn->raw()));
    if (!r.ok()) conn->RollbackQuietly();
    return id + "/" + PQdb(conn->raw());
  }

  absl::Status PrepareStaging(const std::string& target_dsn, Resources* res) {
    // An empty dsn would mean the PG* environment: production, most likely.
    if (options_.rehearsal_dsn.empty())
      return absl::InvalidArgumentError("a rehearsal on a staging server needs its connection string");
    auto staging = ConnectRehearsal(options_.rehearsal_dsn, info_);
    if (!staging.ok()) return Annotate(staging.status(), "the rehearsal server");
    if (options_.keep_data) {
      // The statements run in this database: never the target itself.
      if (Identity(staging->get()) == Identity(prod_.get()))
        return absl::FailedPreconditionError(
            "the rehearsal database is the target database itself; keeping the data needs a staging copy");
      res->conn = std::move(*staging);
      return absl::OkStatus();
    }
    res->staging = std::move(*staging);
    ASSIGN_OR_RETURN(auto bindir, FindBinDir(Major(), {"pg_dump", "psql"}, true));
    ASSIGN_OR_RETURN(res->dir, TempDir::Make(std::nullopt));
    std::string dump;
    RETURN_IF_ERROR(Dump(target_dsn, bindir, res->dir->path(), &dump));
    std::string name = ScratchName();
    RETURN_IF_ERROR(res->staging
                        ->Exec(fmt::format("CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE 'C' LC_CTYPE 'C'",
                                           QuoteIdent(name), QuoteLiteral(info_.encoding)))
                        .status());
    res->scratch = std::make_unique<ScratchDatabase>(res->staging.get(), name);
    ASSIGN_OR_RETURN(auto conninfo, WithDatabase(options_.rehearsal_dsn, name));
    auto t = Clock::now();
    RETURN_IF_ERROR(LoadSchema(bindir, conninfo, dump, res->dir->path() + "/psql.log", options_.stop));
    Log(LogLevel::kDebug, "rehearsal: schema loaded in {:.2f} s", Seconds(t));
    ASSIGN_OR_RETURN(res->conn, ConnectRehearsal(conninfo, info_));
    return absl::OkStatus();
  }

  const RehearsalOptions& options_;
  PlanFacts* facts_;
  CancelableConn active_;
  std::unique_ptr<PgConn> prod_;  // production: read-only, catalogs and sizes
  ProductionInfo info_;
};

}  // namespace

absl::StatusOr<PlanFacts> Rehearse(const std::string& target_dsn, const std::vector<PlannedStatement>& statements,
                                   const RehearsalOptions& options, PlanFacts* facts_on_error) {
  if (options.mode == RehearsalMode::kNone) return Unrehearsed(statements, "not rehearsed (--rehearsal none)");
  PlanFacts facts;
  absl::Status st = Rehearsal(options, &facts).Run(target_dsn, statements);
  if (st.ok()) return facts;
  if (options.stop.stop_requested()) st = absl::CancelledError("stopped");
  if (facts_on_error != nullptr) *facts_on_error = std::move(facts);
  return st;
}

}  // namespace shadowcopy::workflow
