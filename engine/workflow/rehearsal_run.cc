#include "engine/workflow/rehearsal_run.h"

#include <chrono>

#include "common/status.h"
#include "engine/workflow/observe.h"
#include "engine/workflow/statement_kind.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

constexpr const char* kBlockSavepoint = "shadowcopy_rehearsal_block";

// The state of the transaction statements are observed in.
struct TxnView {
  CatalogSnapshot visible;           // what other sessions saw when it began
  std::vector<HeldLock> base_locks;  // what we held when it began
};

class Runner {
 public:
  Runner(PgConn* conn, bool single, const std::stop_token& stop, PlanFacts* facts, std::set<std::string>* rels)
      : conn_(conn), single_(single), stop_(stop), facts_(facts), rels_(rels) {}

  absl::Status Run(const std::vector<PlannedStatement>& statements) {
    if (single_) RETURN_IF_ERROR(conn_->Exec("BEGIN").status());
    for (size_t i = 0; i < statements.size(); ++i) {
      if (stop_.stop_requested()) return absl::CancelledError("stopped");
      StatementFacts f;
      f.statement = statements[i];
      absl::Status st = One(&f);
      facts_->statements.push_back(f);
      if (st.ok()) continue;
      if (!f.observation.error) return st;
      for (size_t j = i + 1; j < statements.size(); ++j) {
        StatementFacts rest;
        rest.statement = statements[j];
        rest.observation.note = "not rehearsed: an earlier statement failed";
        facts_->statements.push_back(rest);
      }
      return absl::InvalidArgumentError(
          fmt::format("{}:{}: {}", f.statement.file, f.statement.line, *f.observation.error));
    }
    if (single_ || conn_->InTransaction()) conn_->RollbackQuietly();
    return absl::OkStatus();
  }

 private:
  absl::Status BeginView(TxnView* view) {
    ASSIGN_OR_RETURN(view->visible, ReadSnapshot(conn_));
    view->base_locks.clear();
    if (single_) {
      ASSIGN_OR_RETURN(view->base_locks, ReadHeldLocks(conn_));
    }
    return absl::OkStatus();
  }

  // Runs `sql` timed; a failure of the statement itself goes to `o->error`.
  absl::Status Execute(const std::string& sql, Observation* o) {
    auto start = std::chrono::steady_clock::now();
    auto r = conn_->Exec(sql);
    o->duration_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    o->rehearsed = true;
    if (r.ok()) return absl::OkStatus();
    if (stop_.stop_requested()) return absl::CancelledError("stopped");
    if (!conn_->Healthy())
      return absl::UnavailableError(fmt::format("lost the rehearsal connection: {}", r.status().message()));
    o->error = std::string(r.status().message());
    conn_->RollbackQuietly();
    return r.status();
  }

  absl::Status Control(const StatementFacts& f, RehearsalTxnControl control, Observation* o) {
    std::string sql = f.statement.sql;
    if (single_) {
      if (control == RehearsalTxnControl::kBegin) {
        sql = fmt::format("SAVEPOINT {}", kBlockSavepoint);
      } else if (!in_block_) {
        o->note = "nothing to end: no transaction block is open";
        o->rehearsed = true;
        return absl::OkStatus();
      } else if (control == RehearsalTxnControl::kCommit) {
        sql = fmt::format("RELEASE SAVEPOINT {}", kBlockSavepoint);
      } else {
        sql = fmt::format("ROLLBACK TO SAVEPOINT {0}; RELEASE SAVEPOINT {0}", kBlockSavepoint);
      }
      o->note = "the rehearsal's transaction is rolled back at the end: " + sql;
    }
    RETURN_IF_ERROR(Execute(sql, o));
    in_block_ = control == RehearsalTxnControl::kBegin;
    if (in_block_) return BeginView(&block_);
    return absl::OkStatus();
  }

  absl::Status Outside(const StatementFacts& f, const RehearsalKind& kind, Observation* o) {
    if (single_) {
      o->note = fmt::format("not rehearsed: {} cannot run inside the transaction the rehearsal rolls back",
                            kind.why);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(auto before, ReadSnapshot(conn_));
    RETURN_IF_ERROR(Execute(f.statement.sql, o));
    ASSIGN_OR_RETURN(auto after, ReadSnapshot(conn_));
    DiffObservation(before, before, after, {}, {}, /*concurrent=*/true, o);
    o->note = fmt::format("{} runs outside a transaction: its locks cannot be observed", kind.why);
    return absl::OkStatus();
  }

  absl::Status One(StatementFacts* f) {
    Observation* o = &f->observation;
    RehearsalKind kind = ClassifyForRehearsal(f->statement.sql);
    if (kind.control != RehearsalTxnControl::kNone) return Control(*f, kind.control, o);
    if (kind.outside_transaction && !in_block_) return Outside(*f, kind, o);
    bool own = !in_block_ && !single_;
    if (own) RETURN_IF_ERROR(conn_->Exec("BEGIN").status());
    TxnView own_view;
    if (!in_block_) RETURN_IF_ERROR(BeginView(&own_view));
    const TxnView& view = in_block_ ? block_ : own_view;
    CatalogSnapshot before;
    if (in_block_) {
      ASSIGN_OR_RETURN(before, ReadSnapshot(conn_));
    } else {
      before = own_view.visible;
    }
    RETURN_IF_ERROR(Execute(f->statement.sql, o));
    ASSIGN_OR_RETURN(auto after, ReadSnapshot(conn_));
    ASSIGN_OR_RETURN(auto locks, ReadHeldLocks(conn_));
    DiffObservation(view.visible, before, after, view.base_locks, locks, /*concurrent=*/false, o);
    Remember(view.visible, after, *o);
    if (own) RETURN_IF_ERROR(Execute("COMMIT", o));
    return absl::OkStatus();
  }

  // The relations production's sizes are read for.
  void Remember(const CatalogSnapshot& visible, const CatalogSnapshot& after, const Observation& o) {
    for (const auto& l : o.locks) rels_->insert(l.relation);
    for (const auto& r : o.rewrites) rels_->insert(r);
    for (const auto& r : o.dropped) rels_->insert(r);
    for (const auto& [oid, rel] : after.relations) {
      if (!visible.relations.count(oid) && rel.relkind == 'i' && visible.relations.count(rel.table_oid))
        rels_->insert(visible.relations.at(rel.table_oid).name);
    }
  }

  PgConn* conn_;
  bool single_;
  const std::stop_token& stop_;
  PlanFacts* facts_;
  std::set<std::string>* rels_;
  bool in_block_ = false;
  TxnView block_;
};

}  // namespace

absl::Status RunStatements(PgConn* conn, const std::vector<PlannedStatement>& statements,
                           bool single_transaction, const std::stop_token& stop, PlanFacts* facts,
                           std::set<std::string>* relations) {
  return Runner(conn, single_transaction, stop, facts, relations).Run(statements);
}

}  // namespace shadowcopy::workflow
