#include "engine/workflow/migrate_ci.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/quote.h"
#include "common/status.h"
#include "engine/table/state_tables.h"
#include "engine/workflow/cancelable_conn.h"
#include "engine/workflow/conninfo.h"
#include "engine/workflow/migrate_down.h"
#include "engine/workflow/migrate_history.h"
#include "engine/workflow/rehearsal_server.h"
#include "engine/workflow/schema_copy.h"
#include "engine/workflow/schema_diff.h"
#include "engine/workflow/sizes.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

using CiClock = std::chrono::steady_clock;

// Left out of every comparison: shadowcopy's own records.
const std::vector<std::string> kCiExcludedTables = {"shadowcopy.migrations", "shadowcopy.migration_events",
                                                    "shadowcopy.migration_events_id_seq"};
const std::vector<std::string> kCiTools = {"initdb", "postgres", "pg_dump", "psql"};

// The newest local server binaries, for --empty without a target.
absl::StatusOr<std::string> NewestBinDir() {
  for (int major = 20; major >= 12; --major)
    if (auto dir = FindBinDir(major, kCiTools, false); dir.ok()) return dir;
  return absl::FailedPreconditionError(
      "migrate ci needs PostgreSQL's server binaries (initdb, postgres, pg_dump, psql) installed locally, e.g. the "
      "postgresql-15 package; none found");
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Why the target's history stops the round trip, "" when it does not.
std::string TargetHistoryProblem(const std::vector<MigrationStatus>& statuses) {
  std::string out;
  for (const auto& s : statuses)
    if (s.state == MigrationState::kFailed || s.state == MigrationState::kModified ||
        s.state == MigrationState::kMissing || s.state == MigrationState::kUndoing ||
        s.state == MigrationState::kRunning)
      out += fmt::format("{}version {} is {}", out.empty() ? "" : "; ", s.version, MigrationStateName(s.state));
  return out.empty() ? "" : "the target's history needs attention first (`migrate status`): " + out;
}

class CiRun {
 public:
  CiRun(const CiOptions& options, const Say& say, CiResult* result)
      : o_(options), say_(say), result_(result) {}

  absl::Status Run() {
    std::stop_callback on_stop(o_.stop, [this] { active_.Cancel(); });
    ASSIGN_OR_RETURN(files_, ReadMigrationDirectory(o_.dir));
    RETURN_IF_ERROR(ReadTarget());
    ASSIGN_OR_RETURN(bool go, CheckBeforeStart());
    if (!go) return absl::OkStatus();
    if (pending_.empty()) {
      result_->passed = true;
      say_("nothing to take round trip: every migration is applied on the target");
      return absl::OkStatus();
    }
    absl::Status st = Prepare();
    if (st.ok()) st = RoundTrip();
    active_.Set(nullptr);
    conn_.reset();
    server_.reset();
    dir_.reset();
    if (o_.stop.stop_requested()) return absl::CancelledError("stopped");
    return st;
  }

 private:
  bool Fail(std::string failure, std::optional<std::string> version = std::nullopt, std::string diff = "") {
    result_->passed = false;
    result_->failure = std::move(failure);
    result_->version = std::move(version);
    result_->diff = std::move(diff);
    return false;
  }
  // A failed check: the round trip stops, the run itself succeeded.
  absl::Status Failed(std::string failure, std::optional<std::string> version = std::nullopt, std::string diff = "") {
    Fail(std::move(failure), std::move(version), std::move(diff));
    return absl::OkStatus();
  }

  absl::Status ReadTarget() {
    if (o_.dsn.empty() && o_.empty) {
      info_.database = "postgres";
      info_.encoding = "UTF8";
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(auto prod, ConnectProduction(o_.dsn));
    ASSIGN_OR_RETURN(info_, ReadProductionInfo(prod.get()));
    if (!o_.empty) {
      ASSIGN_OR_RETURN(target_rows_, LoadHistory(prod.get()));
    }
    return absl::OkStatus();
  }

  // The target's history, the pending migrations and their undo files,
  // checked before any server starts. False for a failed check;
  // InvalidArgument for a file that does not parse.
  absl::StatusOr<bool> CheckBeforeStart() {
    for (const HistoryRow& r : target_rows_)
      if (r.state == "applied") applied_rows_.push_back(r);
    auto statuses = ComputeStatus(files_, target_rows_, false);
    if (std::string problem = TargetHistoryProblem(statuses); !problem.empty()) return Fail(problem);
    auto pending = PendingMigrations(statuses, std::nullopt, false);
    if (!pending.ok()) {
      if (pending.status().code() == absl::StatusCode::kInvalidArgument) return pending.status();
      return Fail(std::string(pending.status().message()));
    }
    pending_ = std::move(*pending);
    result_->migrations = static_cast<int>(pending_.size());
    std::string missing;
    for (const auto& p : pending_) {
      if (!p.file->undo_file) {
        missing += fmt::format("{}{} ({})", missing.empty() ? "" : ", ", p.file->name.version.ToString(), p.file->file);
        continue;
      }
      if (auto parsed = ParseMigrationScript(*p.file->undo_file, p.file->undo_text); !parsed.ok())
        return parsed.status();
    }
    if (!missing.empty())
      return Fail(fmt::format("no undo file for {}: the round trip cannot undo {}", missing,
                              missing.find(',') == std::string::npos ? "it" : "them"));
    return true;
  }

  absl::Status Prepare() {
    auto t = CiClock::now();
    const int major = info_.server_version_num / 10000;
    absl::StatusOr<std::string> bindir = major > 0 ? FindBinDir(major, kCiTools, false) : NewestBinDir();
    if (!bindir.ok() && major > 0)
      return absl::FailedPreconditionError(fmt::format(
          "migrate ci needs PostgreSQL {}'s server binaries (initdb, postgres, pg_dump, psql: the target's major "
          "version) installed locally, e.g. the postgresql-{} package",
          major, major));
    if (!bindir.ok()) return bindir.status();
    bindir_ = *bindir;
    ASSIGN_OR_RETURN(auto user, ServerOsUser("postgres"));
    ASSIGN_OR_RETURN(dir_, TempDir::Make(user));
    std::string target_dump = dir_->path() + "/target.sql";
    if (!o_.empty) {
      ASSIGN_OR_RETURN(auto conninfo, WithDatabase(o_.dsn, info_.database));
      RETURN_IF_ERROR(DumpSchema(bindir_, conninfo, target_dump, dir_->path() + "/pg_dump.log", o_.stop));
    }
    ASSIGN_OR_RETURN(server_, LocalServer::Start(bindir_, dir_->path(), user, info_.encoding, o_.stop));
    std::string db = "postgres";
    if (info_.database != "postgres" && info_.database != "template0" && info_.database != "template1") {
      ASSIGN_OR_RETURN(auto admin, ConnectForMigrate(server_->Conninfo("postgres")));
      RETURN_IF_ERROR(
          admin->Exec(fmt::format("CREATE DATABASE {} TEMPLATE template0", QuoteIdent(info_.database))).status());
      db = info_.database;
    }
    conninfo_ = server_->Conninfo(db);
    if (!o_.empty)
      RETURN_IF_ERROR(LoadSchema(bindir_, conninfo_, target_dump, dir_->path() + "/psql.log", o_.stop));
    ASSIGN_OR_RETURN(conn_, ConnectForMigrate(conninfo_, true));
    active_.Set(conn_.get());
    RETURN_IF_ERROR(EnsureHistory(conn_.get()));
    RETURN_IF_ERROR(CopyHistory());
    say_(fmt::format("throwaway server ready with {} in {:.1f} s", o_.empty ? "an empty database" : "the target's schema",
                     std::chrono::duration<double>(CiClock::now() - t).count()));
    return absl::OkStatus();
  }

  // The target's applied rows, so the same migrations are pending here.
  absl::Status CopyHistory() {
    for (const HistoryRow& r : applied_rows_) {
      std::vector<std::optional<std::string>> hashes(r.statement_hashes.begin(), r.statement_hashes.end());
      RETURN_IF_ERROR(conn_->Query(
          "INSERT INTO shadowcopy.migrations (version, description, file, checksum, state, statements_applied, "
          "  statements_total, statement_hashes, baseline) "
          "VALUES ($1, $2, $3, $4, 'applied', $5::int, $6::int, $7::text[], $8::bool)",
          {r.version, r.description, r.file, r.checksum, std::to_string(r.statements_applied),
           std::to_string(r.statements_total), engine::TextArrayOf(r.statement_hashes),
           r.baseline ? "true" : "false"}).status());
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> Dump() {
    std::string file = fmt::format("{}/dump-{}.sql", dir_->path(), ++result_->dumps);
    auto st = DumpSchema(bindir_, conninfo_, file, dir_->path() + "/pg_dump.log", o_.stop, kCiExcludedTables);
    if (!st.ok()) return Annotate(st, "the throwaway server's schema");
    std::string text = ReadWholeFile(file);
    std::error_code ec;
    std::filesystem::remove(file, ec);
    return NormalizeSchemaDump(text);
  }

  absl::Status Apply(const PendingMigration& p) {
    return ApplyPending(conn_.get(), std::vector<PendingMigration>{p}, o_.config, say_);
  }

  absl::Status RoundTrip() {
    std::vector<std::vector<std::string>> schemas;  // [k]: after applying k of the pending ones
    ASSIGN_OR_RETURN(schemas.emplace_back(), Dump());
    for (const PendingMigration& p : pending_) {
      std::string v = p.file->name.version.ToString();
      if (auto st = Apply(p); !st.ok()) {
        if (o_.stop.stop_requested()) return st;
        return Failed(fmt::format("applying version {} failed: {}", v, st.message()), v);
      }
      ASSIGN_OR_RETURN(schemas.emplace_back(), Dump());
    }
    say_(fmt::format("applied {} migrations; undoing them one at a time", pending_.size()));
    for (int k = static_cast<int>(pending_.size()); k > 0; --k) {
      const MigrationFile& m = *pending_[k - 1].file;
      std::string v = m.name.version.ToString();
      ASSIGN_OR_RETURN(auto rows, LoadHistory(conn_.get()));
      auto statuses = ComputeStatus(files_, rows, false);
      auto plan = DownMigrations(statuses, std::nullopt);
      if (!plan.ok()) return Failed(fmt::format("cannot undo version {}: {}", v, plan.status().message()), v);
      if (plan->undos.size() != 1 || !(plan->undos[0].file->name.version == m.name.version))
        return absl::InternalError(fmt::format("the round trip expected to undo version {} next", v));
      if (auto st = ApplyPending(conn_.get(), plan->undos, o_.config, say_); !st.ok()) {
        if (o_.stop.stop_requested()) return st;
        return Failed(fmt::format("undoing version {} ({}) failed: {}", v, *m.undo_file, st.message()), v);
      }
      ASSIGN_OR_RETURN(auto after, Dump());
      std::string diff = UnifiedDiff(schemas[k - 1], after, fmt::format("schema before version {}", v),
                                     fmt::format("schema after undoing version {} ({})", v, *m.undo_file));
      if (!diff.empty())
        return Failed(fmt::format("version {}: {} does not restore the schema as it was before {}", v, *m.undo_file,
                                m.file),
                    v, diff);
    }
    say_("every undo restored the schema; applying again");
    ASSIGN_OR_RETURN(auto rows, LoadHistory(conn_.get()));
    auto again = PendingMigrations(ComputeStatus(files_, rows, false), std::nullopt, false);
    if (!again.ok()) return again.status();
    if (auto st = ApplyPending(conn_.get(), *again, o_.config, say_); !st.ok()) {
      if (o_.stop.stop_requested()) return st;
      return Failed(fmt::format("applying again after the undos failed: {}", st.message()));
    }
    ASSIGN_OR_RETURN(auto again_schema, Dump());
    std::string diff = UnifiedDiff(schemas.back(), again_schema, "schema after the first apply",
                                   "schema after undoing and applying again");
    if (!diff.empty())
      return Failed("applying again after the undos gives another schema than the first apply", std::nullopt, diff);
    result_->passed = true;
    return absl::OkStatus();
  }

 private:
  const CiOptions& o_;
  const Say& say_;
  CiResult* result_;
  CancelableConn active_;
  std::vector<MigrationFile> files_;
  ProductionInfo info_;
  std::vector<HistoryRow> target_rows_, applied_rows_;
  std::vector<PendingMigration> pending_;
  std::string bindir_, conninfo_;
  // Released in reverse order: connection, server, directory.
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<LocalServer> server_;
  std::unique_ptr<PgConn> conn_;
};

}  // namespace

absl::StatusOr<CiResult> RunMigrateCi(const CiOptions& options, const Say& say) {
  auto start = CiClock::now();
  CiResult result;
  CiRun run(options, say, &result);
  absl::Status st = run.Run();
  if (!st.ok()) return st;
  result.seconds = std::chrono::duration<double>(CiClock::now() - start).count();
  return result;
}

}  // namespace shadowcopy::workflow
