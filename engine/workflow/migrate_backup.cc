#include "engine/workflow/migrate_backup.h"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <set>

#include "common/log.h"
#include "common/pg.h"
#include "common/quote.h"
#include "common/status.h"
#include "engine/workflow/conninfo.h"
#include "engine/workflow/plan_safe_path.h"
#include "engine/workflow/plan_statement.h"
#include "engine/workflow/rehearsal_server.h"
#include "engine/workflow/schema_copy.h"
#include "engine/workflow/subprocess.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

std::string UtcStamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

absl::StatusOr<std::unique_ptr<PgConn>> ConnectForBackup(const std::string& conninfo) {
  ConnectOptions o;
  o.dsn = conninfo;
  o.application_name = "shadowcopy migrate backup";
  return PgConn::Connect(o);
}

// The quoted name of `relation` ("public.orders"), as pg_dump -t reads it
// literally: "public"."orders".
std::string DumpPattern(const std::string& relation) {
  auto [schema, table] = SplitRelation(relation);
  return QualifiedName(schema, table);
}

}  // namespace

std::vector<std::string> TablesAtRisk(const PendingMigration& p) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](const std::string& r) {
    if (!r.empty() && seen.insert(r).second) out.push_back(r);
  };
  for (size_t i = p.resume_at; i < p.script.statements.size(); ++i) {
    const StatementShape s = ClassifyStatement(p.script.statements[i].sql);
    if (i < p.paths.size() && p.paths[i] == SafePath::kOnlineRewrite) add(s.relation);
    switch (s.kind) {
      case StatementKind::kDropTable:
      case StatementKind::kTruncate:
        for (const auto& r : s.relations) add(r);
        break;
      case StatementKind::kDelete:
      case StatementKind::kUpdate:
      case StatementKind::kVacuumFull:
      case StatementKind::kCluster:
        add(s.relation);
        break;
      case StatementKind::kAlterTable:
        for (const AlterAction& a : s.actions)
          if (a.kind == ActionKind::kDropColumn || a.kind == ActionKind::kAlterType) add(s.relation);
        break;
      default:
        break;
    }
  }
  return out;
}

std::string BackupFileName(const MigrationFile& file, const std::string& utc_stamp) {
  std::string base = file.file;
  for (const char* ext : {".up.sql", ".sql"})
    if (base.size() > std::string(ext).size() && base.ends_with(ext)) {
      base.resize(base.size() - std::string(ext).size());
      break;
    }
  return fmt::format("{}.{}.dump", base, utc_stamp);
}

absl::StatusOr<BackupResult> BackupAndProve(const std::string& dsn, const std::string& dir,
                                            const MigrationFile& file, const std::vector<std::string>& tables,
                                            const std::stop_token& stop) {
  const auto started = std::chrono::steady_clock::now();
  BackupResult result;
  ASSIGN_OR_RETURN(auto conn, ConnectForBackup(dsn));
  ASSIGN_OR_RETURN(PgResult info, conn->Exec(
      "SELECT current_setting('server_version_num')::int, current_database(), "
      "pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()"));
  const int major = static_cast<int>(info.GetInt(0, 0)) / 10000;
  const std::string database = info.GetString(0, 1), encoding = info.GetString(0, 2);
  // One snapshot for the dump and the counts it is checked against.
  RETURN_IF_ERROR(conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status());
  ASSIGN_OR_RETURN(PgResult snap, conn->Exec("SELECT pg_export_snapshot()"));
  const std::string snapshot = snap.GetString(0, 0);
  for (const std::string& t : tables) {
    ASSIGN_OR_RETURN(PgResult e, conn->Query("SELECT to_regclass($1) IS NOT NULL", {DumpPattern(t)}));
    if (!e.GetBool(0, 0)) continue;  // created by the migration itself
    ASSIGN_OR_RETURN(PgResult c, conn->Exec("SELECT count(*) FROM " + DumpPattern(t)));
    result.rows.emplace_back(t, c.GetInt(0, 0));
  }
  if (result.rows.empty()) {
    conn->RollbackQuietly();
    return result;
  }
  ASSIGN_OR_RETURN(std::string bindir,
                   FindBinDir(major, {"pg_dump", "pg_restore", "initdb", "postgres", "psql"}, false));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::FailedPreconditionError(fmt::format("cannot create the backup directory {}: {}", dir, ec.message()));
  result.path = (std::filesystem::path(dir) / BackupFileName(file, UtcStamp())).string();
  const std::string log = result.path + ".log";
  ASSIGN_OR_RETURN(std::string target, WithDatabase(dsn, database));
  ProcessSpec dump;
  dump.argv = {bindir + "/pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--snapshot=" + snapshot,
               "--lock-wait-timeout=10s", "--file", result.path, "--dbname", target};
  for (const auto& [t, n] : result.rows) dump.argv.insert(dump.argv.end(), {"--table", DumpPattern(t)});
  dump.output_path = log;
  ASSIGN_OR_RETURN(int rc, RunProcess(dump, stop));
  conn->RollbackQuietly();
  if (rc != 0)
    return absl::FailedPreconditionError(fmt::format("pg_dump of {} failed: {}", file.file, ErrorLineOf(log)));

  // The proof: the target's schema on a throwaway server, the dump's data
  // restored into it, the counts compared.
  ASSIGN_OR_RETURN(auto user, ServerOsUser("postgres"));
  ASSIGN_OR_RETURN(auto tmp, TempDir::Make(user));
  const std::string schema_file = tmp->path() + "/schema.sql";
  RETURN_IF_ERROR(DumpSchema(bindir, target, schema_file, tmp->path() + "/pg_dump.log", stop));
  ASSIGN_OR_RETURN(auto server, LocalServer::Start(bindir, tmp->path(), user, encoding, stop));
  {
    ASSIGN_OR_RETURN(auto admin, ConnectForBackup(server->Conninfo("postgres")));
    RETURN_IF_ERROR(admin->Exec("CREATE DATABASE restore_check TEMPLATE template0").status());
  }
  RETURN_IF_ERROR(LoadSchema(bindir, server->Conninfo("restore_check"), schema_file, tmp->path() + "/psql.log", stop));
  ProcessSpec restore;
  restore.argv = {bindir + "/pg_restore", "--data-only", "--disable-triggers", "--exit-on-error", "--no-owner",
                  "--dbname", server->Conninfo("restore_check"), result.path};
  restore.output_path = tmp->path() + "/pg_restore.log";
  ASSIGN_OR_RETURN(rc, RunProcess(restore, stop));
  if (rc != 0)
    return absl::FailedPreconditionError(fmt::format("the backup {} does not restore: {}", result.path,
                                                     ErrorLineOf(restore.output_path)));
  ASSIGN_OR_RETURN(auto check, ConnectForBackup(server->Conninfo("restore_check")));
  for (const auto& [t, n] : result.rows) {
    ASSIGN_OR_RETURN(PgResult c, check->Exec("SELECT count(*) FROM " + DumpPattern(t)));
    if (c.GetInt(0, 0) != n)
      return absl::FailedPreconditionError(fmt::format(
          "the backup {} restored {} rows of {}, the snapshot it was taken in has {}", result.path, c.GetInt(0, 0),
          t, n));
  }
  std::filesystem::remove(log, ec);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace shadowcopy::workflow
