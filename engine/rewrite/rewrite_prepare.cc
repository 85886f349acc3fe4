// The rewrite's first phases: inspect, dry run (validating the ALTER,
// rehearsing the swap), prepare (shadow, publication, state record), the
// work connections and the change stream, and --resume.
//
// Thread-safety: the rewrite thread.
#include <cstdio>
#include <random>

#include "common/log.h"
#include "common/quote.h"
#include "common/retry.h"
#include "common/status.h"
#include "engine/control/test_hooks.h"
#include "engine/rewrite/plan_printer.h"
#include "engine/rewrite/revertibility_catalog.h"
#include "engine/rewrite/rewrite.h"
#include "engine/rewrite/shadow_check.h"
#include "engine/rewrite/swap.h"
#include "engine/table/inheritance.h"
#include "engine/table/run_lock.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

}  // namespace

absl::StatusOr<Inspection> Rewrite::InspectPhase() {
  Phase("inspect");
  Inspector inspector(main_.get());
  ASSIGN_OR_RETURN(Inspection in, inspector.Inspect(config_));
  if (config_.execute) {
    // One run per table at a time: a session-level advisory lock keyed by the
    // table's oid, held by the main connection until the process ends.
    run_lock_oid_ = in.oid;
    ASSIGN_OR_RETURN(bool locked, TakeRunLock(main_.get(), in.oid));
    if (!locked)
      return absl::FailedPreconditionError(fmt::format(
          "another shadowcopy run is already working on {}", QualifiedName(in.names.schema, in.names.table)));
    if (!config_.resume) RETURN_IF_ERROR(inspector.CheckNoLeftovers(in));
  }
  return in;
}

absl::Status Rewrite::DryRun(const Inspection& in, bool rehearse_swap) {
  // The shadow is built, the ALTER applied and the swap rehearsed inside a
  // transaction that is rolled back: PostgreSQL itself validates the ALTER
  // and every cutover statement (re-created views, foreign keys, policies),
  // so a problem shows now, not hours into the copy. The rehearsal takes the
  // cutover's locks for the few milliseconds its statements run: only at the
  // start of --execute. The dry run takes nothing stronger than ACCESS SHARE
  // on the table (CREATE TABLE ... LIKE takes that much): it builds the swap
  // statements and prints them unrehearsed, since a queued ACCESS EXCLUSIVE
  // request would stall every reader behind the table's lock holders.
  RETURN_IF_ERROR(main_->Exec("BEGIN").status());
  auto rehearse = [&]() -> absl::Status {
    RETURN_IF_ERROR(main_->Exec(fmt::format("SET LOCAL lock_timeout = '{}ms'", config_.lock_timeout.count())).status());
    ShadowBuilder builder(main_.get(), config_);
    ASSIGN_OR_RETURN(ShadowPlan plan, builder.Build(in));
    RETURN_IF_ERROR(AddPartitionBoundCheck(main_.get(), in.oid, QualifiedName(in.names.schema, in.names.shadow)));
    RETURN_IF_ERROR(CheckShadowFitsInheritance(main_.get(), in.oid, QualifiedName(in.names.schema, in.names.table),
                                               QualifiedName(in.names.schema, in.names.shadow)));
    // Revertibility is decided before anything is created (revertibility.h).
    ASSIGN_OR_RETURN(auto revert_facts, ReadRevertFacts(main_.get(), in.oid, plan));
    auto revert_risks = AnalyzeRevert(revert_facts);
    if (config_.revert_window.count() > 0) RETURN_IF_ERROR(CheckRevertAccepted(revert_risks, config_.revert_accept));
    if (!rehearse_swap) return absl::OkStatus();
    for (const auto& stmt : plan.deferred_indexes) RETURN_IF_ERROR(main_->Exec(stmt).status());
    if (!config_.execute) {
      ASSIGN_OR_RETURN(auto catalog, ReadSwapCatalog(main_.get(), plan));
      auto statements = BuildSwapStatements(plan, catalog);
      main_->RollbackQuietly();
      std::string text = FormatPlan(config_, in, plan, statements);
      auto last = text.rfind("run again with --execute");
      text.insert(last == std::string::npos ? text.size() : last,
                  FormatRevertibility(revert_risks, config_.revert_window.count() > 0));
      std::fputs(text.c_str(), stdout);
      std::fflush(stdout);
      return absl::OkStatus();
    }
    // The cutover's locks in the cutover's order: the table first, then what
    // the swap statements lock, losing any lock cycle as the cutover does.
    // The table's lock only at a moment nobody holds or awaits a conflicting
    // one, with a short lock_timeout (rewrite_lock_wait.cc).
    RETURN_IF_ERROR(LoseLockCycles(main_.get()));
    const std::string table = QualifiedName(in.names.schema, in.names.table);
    ASSIGN_OR_RETURN(auto lock_sql, CutoverLockSql(main_.get(), in.oid, table));
    RETURN_IF_ERROR(LockWhenQuiet(main_.get(), in.oid, table, LockMode::kAccessExclusive, "rehearsal", lock_sql,
                                  &rehearsal_blocked_));
    auto granted = Clock::now();
    RETURN_IF_ERROR(main_->Exec(SwapLockTimeoutSql()).status());
    if (ShouldPause(config_.test, "rehearsal-locked", ++rehearsals_))
      RETURN_IF_ERROR(PauseHere(config_.test, nullptr, stop_));
    auto t = Clock::now();
    ASSIGN_OR_RETURN(auto catalog, ReadSwapCatalog(main_.get(), plan));
    auto statements = BuildSwapStatements(plan, catalog);
    for (const auto& stmt : statements.in_lock)
      RETURN_IF_ERROR(Annotate(main_->Exec(stmt).status(), fmt::format("rehearsing the swap: {}", stmt)));
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
    main_->RollbackQuietly();
    // The granted attempt's span ended at the grant: the hold is added here.
    rehearsal_blocked_.total_ms += std::chrono::duration<double, std::milli>(Clock::now() - granted).count();
    summary_.rehearsal_blocked_ms = rehearsal_blocked_.total_ms;
    Log(LogLevel::kInfo, "validated the ALTER and rehearsed the swap ({} statements, {:.1f} ms; writers blocked "
        "{:.1f} ms)", statements.in_lock.size(), ms, rehearsal_blocked_.total_ms);
    return absl::OkStatus();
  };
  absl::Status st = rehearse();
  main_->RollbackQuietly();
  return st;
}

absl::Status Rewrite::Prepare(const Inspection& in) {
  Phase("prepare");
  RetryPolicy policy;
  const auto& n = in.names;
  std::string lock_timeout = fmt::format("SET lock_timeout = '{}ms'", config_.lock_timeout.count());
  RETURN_IF_ERROR(main_->Exec(lock_timeout).status());
  run_id_ = fmt::format("{}-{:x}", in.oid, std::random_device{}());
  state_ = std::make_unique<StateStore>(run_id_);
  int builds = 0;
  // In its own transaction, before the shadow's (bad input was refused by the
  // dry run's validation already, so no state schema is left behind for it).
  RETURN_IF_ERROR(Annotate(StateStore::EnsureSchema(main_.get()), "creating the state table shadowcopy.runs"));
  RETURN_IF_ERROR(Retry(policy, "creating the shadow table", [&]() -> absl::Status {
    RETURN_IF_ERROR(main_->Exec("BEGIN").status());
    ShadowBuilder builder(main_.get(), config_);
    // The original's definition, read before and after the shadow's creation.
    auto built_from = ReadSchemaFingerprint(main_.get(), in.oid);
    auto plan = built_from.ok() ? builder.Build(in) : absl::StatusOr<ShadowPlan>(built_from.status());
    absl::Status st = plan.status();
    if (st.ok()) st = AddPartitionBoundCheck(main_.get(), in.oid, QualifiedName(n.schema, n.shadow));
    if (st.ok() && DeferKeyIndex(*plan)) st = builder.DeferKeyIndex(&*plan);
    if (st.ok() && ShouldPause(config_.test, "shadow-built", ++builds)) st = PauseHere(config_.test, nullptr, stop_);
    if (st.ok()) st = ConfirmBuiltFrom(main_.get(), in.oid, *built_from);
    // The run's record commits with the shadow: never one without the other.
    if (st.ok()) st = state_->Create(main_.get(), *plan, config_.alter, *built_from);
    if (!st.ok()) {
      main_->RollbackQuietly();
      return st;
    }
    RETURN_IF_ERROR(main_->Exec("COMMIT").status());
    plan_ = std::move(*plan);
    built_from_ = std::move(*built_from);
    created_shadow_ = true;
    return absl::OkStatus();
  }, &stop_));
  Log(LogLevel::kInfo, "created shadow table {} (run {} recorded in shadowcopy.runs){}",
      QualifiedName(n.schema, n.shadow), run_id_,
      plan_.key_index_deferred ? "; its key index is built after the copy, replay starts then" : "");
  for (const auto& w : plan_.warnings) Log(LogLevel::kWarning, "{}", w);
  if (in.set_replica_identity) {
    RETURN_IF_ERROR(Retry(policy, "setting the replica identity", [&]() -> absl::Status {
      // Its lock only at a quiet moment, with a short lock_timeout.
      const std::string table = QualifiedName(n.schema, n.table);
      RETURN_IF_ERROR(main_->Exec("BEGIN").status());
      BlockedTime blocked;
      auto st = LockWhenQuiet(main_.get(), in.oid, table, LockMode::kAccessExclusive, "replica identity",
                              fmt::format("LOCK TABLE ONLY {} IN ACCESS EXCLUSIVE MODE", table), &blocked);
      if (st.ok())
        st = main_->Exec(fmt::format("ALTER TABLE {} REPLICA IDENTITY USING INDEX {}", table,
                                     QuoteIdent(in.key_index))).status();
      if (st.ok()) st = main_->Exec("COMMIT").status();
      if (!st.ok()) main_->RollbackQuietly();
      return st;
    }, &stop_));
    set_replica_identity_ = true;
    Log(LogLevel::kInfo, "set REPLICA IDENTITY USING INDEX {} on {} for the run (no primary key)",
        QuoteIdent(in.key_index), QualifiedName(n.schema, n.table));
  }
  // The publication must exist before the slot: a slot created first fails
  // when decoding reaches a change ("publication does not exist").
  RETURN_IF_ERROR(Retry(policy, "creating the publication", [&]() -> absl::Status {
    // ONLY: an inheritance parent's publication must not carry its children's changes.
    return main_->Exec(fmt::format("CREATE PUBLICATION {} FOR TABLE ONLY {}", QuoteIdent(n.publication),
                                   QualifiedName(n.schema, n.table)))
        .status();
  }, &stop_));
  created_publication_ = true;
  Log(LogLevel::kInfo, "created publication {}", QuoteIdent(n.publication));
  return CheckStop();
}

absl::Status Rewrite::OpenWorkConnections() {
  ConnectOptions co;
  co.dsn = config_.dsn;
  co.application_name = "shadowcopy_copy";
  ASSIGN_OR_RETURN(auto copy, PgConn::Connect(co));
  co.application_name = "shadowcopy_apply";
  ASSIGN_OR_RETURN(auto apply, PgConn::Connect(co));
  // A re-read of the original during replay must never wait long behind a
  // lock (our own cutover lock included): fail instead, the run cleans up.
  RETURN_IF_ERROR(apply->Exec("SET lock_timeout = '5s'").status());
  // A copy batch reads the original under ACCESS SHARE: behind a queued
  // ACCESS EXCLUSIVE request it would make the application queue behind it.
  RETURN_IF_ERROR(copy->Exec(fmt::format("SET lock_timeout = '{}ms'", config_.lock_timeout.count())).status());
  std::vector<std::unique_ptr<PgConn>> extra;
  for (int i = 2; i <= config_.copy_workers; ++i) {
    co.application_name = fmt::format("shadowcopy_copy{}", i);
    ASSIGN_OR_RETURN(auto c, PgConn::Connect(co));
    RETURN_IF_ERROR(c->Exec(fmt::format("SET lock_timeout = '{}ms'", config_.lock_timeout.count())).status());
    extra.push_back(std::move(c));
  }
  std::vector<std::unique_ptr<PgConn>> apply_extra;
  for (int i = 2; i <= config_.apply_workers; ++i) {
    co.application_name = fmt::format("shadowcopy_apply{}", i);
    ASSIGN_OR_RETURN(auto c, PgConn::Connect(co));
    // Their commits precede the main apply session's in the WAL, and that
    // one flushes (synchronously) with the checkpoint: waiting for a flush
    // of their own would only add a round of fsync per group.
    RETURN_IF_ERROR(c->Exec("SET lock_timeout = '5s'; SET synchronous_commit = off").status());
    apply_extra.push_back(std::move(c));
  }
  std::lock_guard<std::mutex> lock(conns_mu_);
  copy_ = std::move(copy);
  copy_extra_ = std::move(extra);
  apply_ = std::move(apply);
  apply_extra_ = std::move(apply_extra);
  return absl::OkStatus();
}

// Replay groups may be split over the apply connections only while the
// shadow has no unique or exclusion index besides the key's.
absl::Status Rewrite::RefreshParallelApply() {
  if (!applier_ || apply_extra_.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto r, main_->Query(
      "SELECT NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
      "WHERE i.indrelid = $1 AND (i.indisunique OR i.indisexclusion) AND c.relname <> $2)",
      {std::to_string(plan_.shadow_oid), plan_.key_index}));
  applier_->set_parallel_allowed(r.GetBool(0, 0));
  return absl::OkStatus();
}

cdc::StreamOptions Rewrite::StreamOptionsFor(const TableModel& m) const {
  cdc::StreamOptions so;
  so.connect.dsn = config_.dsn;
  so.slot = m.names.slot;
  so.publication = m.names.publication;
  so.relation_oid = m.oid;
  for (const auto& c : m.source_columns)
    if (!c.generated) so.expected_columns.push_back({c.name, c.type_oid});
  return so;
}

absl::Status Rewrite::StartStream(bool create_slot) {
  const auto& m = plan_.model;
  stream_ = std::make_unique<cdc::ChangeStream>(StreamOptionsFor(m));
  std::optional<cdc::SlotInfo> slot;
  if (create_slot) {
    ASSIGN_OR_RETURN(slot, stream_->CreateSlot());
    created_slot_ = true;
    Log(LogLevel::kInfo, "created replication slot {} at {}", m.names.slot, FormatLsn(slot->consistent_point));
  }
  RETURN_IF_ERROR(OpenWorkConnections());
  if (slot) {
    // Start gap: a transaction committed before the slot's consistent point
    // is not streamed, so the copy must see it. Import the slot's snapshot
    // (valid only until the next command on the replication connection) and
    // make the first batch wait until its own snapshot sees at least as much.
    RETURN_IF_ERROR(copy_->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ").status());
    RETURN_IF_ERROR(copy_->Exec(fmt::format("SET TRANSACTION SNAPSHOT {}", QuoteLiteral(slot->snapshot_name))).status());
    ASSIGN_OR_RETURN(auto snap_text, copy_->Exec("SELECT pg_current_snapshot()::text"));
    RETURN_IF_ERROR(copy_->Exec("COMMIT").status());
    ASSIGN_OR_RETURN(auto exported, ParseSnapshot(snap_text.Get(0, 0)));
    visibility_.RequireSnapshot(exported);
  }
  stream_->MarkApplied(durable_applied_);
  RETURN_IF_ERROR(stream_->Start());
  applier_ = std::make_unique<Applier>(apply_.get(), &plan_.model, &visibility_, &stop_);
  {
    std::vector<PgConn*> extra;
    for (auto& c : apply_extra_) extra.push_back(c.get());
    applier_->set_extra_connections(std::move(extra));
    if (config_.test.parallel_apply_min_rows > 0) applier_->set_parallel_min_rows(config_.test.parallel_apply_min_rows);
    RETURN_IF_ERROR(RefreshParallelApply());
  }
  applier_->set_checkpoint([this](PgConn* conn, Lsn end) -> absl::Status {
    auto [sql, params] = state_->ApplyCheckpoint(end);
    return conn->Query(sql, params).status();
  });
  // Replay skips keys the copy has not reached (the copy reads them later).
  // Not with the ordering mechanism disabled in tests: that mode must show the
  // naive design's hazard.
  if (!config_.test.disable_ordering) {
    applier_->set_horizon([this]() -> Applier::CopyHorizon {
      if (!copier_ || copier_->done()) return {};
      return {true, copier_->high_water()};
    });
  }
  auto old = std::move(copier_);
  copier_ = std::make_unique<Copier>(copy_.get(), &plan_.model, &visibility_, &config_.test, &stop_,
                                     [this] { return ReplayAvailable(milliseconds(200)); });
  {
    std::vector<PgConn*> extra;
    for (auto& c : copy_extra_) extra.push_back(c.get());
    copier_->set_extra_connections(std::move(extra));
  }
  copier_->set_key_index_deferred(plan_.key_index_deferred);
  // The apply session is idle while a batch runs (single applier).
  if (config_.copy_relay) copier_->set_relay_connection(apply_.get());
  copier_->set_checkpoint([this](PgConn* conn, const std::optional<std::vector<std::string>>& hw,
                                 bool done) -> absl::Status {
    auto [sql, params] = state_->CopyCheckpoint(hw, done);
    return conn->Query(sql, params).status();
  });
  return absl::OkStatus();
}

absl::Status Rewrite::ResumeRun(const Inspection& in) {
  Phase("resume");
  const auto& n = in.names;
  ASSIGN_OR_RETURN(auto rec, StateStore::FindUnfinished(main_.get(), n.schema, n.table));
  if (!rec)
    return absl::FailedPreconditionError(fmt::format(
        "no unfinished run on {} to resume", QualifiedName(n.schema, n.table)));
  if (rec->format_version != kStateFormatVersion)
    return absl::FailedPreconditionError(fmt::format(
        "the run was recorded in state format {}, this shadowcopy writes {}; run cleanup and start again",
        rec->format_version, kStateFormatVersion));
  if (rec->alter != config_.alter)
    return absl::InvalidArgumentError(fmt::format(
        "the run being resumed used --alter \"{}\"; resume with the same --alter", rec->alter));
  if (rec->table_oid != in.oid) {
    // Did the swap commit before the tool died? Then only cleanup is left;
    // never swap twice.
    const std::string old_table = NamesFor(n.schema, n.table, rec->table_oid, rec->old_suffix).old_table;
    ASSIGN_OR_RETURN(auto old, main_->Query("SELECT to_regclass($1)::oid", {QualifiedName(n.schema, old_table)}));
    if (!old.IsNull(0, 0) && static_cast<uint32_t>(old.GetInt(0, 0)) == rec->table_oid)
      return FinishAfterSwap(in, *rec);
    return absl::FailedPreconditionError(fmt::format(
        "{} is not the table the run started on (it was replaced); run cleanup", QualifiedName(n.schema, n.table)));
  }
  ASSIGN_OR_RETURN(auto r, main_->Query(
      "SELECT (SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1), "
      "EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $2), to_regclass($3) IS NOT NULL",
      {n.slot, n.publication, QualifiedName(n.schema, n.shadow)}));
  if (r.IsNull(0, 0) || r.Get(0, 0) == "lost")
    return absl::FailedPreconditionError(fmt::format(
        "cannot resume: replication slot {} is {} (the changes it held are gone); run `shadowcopy cleanup "
        "--table {} --execute` and start again", n.slot, r.IsNull(0, 0) ? "missing" : "invalidated", n.table));
  if (!r.GetBool(0, 1) || !r.GetBool(0, 2))
    return absl::FailedPreconditionError(fmt::format(
        "cannot resume: the publication or the shadow table of run {} is missing; run cleanup and start again",
        rec->run_id));
  created_shadow_ = created_publication_ = created_slot_ = true;
  run_id_ = rec->run_id;
  state_ = std::make_unique<StateStore>(run_id_);
  ShadowPlan recorded;
  recorded.deferred_indexes = rec->deferred_indexes;
  recorded.index_names = rec->index_names;
  recorded.statistics_names = rec->statistics_names;
  recorded.key_index = rec->key_index;
  ShadowBuilder builder(main_.get(), config_);
  ASSIGN_OR_RETURN(plan_, builder.Reattach(in, std::move(recorded)));
  // The old table keeps the name the run chose when it started.
  plan_.model.names = NamesFor(n.schema, n.table, in.oid, rec->old_suffix);
  summary_.names = plan_.model.names;
  built_from_ = rec->schema_fingerprint;
  if (auto intact = CheckShadowIntact(main_.get(), plan_.model, rec->copy_high_water, rec->copy_done); !intact.ok()) {
    created_shadow_ = created_publication_ = created_slot_ = false;  // refused: nothing is touched
    return intact;
  }
  durable_applied_ = rec->applied_lsn;
  RETURN_IF_ERROR(StartStream(/*create_slot=*/false));
  copier_->Resume(rec->copy_high_water, rec->copy_done);
  Log(LogLevel::kInfo, "resuming run {}: copy {}, replay from {}", run_id_,
      rec->copy_done ? "done" : "continues after the recorded high-water key", FormatLsn(durable_applied_));
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
