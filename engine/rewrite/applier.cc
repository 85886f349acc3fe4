#include "engine/rewrite/applier.h"

#include <chrono>
#include <functional>
#include <thread>

#include "common/log.h"
#include "common/quote.h"
#include "common/status.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

constexpr size_t kRowsPerStatement = 1000;
// A group is split over the connections from this many keyed rows on.
constexpr size_t kParallelMinRows = kRowsPerStatement / 2;

size_t KeyedRows(const std::vector<ApplyStep>& steps) {
  size_t n = 0;
  for (const auto& s : steps) n += s.keyed.delete_keys.size() + s.keyed.upserts.size();
  return n;
}

// The partition of a key: a hash of its text values.
size_t Partition(const TableModel& m, const Row& row, bool full_row, size_t parts) {
  size_t h = 0;
  for (size_t k = 0; k < m.key_columns.size(); ++k) {
    const Value& v = full_row ? row[m.columns[m.key_columns[k]].tuple_index] : row[k];
    h = h * 1000003u ^ (v ? std::hash<std::string>{}(*v) : 0x9e3779b9u);
  }
  return h % parts;
}

}  // namespace

Applier::Applier(PgConn* conn, const TableModel* model, VisibilityTracker* visibility,
                 const std::atomic<bool>* stop)
    : conn_(conn), model_(model), visibility_(visibility), stop_(stop), parallel_min_rows_(kParallelMinRows) {}

absl::Status Applier::Apply(const std::vector<cdc::Transaction>& txns,
                            std::vector<std::string>* messages) {
  std::vector<const cdc::Change*> changes;
  std::vector<uint32_t> xids;
  std::vector<std::string> found;
  for (const auto& t : txns) {
    xids.push_back(t.xid);
    for (const auto& c : t.changes) {
      if (c.kind == cdc::Change::Kind::kMessage) found.push_back(c.message);
      else changes.push_back(&c);
    }
  }
  PlanStats before = stats_.plan;
  Lsn end_lsn = txns.empty() ? 0 : txns.back().end_lsn;
  absl::Status st = ApplyOnce(changes, xids, /*collapse=*/true, end_lsn);
  if (!st.ok() && SqlStateOf(st) == "23505") {
    // Possibly an artefact of collapsing: replay event by event, in order.
    stats_.plan = before;
    stats_.event_by_event_retries++;
    st = ApplyOnce(changes, xids, /*collapse=*/false, end_lsn);
    if (!st.ok() && SqlStateOf(st) == "23505")
      return absl::FailedPreconditionError(fmt::format(
          "the replayed changes violate a unique constraint of the new table: {}", st.message()));
  }
  RETURN_IF_ERROR(st);
  for (uint32_t x : xids) visibility_->AddApplied(x);
  stats_.transactions += txns.size();
  stats_.changes += changes.size();
  messages->insert(messages->end(), found.begin(), found.end());
  return absl::OkStatus();
}

// A group that re-reads rows from the original runs in REPEATABLE READ under a
// snapshot that sees every transaction applied so far, this group's included
// (the visibility rule): a re-read must not return a row older than the change
// it completes.
absl::Status Applier::BeginForRereads(const std::vector<uint32_t>& xids) {
  for (uint32_t x : xids) visibility_->AddApplied(x);
  for (;;) {
    RETURN_IF_ERROR(conn_->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ").status());
    ASSIGN_OR_RETURN(auto r, conn_->Exec("SELECT pg_current_snapshot()::text"));
    ASSIGN_OR_RETURN(auto snap, ParseSnapshot(r.Get(0, 0)));
    if (visibility_->CheckAndClear(snap)) return absl::OkStatus();
    conn_->RollbackQuietly();
    if (*stop_) return absl::CancelledError("stopped");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

absl::Status Applier::ApplyOnce(const std::vector<const cdc::Change*>& changes,
                                const std::vector<uint32_t>& xids, bool collapse, Lsn end_lsn) {
  ASSIGN_OR_RETURN(auto steps, PlanChanges(*model_, changes, collapse, &stats_.plan));
  current_horizon_ = horizon_ ? horizon_() : CopyHorizon{};
  bool rereads = false, keyed_only = true;
  for (const auto& s : steps) {
    rereads |= s.kind == ApplyStep::Kind::kPartial;
    keyed_only &= s.kind == ApplyStep::Kind::kKeyed;
  }
  if (collapse && keyed_only && parallel_allowed_ && !extra_.empty() && KeyedRows(steps) >= parallel_min_rows_) {
    bool committed_any = false;
    absl::Status st = ApplyParallel(steps, end_lsn, &committed_any);
    if (st.ok() || committed_any || *stop_) return st;
    // Nothing committed: the group goes again on one connection. Keys that
    // differ as text but are equal to an index (a nondeterministic collation,
    // numeric scale) can land on two connections and wait on each other.
    stats_.parallel_fallbacks++;
    Log(LogLevel::kInfo, "a replay group split over {} connections failed ({}); applying it on one connection",
        extra_.size() + 1, st.message());
    PlanStats counted_already;
    ASSIGN_OR_RETURN(steps, PlanChanges(*model_, changes, collapse, &counted_already));
  }
  auto run = [&]() -> absl::Status {
    PgPipeline pipe(conn_);
    if (rereads) RETURN_IF_ERROR(BeginForRereads(xids));
    else RETURN_IF_ERROR(pipe.Send("BEGIN"));
    for (const auto& s : steps) {
      switch (s.kind) {
        case ApplyStep::Kind::kKeyed: RETURN_IF_ERROR(SendKeyed(&pipe, s.keyed)); break;
        case ApplyStep::Kind::kPartial:
          // Needs the results of what was sent before it.
          RETURN_IF_ERROR(pipe.Finish());
          RETURN_IF_ERROR(RunPartial(s.partial));
          break;
        case ApplyStep::Kind::kTruncate:
          RETURN_IF_ERROR(pipe.Send(fmt::format("TRUNCATE ONLY {}",
                                                QualifiedName(model_->names.schema, model_->names.shadow))));
          break;
      }
    }
    RETURN_IF_ERROR(pipe.Finish());
    if (checkpoint_) RETURN_IF_ERROR(checkpoint_(conn_, end_lsn));
    return conn_->Exec("COMMIT").status();
  };
  absl::Status st = run();
  if (!st.ok()) conn_->RollbackQuietly();
  return st;
}

absl::Status Applier::ApplyParallel(std::vector<ApplyStep>& steps, Lsn end_lsn, bool* committed_any) {
  const auto& m = *model_;
  std::vector<PgConn*> conns = {conn_};
  conns.insert(conns.end(), extra_.begin(), extra_.end());
  const size_t n = conns.size();
  std::vector<std::vector<KeyedSet>> parts(n);
  for (auto& s : steps) {
    std::vector<KeyedSet> split(n);
    for (auto& k : s.keyed.delete_keys) split[Partition(m, k, false, n)].delete_keys.push_back(std::move(k));
    for (auto& r : s.keyed.upserts) split[Partition(m, r, true, n)].upserts.push_back(std::move(r));
    for (size_t i = 0; i < n; ++i)
      if (!split[i].empty()) parts[i].push_back(std::move(split[i]));
  }
  std::vector<absl::Status> results(n);
  std::vector<char> begun(n, 0);  // one writer per element: not vector<bool>
  auto work = [&](size_t i) {
    results[i] = [&]() -> absl::Status {
      PgPipeline pipe(conns[i]);
      RETURN_IF_ERROR(pipe.Send("BEGIN"));
      begun[i] = 1;
      for (const auto& set : parts[i]) RETURN_IF_ERROR(SendKeyed(&pipe, set));
      return pipe.Finish();
    }();
  };
  {
    std::vector<std::thread> threads;
    for (size_t i = 1; i < n; ++i) threads.emplace_back(work, i);
    work(0);
    for (auto& t : threads) t.join();
  }
  auto rollback_all = [&] {
    for (size_t i = 0; i < n; ++i)
      if (begun[i]) conns[i]->RollbackQuietly();
  };
  for (const auto& st : results) {
    if (!st.ok()) {
      rollback_all();
      return st;
    }
  }
  // The extra connections first; the main one last, with the checkpoint.
  for (size_t i = 1; i < n; ++i) {
    absl::Status st = conns[i]->Exec("COMMIT").status();
    begun[i] = 0;
    if (st.ok()) *committed_any = true;
    if (!st.ok()) {
      rollback_all();
      return Annotate(st, "committing part of a replay group");
    }
  }
  absl::Status st = checkpoint_ ? checkpoint_(conn_, end_lsn) : absl::OkStatus();
  if (st.ok()) st = conn_->Exec("COMMIT").status();
  if (!st.ok()) {
    conn_->RollbackQuietly();
    return st;
  }
  stats_.parallel_groups++;
  return absl::OkStatus();
}

absl::Status Applier::RunKeyed(PgConn* conn, const KeyedSet& set) {
  PgPipeline pipe(conn);
  RETURN_IF_ERROR(SendKeyed(&pipe, set));
  return pipe.Finish();
}

absl::Status Applier::SendKeyed(PgPipeline* pipe, const KeyedSet& set) {
  const auto& m = *model_;
  for (size_t start = 0; start < set.delete_keys.size(); start += kRowsPerStatement) {
    size_t end = std::min(set.delete_keys.size(), start + kRowsPerStatement);
    PgParams params;
    for (size_t k = 0; k < m.key_columns.size(); ++k) {
      std::vector<const Value*> values;
      for (size_t i = start; i < end; ++i) values.push_back(&set.delete_keys[i][k]);
      params.push_back(sql::TextArrayLiteral(values));
    }
    RETURN_IF_ERROR(pipe->Send(sql::DeleteSql(m), params));
  }
  const auto& h = current_horizon_;
  // Nothing copied yet: every upsert is ahead of the copy.
  if (h.active && !h.high_water) return absl::OkStatus();
  for (size_t start = 0; start < set.upserts.size(); start += kRowsPerStatement) {
    size_t end = std::min(set.upserts.size(), start + kRowsPerStatement);
    PgParams params;
    for (const auto& c : m.columns) {
      if (!c.kept) continue;
      std::vector<const Value*> values;
      for (size_t i = start; i < end; ++i) values.push_back(&set.upserts[i][c.tuple_index]);
      params.push_back(sql::TextArrayLiteral(values));
    }
    if (h.active) params.insert(params.end(), h.high_water->begin(), h.high_water->end());
    RETURN_IF_ERROR(pipe->Send(sql::UpsertSql(m, h.active), params));
  }
  return absl::OkStatus();
}

// An update whose unchanged TOASTed values were not sent and whose full row is
// not in the group. Every column but an unchanged TOASTed one is sent, so
// applying the sent columns onto any row image of the key that is at least as
// old converges; later changes are replayed after this one anyway.
//  - key unchanged: update the sent columns in place;
//  - key changed: if the copy already wrote the new key (it read the original
//    after this change committed), update that row and delete the old key;
//    otherwise move the old row to the new key.
// If neither row is in the shadow, re-read the row from the original by its
// new key (the copy may not have reached it, or a key update moved it behind
// the copy); the snapshot rule above makes that read current.
absl::Status Applier::RunPartial(const PartialUpdate& p) {
  const auto& m = *model_;
  std::vector<int> set_columns;
  PgParams sets;
  for (const auto& [tuple_index, value] : p.sets) {
    for (size_t i = 0; i < m.columns.size(); ++i) {
      if (m.columns[i].tuple_index != tuple_index || !m.columns[i].kept) continue;
      set_columns.push_back(static_cast<int>(i));
      sets.push_back(value);
    }
  }
  auto update_where = [&](const Row& key) -> absl::StatusOr<int64_t> {
    if (set_columns.empty()) return 0;
    PgParams params = sets;
    params.insert(params.end(), key.begin(), key.end());
    ASSIGN_OR_RETURN(auto r, conn_->Query(sql::PartialUpdateSql(m, set_columns), params));
    return r.Affected();
  };
  const bool key_changed = p.old_key != p.new_key;
  ASSIGN_OR_RETURN(int64_t affected, update_where(key_changed ? p.new_key : p.old_key));
  if (affected > 0 && key_changed) {
    std::vector<Row> old_keys{p.old_key};
    KeyedSet del;
    del.delete_keys = std::move(old_keys);
    return RunKeyed(conn_, del);
  }
  const auto& h = current_horizon_;
  if (affected == 0 && key_changed) {
    // Moving the old row to a key the copy has not reached would leave a row
    // above the high-water mark: later changes to that key are skipped (the
    // copy reads them) and the copy keeps the row it finds there, stale.
    // Drop the old key instead; the copy reads the new key's current row.
    if (h.active) {
      bool above = !h.high_water.has_value();
      if (!above) {
        PgParams keys(p.new_key.begin(), p.new_key.end());
        keys.insert(keys.end(), h.high_water->begin(), h.high_water->end());
        ASSIGN_OR_RETURN(auto r, conn_->Query(sql::KeyAtOrBelowSql(m), keys));
        above = !r.GetBool(0, 0);
      }
      if (above) {
        KeyedSet del;
        del.delete_keys.push_back(p.old_key);
        return RunKeyed(conn_, del);
      }
    }
    ASSIGN_OR_RETURN(affected, update_where(p.old_key));
  }
  if (affected > 0) return absl::OkStatus();
  if (h.active && !h.high_water) return absl::OkStatus();  // the copy will read it
  stats_.rereads++;
  PgParams key(p.new_key.begin(), p.new_key.end());
  if (h.active) key.insert(key.end(), h.high_water->begin(), h.high_water->end());
  return conn_->Query(sql::RereadSql(m, h.active), key).status();
}

}  // namespace shadowcopy::engine
