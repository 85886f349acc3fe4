#include "engine/rewrite/cleanup.h"

#include <algorithm>

#include "common/log.h"
#include "common/pg.h"
#include "common/quote.h"
#include "common/status.h"
#include "engine/rewrite/after_swap.h"
#include "engine/rewrite/state_store.h"
#include "engine/table/inspector.h"
#include "engine/table/run_lock.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

// A replication slot and a publication named `name`, when they exist.
absl::Status FindSlotAndPublication(PgConn* conn, const std::string& name, std::vector<Leftover>* out) {
  ASSIGN_OR_RETURN(auto s, conn->Query("SELECT active FROM pg_replication_slots WHERE slot_name = $1", {name}));
  if (s.Rows() > 0)
    out->push_back({"replication slot", name,
                    fmt::format("SELECT pg_drop_replication_slot({})", QuoteLiteral(name)), s.GetBool(0, 0)});
  ASSIGN_OR_RETURN(auto p, conn->Query("SELECT 1 FROM pg_publication WHERE pubname = $1", {name}));
  if (p.Rows() > 0)
    out->push_back({"publication", QuoteIdent(name), fmt::format("DROP PUBLICATION {}", QuoteIdent(name)), false});
  return absl::OkStatus();
}

absl::Status FindForOid(PgConn* conn, uint32_t oid, std::vector<Leftover>* out) {
  ASSIGN_OR_RETURN(auto t, conn->Query("SELECT n.nspname, c.relname FROM pg_class c "
                                       "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
                                       {std::to_string(oid)}));
  // The run's slot and publication, and the revert window's (_rev).
  for (const std::string& slot : {fmt::format("shadowcopy_{}", oid), fmt::format("shadowcopy_{}_rev", oid)})
    RETURN_IF_ERROR(FindSlotAndPublication(conn, slot, out));
  ASSIGN_OR_RETURN(auto st, conn->Exec("SELECT to_regclass('shadowcopy.runs') IS NOT NULL"));
  if (st.GetBool(0, 0)) {
    ASSIGN_OR_RETURN(auto runs, conn->Query("SELECT run_id FROM shadowcopy.runs WHERE table_oid = $1 "
                                            "AND finished_at IS NULL", {std::to_string(oid)}));
    for (int i = 0; i < runs.Rows(); ++i)
      out->push_back({"state of run", runs.GetString(i, 0),
                      fmt::format("UPDATE shadowcopy.runs SET finished_at = now(), phase = 'finished', "
                                  "outcome = 'cleaned up' WHERE run_id = {}", QuoteLiteral(runs.Get(i, 0))),
                      false});
  }
  ASSIGN_OR_RETURN(auto bf, conn->Exec("SELECT to_regclass('shadowcopy.backfills') IS NOT NULL"));
  if (bf.GetBool(0, 0)) {
    // An unfinished backfill keeps its checkpoint for --resume and refuses a
    // new backfill of the table; cleanup closes its record (no row it
    // changed is touched).
    // By oid, or by the table's name: a rewrite since then swapped in a
    // table with another oid, and the backfill looks its record up by name.
    PgParams by{std::to_string(oid), std::nullopt, std::nullopt};
    if (t.Rows() > 0) by = {std::to_string(oid), t.GetString(0, 0), t.GetString(0, 1)};
    ASSIGN_OR_RETURN(auto runs, conn->Query("SELECT run_id, coalesce(array_to_string(cursor_key, ', '), 'none') "
                                            "FROM shadowcopy.backfills WHERE finished_at IS NULL AND "
                                            "(table_oid = $1 OR (schema_name = $2 AND table_name = $3))",
                                            by));
    for (int i = 0; i < runs.Rows(); ++i)
      out->push_back({"state of backfill", fmt::format("{} (checkpoint at key ({}))", runs.GetString(i, 0),
                                                       runs.GetString(i, 1)),
                      fmt::format("UPDATE shadowcopy.backfills SET finished_at = now(), outcome = 'cleaned up' "
                                  "WHERE run_id = {}", QuoteLiteral(runs.Get(i, 0))),
                      false});
  }
  if (t.Rows() == 0) return absl::OkStatus();
  ObjectNames names = NamesFor(t.GetString(0, 0), t.GetString(0, 1), oid, kLegacyOldSuffix);
  ASSIGN_OR_RETURN(auto sh, conn->Query("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                        "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'",
                                        {names.schema, names.shadow}));
  if (sh.Rows() > 0) {
    std::string q = QualifiedName(names.schema, names.shadow);
    out->push_back({"table", q, fmt::format("DROP TABLE {}", q), false});
  }
  return absl::OkStatus();
}

// What finishing `run` (FinishSwappedRun) will do, as listed.
void ListSwappedRun(const SwappedRun& run, std::vector<Leftover>* out) {
  if (run.slot_exists) out->push_back({"replication slot", run.slot, "", run.slot_active});
  if (run.publication_exists) out->push_back({"publication", QuoteIdent(run.publication), "", false});
  for (const auto& stmt : run.statements)
    out->push_back({"post-swap statement", stmt, "", false, "would run", "ran"});
  out->push_back({"state of run",
                  fmt::format("{} (its swap committed: {} is the new table)", run.run_id,
                              QualifiedName(run.schema, run.table)),
                  "", false, "would mark finished", "marked finished"});
}

// A run still working on the table holds its advisory lock: leave it be.
absl::Status LockTable(PgConn* conn, uint32_t oid) {
  ASSIGN_OR_RETURN(bool locked, TakeRunLock(conn, oid));
  if (!locked)
    return absl::FailedPreconditionError(fmt::format(
        "a shadowcopy run is still active on table oid {}; stop it first (it cleans up after itself)", oid));
  return absl::OkStatus();
}

void AddOid(uint32_t oid, std::vector<uint32_t>* oids) {
  if (std::find(oids->begin(), oids->end(), oid) == oids->end()) oids->push_back(oid);
}

// The tables to look at: by the objects' names (--all) or the table's oid,
// plus the oids unfinished runs recorded (a swapped table has a new oid).
absl::StatusOr<std::vector<uint32_t>> TargetOids(PgConn* conn, const Config& config, bool all) {
  std::vector<uint32_t> oids;
  PgParams by_name{config.schema, config.table};
  if (all) {
    ASSIGN_OR_RETURN(auto r, conn->Exec(
                                 "SELECT substring(slot_name FROM '^shadowcopy_([0-9]+)')::oid FROM pg_replication_slots "
                                 "WHERE slot_name ~ '^shadowcopy_[0-9]+(_rev)?$' AND database = current_database() "
                                 "UNION SELECT substring(pubname FROM '^shadowcopy_([0-9]+)')::oid FROM pg_publication "
                                 "WHERE pubname ~ '^shadowcopy_[0-9]+(_rev)?$'"));
    for (int i = 0; i < r.Rows(); ++i) AddOid(static_cast<uint32_t>(r.GetInt(i, 0)), &oids);
    ASSIGN_OR_RETURN(auto bf, conn->Exec("SELECT to_regclass('shadowcopy.backfills') IS NOT NULL"));
    if (bf.GetBool(0, 0)) {
      ASSIGN_OR_RETURN(auto b, conn->Exec("SELECT DISTINCT table_oid FROM shadowcopy.backfills "
                                          "WHERE finished_at IS NULL"));
      for (int i = 0; i < b.Rows(); ++i) AddOid(static_cast<uint32_t>(b.GetInt(i, 0)), &oids);
    }
    by_name = {std::nullopt, std::nullopt};
  } else {
    ASSIGN_OR_RETURN(auto r, conn->Query("SELECT c.oid FROM pg_class c JOIN pg_namespace n "
                                         "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                                         by_name));
    if (r.Rows() > 0) oids.push_back(static_cast<uint32_t>(r.GetInt(0, 0)));
  }
  ASSIGN_OR_RETURN(auto st, conn->Exec("SELECT to_regclass('shadowcopy.runs') IS NOT NULL"));
  if (st.GetBool(0, 0)) {
    ASSIGN_OR_RETURN(auto runs, conn->Query("SELECT DISTINCT table_oid FROM shadowcopy.runs WHERE finished_at IS "
                                            "NULL AND ($1::text IS NULL OR (schema_name = $1 AND table_name = $2))",
                                            by_name));
    for (int i = 0; i < runs.Rows(); ++i) AddOid(static_cast<uint32_t>(runs.GetInt(i, 0)), &oids);
  }
  if (!all && oids.empty())
    return absl::NotFoundError(fmt::format("table {} does not exist", QualifiedName(config.schema, config.table)));
  return oids;
}

}  // namespace

absl::StatusOr<std::vector<Leftover>> RunCleanup(const Config& config, bool all) {
  ConnectOptions co;
  co.dsn = config.dsn;
  co.application_name = "shadowcopy_cleanup";
  ASSIGN_OR_RETURN(auto conn, PgConn::Connect(co));
  ASSIGN_OR_RETURN(std::vector<uint32_t> oids, TargetOids(conn.get(), config, all));
  std::vector<Leftover> found;
  std::vector<SwappedRun> swapped;
  for (uint32_t oid : oids) {
    RETURN_IF_ERROR(LockTable(conn.get(), oid));
    ASSIGN_OR_RETURN(auto run, FindSwappedRun(conn.get(), oid));
    if (!run) {
      RETURN_IF_ERROR(FindForOid(conn.get(), oid, &found));
      continue;
    }
    // A --resume finishing the same run holds the new table's lock.
    ASSIGN_OR_RETURN(auto now, conn->Query("SELECT to_regclass($1)::oid", {QualifiedName(run->schema, run->table)}));
    if (!now.IsNull(0, 0) && static_cast<uint32_t>(now.GetInt(0, 0)) != oid)
      RETURN_IF_ERROR(LockTable(conn.get(), static_cast<uint32_t>(now.GetInt(0, 0))));
    // A run killed in its revert window left the reverse stream's too.
    RETURN_IF_ERROR(FindSlotAndPublication(conn.get(), run->slot + "_rev", &found));
    ListSwappedRun(*run, &found);
    swapped.push_back(std::move(*run));
  }
  if (!config.execute) return found;
  for (const auto& l : found) {
    if (l.active)
      return absl::FailedPreconditionError(fmt::format("replication slot {} is in use by a running process", l.name));
  }
  RETURN_IF_ERROR(conn->Exec("SET lock_timeout = '5s'").status());
  for (const auto& l : found) {
    if (l.drop_sql.empty()) continue;
    RETURN_IF_ERROR(Annotate(conn->Exec(l.drop_sql).status(), fmt::format("dropping {} {}", l.kind, l.name)));
    Log(LogLevel::kInfo, "removed {} {}", l.kind, l.name);
  }
  RETURN_IF_ERROR(conn->Exec("RESET lock_timeout").status());
  for (const auto& run : swapped)
    RETURN_IF_ERROR(FinishSwappedRun(conn.get(), run, {config.cutover_lock_timeout, "success (finished by cleanup)",
                                                       nullptr}));
  return found;
}

}  // namespace shadowcopy::engine
