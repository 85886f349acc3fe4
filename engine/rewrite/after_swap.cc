#include "engine/rewrite/after_swap.h"

#include "common/log.h"
#include "common/quote.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/rewrite/state_store.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

// Drops the slot, waiting a moment for a walsender that is exiting.
absl::Status DropSlot(PgConn* conn, const std::string& slot) {
  RetryPolicy policy;
  policy.initial_backoff = std::chrono::milliseconds(50);
  policy.attempts = 20;
  return Retry(policy, "dropping the replication slot", [&]() -> absl::Status {
    auto r = conn->Query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                         "WHERE slot_name = $1", {slot});
    if (!r.ok() && SqlStateOf(r.status()) == "55006") return absl::UnavailableError(r.status().message());
    return r.status();
  }, nullptr);
}

// One statement and its removal from the record, in one transaction.
// Returns false when the record no longer has it first (someone ran it).
absl::StatusOr<bool> RunOne(PgConn* conn, const StateStore& state, const std::string& stmt,
                            std::chrono::milliseconds lock_timeout) {
  RETURN_IF_ERROR(conn->Exec("BEGIN").status());
  auto body = [&]() -> absl::StatusOr<bool> {
    RETURN_IF_ERROR(conn->Exec(fmt::format("SET LOCAL lock_timeout = '{}ms'", lock_timeout.count())).status());
    // The record's row first: a second finisher waits here, then finds the
    // statement gone.
    auto [sql, params] = state.AfterSwapStatementDone(stmt);
    ASSIGN_OR_RETURN(auto r, conn->Query(sql, params));
    if (r.Rows() == 0) return false;
    RETURN_IF_ERROR(conn->Exec(stmt).status());
    RETURN_IF_ERROR(conn->Exec("COMMIT").status());
    return true;
  };
  auto ran = body();
  if (!ran.ok() || !*ran) conn->RollbackQuietly();
  return ran;
}

}  // namespace

absl::StatusOr<std::optional<SwappedRun>> FindSwappedRun(PgConn* conn, uint32_t original_oid) {
  ASSIGN_OR_RETURN(auto exists, conn->Exec("SELECT to_regclass('shadowcopy.runs') IS NOT NULL"));
  if (!exists.GetBool(0, 0)) return std::optional<SwappedRun>();
  ASSIGN_OR_RETURN(auto r, conn->Query(
      "SELECT run_id, schema_name, table_name, slot_name, publication_name, coalesce(after_swap, '{}')::text, "
      "(SELECT active FROM pg_replication_slots WHERE slot_name = r.slot_name), "
      "EXISTS (SELECT 1 FROM pg_publication WHERE pubname = r.publication_name) "
      "FROM shadowcopy.runs r WHERE table_oid = $1 AND finished_at IS NULL AND phase = 'swapped' "
      "ORDER BY started_at DESC LIMIT 1", {std::to_string(original_oid)}));
  if (r.Rows() == 0) return std::optional<SwappedRun>();
  SwappedRun run;
  run.run_id = r.GetString(0, 0);
  run.schema = r.GetString(0, 1);
  run.table = r.GetString(0, 2);
  run.original_oid = original_oid;
  run.slot = r.GetString(0, 3);
  run.publication = r.GetString(0, 4);
  ASSIGN_OR_RETURN(run.statements, ParseTextArray(conn, r.Get(0, 5)));
  run.slot_exists = !r.IsNull(0, 6);
  run.slot_active = run.slot_exists && r.GetBool(0, 6);
  run.publication_exists = r.GetBool(0, 7);
  return std::optional<SwappedRun>(std::move(run));
}

absl::StatusOr<std::optional<SwappedRun>> FindSwappedRunOn(PgConn* conn, const std::string& schema,
                                                           const std::string& table, uint32_t current_oid) {
  ASSIGN_OR_RETURN(auto exists, conn->Exec("SELECT to_regclass('shadowcopy.runs') IS NOT NULL"));
  if (!exists.GetBool(0, 0)) return std::optional<SwappedRun>();
  ASSIGN_OR_RETURN(auto r, conn->Query("SELECT table_oid FROM shadowcopy.runs WHERE schema_name = $1 AND "
                                       "table_name = $2 AND finished_at IS NULL AND phase = 'swapped' AND "
                                       "table_oid <> $3::oid ORDER BY started_at DESC LIMIT 1",
                                       {schema, table, std::to_string(current_oid)}));
  if (r.Rows() == 0) return std::optional<SwappedRun>();
  return FindSwappedRun(conn, static_cast<uint32_t>(r.GetInt(0, 0)));
}

std::string FormatFinishPlan(const SwappedRun& run) {
  const std::string table = QualifiedName(run.schema, run.table);
  std::string out = fmt::format("shadowcopy resume plan for {} (dry run: nothing was changed)\n", table);
  out += fmt::format("  run:         {}: its swap committed; {} is the new table\n", run.run_id, table);
  std::string remove;
  if (run.slot_exists) remove = "replication slot " + run.slot;
  if (run.publication_exists) remove += (remove.empty() ? "" : ", ") + ("publication " + QuoteIdent(run.publication));
  out += fmt::format("  will remove: {}\n", remove.empty() ? "nothing (slot and publication are gone)" : remove);
  out += "  after swap:  ";
  if (run.statements.empty()) out += "nothing left\n";
  for (size_t i = 0; i < run.statements.size(); ++i)
    out += (i == 0 ? "" : "               ") + run.statements[i] + "\n";
  out += fmt::format("  then:        the run is marked finished\nrun again with --execute to finish it (or "
                     "`shadowcopy cleanup --schema {} --table {} --execute`)\n", run.schema, run.table);
  return out;
}

absl::Status RunAfterSwapStatements(PgConn* conn, const std::string& run_id,
                                    std::vector<std::string>* statements,
                                    std::chrono::milliseconds lock_timeout,
                                    const std::atomic<bool>* stop) {
  StateStore state(run_id);
  while (!statements->empty()) {
    const std::string stmt = statements->front();
    RetryPolicy policy;
    policy.attempts = 30;
    bool ran = false;
    auto st = Retry(policy, "after the swap", [&]() -> absl::Status {
      ASSIGN_OR_RETURN(ran, RunOne(conn, state, stmt, lock_timeout));
      return absl::OkStatus();
    }, stop);
    if (!st.ok()) return Annotate(st, fmt::format("after the swap: {}", stmt));
    Log(LogLevel::kInfo, "after the swap: {}{}", stmt, ran ? "" : " (already done)");
    statements->erase(statements->begin());
  }
  return absl::OkStatus();
}

absl::Status FinishSwappedRun(PgConn* conn, SwappedRun run, const FinishOptions& options) {
  const std::string table = QualifiedName(run.schema, run.table);
  const std::string how = fmt::format("`shadowcopy cleanup --schema {} --table {} --execute` finishes it",
                                      run.schema, run.table);
  // The slot first: it retains WAL until it is gone.
  if (run.slot_active)
    return absl::FailedPreconditionError(fmt::format(
        "replication slot {} of run {} is in use by a running process; stop it first", run.slot, run.run_id));
  if (run.slot_exists) {
    RETURN_IF_ERROR(Annotate(DropSlot(conn, run.slot), fmt::format("dropping replication slot {}", run.slot)));
    Log(LogLevel::kInfo, "removed replication slot {}", run.slot);
  }
  if (run.publication_exists) {
    RETURN_IF_ERROR(Annotate(conn->Exec(fmt::format("DROP PUBLICATION IF EXISTS {}", QuoteIdent(run.publication)))
                                 .status(),
                             fmt::format("dropping publication {}", run.publication)));
    Log(LogLevel::kInfo, "removed publication {}", QuoteIdent(run.publication));
  }
  const size_t total = run.statements.size();
  auto st = RunAfterSwapStatements(conn, run.run_id, &run.statements, options.lock_timeout, options.stop);
  if (!st.ok())
    return Annotate(st, fmt::format("the swap of {} committed, {} of its {} post-swap statements are left (kept "
                                    "in the run's record; {})",
                                    table, run.statements.size(), total, how));
  RETURN_IF_ERROR(Annotate(StateStore(run.run_id).Finish(conn, options.outcome),
                           fmt::format("recording that run {} is finished", run.run_id)));
  Log(LogLevel::kInfo, "run {} finished: {}", run.run_id, options.outcome);
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
