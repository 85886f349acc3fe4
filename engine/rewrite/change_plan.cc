#include "engine/rewrite/change_plan.h"

#include <unordered_map>

#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

using cdc::ColumnKind;

// Builds the steps; owns the collapsing state of the current keyed run.
class Planner {
 public:
  Planner(const TableModel& m, bool collapse, PlanStats* stats)
      : m_(m), collapse_(collapse), stats_(stats) {}

  absl::Status Add(const cdc::Change& c);
  std::vector<ApplyStep> Finish() {
    FlushKeyed();
    return std::move(steps_);
  }

 private:
  struct Pending {
    bool deleted = false;
    Row row;  // full row when !deleted
    Row key;
  };

  absl::StatusOr<Row> KeyOf(const cdc::Tuple& t, const cdc::Tuple* fallback) const;
  absl::Status CheckShape(const cdc::Tuple& t) const;
  static std::string KeyString(const Row& key);
  void Upsert(Row key, Row row);
  void Delete(Row key);
  void FlushKeyed();
  absl::Status AddUpdate(const cdc::Change& c);

  const TableModel& m_;
  const bool collapse_;
  PlanStats* stats_;
  std::vector<ApplyStep> steps_;
  std::vector<std::string> order_;                  // keys in first-seen order
  std::unordered_map<std::string, Pending> pending_;
};

absl::Status Planner::CheckShape(const cdc::Tuple& t) const {
  if (t.size() != m_.columns.size())
    return absl::DataLossError(fmt::format("decoded row has {} columns, the table has {}", t.size(),
                                           m_.columns.size()));
  return absl::OkStatus();
}

absl::StatusOr<Row> Planner::KeyOf(const cdc::Tuple& t, const cdc::Tuple* fallback) const {
  Row key;
  for (int idx : m_.key_columns) {
    const auto& v = t[m_.columns[idx].tuple_index];
    if (v.kind == ColumnKind::kText) {
      key.emplace_back(v.value);
    } else if (fallback && (*fallback)[idx].kind == ColumnKind::kText) {
      key.emplace_back((*fallback)[idx].value);
    } else {
      return absl::DataLossError("a decoded row lacks a value for a key column");
    }
  }
  return key;
}

std::string Planner::KeyString(const Row& key) {
  std::string s;
  for (const auto& v : key) {
    s += std::to_string(v ? v->size() : 0);
    s.push_back(':');
    if (v) s += *v;
  }
  return s;
}

Row FullRow(const cdc::Tuple& t) {
  Row row;
  row.reserve(t.size());
  for (const auto& v : t) {
    if (v.kind == ColumnKind::kNull) row.emplace_back(std::nullopt);
    else row.emplace_back(v.value);
  }
  return row;
}

void Planner::Upsert(Row key, Row row) {
  std::string k = KeyString(key);
  auto [it, inserted] = pending_.try_emplace(k);
  if (inserted) order_.push_back(k);
  it->second = Pending{false, std::move(row), std::move(key)};
  if (!collapse_) FlushKeyed();
}

void Planner::Delete(Row key) {
  std::string k = KeyString(key);
  auto [it, inserted] = pending_.try_emplace(k);
  if (inserted) order_.push_back(k);
  it->second = Pending{true, {}, std::move(key)};
  if (!collapse_) FlushKeyed();
}

void Planner::FlushKeyed() {
  if (order_.empty()) return;
  ApplyStep step;
  for (const auto& k : order_) {
    auto& p = pending_[k];
    if (p.deleted) {
      step.keyed.delete_keys.push_back(std::move(p.key));
    } else {
      // The upsert replaces the whole row, but a row moved away from this key
      // earlier in the run must be gone first: deletes run before upserts, and
      // a key is in at most one of the two lists.
      step.keyed.upserts.push_back(std::move(p.row));
    }
  }
  steps_.push_back(std::move(step));
  order_.clear();
  pending_.clear();
}

absl::Status Planner::AddUpdate(const cdc::Change& c) {
  RETURN_IF_ERROR(CheckShape(c.new_tuple));
  const cdc::Tuple* old = c.old_kind ? &c.old_tuple : nullptr;
  if (old) RETURN_IF_ERROR(CheckShape(*old));
  ASSIGN_OR_RETURN(Row new_key, KeyOf(c.new_tuple, old));
  ASSIGN_OR_RETURN(Row old_key, old ? KeyOf(*old, nullptr) : absl::StatusOr<Row>(new_key));
  bool key_changed = new_key != old_key;
  stats_->updates++;
  if (key_changed) stats_->key_updates++;
  Row row = FullRow(c.new_tuple);
  std::vector<int> missing;
  for (size_t i = 0; i < c.new_tuple.size(); ++i)
    if (c.new_tuple[i].kind == ColumnKind::kUnchanged) missing.push_back(static_cast<int>(i));
  if (!missing.empty()) {
    stats_->unchanged_toast++;
    const Row* source = nullptr;
    Row old_row;
    auto it = pending_.find(KeyString(old_key));
    if (it != pending_.end() && !it->second.deleted) source = &it->second.row;
    if (!source && c.old_kind == 'O') {
      old_row = FullRow(*old);
      source = &old_row;
    }
    if (!source) {
      // No full image in this run: apply in place, in order.
      FlushKeyed();
      ApplyStep step;
      step.kind = ApplyStep::Kind::kPartial;
      step.partial.old_key = std::move(old_key);
      step.partial.new_key = std::move(new_key);
      for (size_t i = 0; i < c.new_tuple.size(); ++i)
        if (c.new_tuple[i].kind != ColumnKind::kUnchanged)
          step.partial.sets.emplace_back(static_cast<int>(i), row[i]);
      steps_.push_back(std::move(step));
      return absl::OkStatus();
    }
    for (int i : missing) row[i] = (*source)[i];
  }
  if (key_changed) Delete(std::move(old_key));
  Upsert(std::move(new_key), std::move(row));
  return absl::OkStatus();
}

absl::Status Planner::Add(const cdc::Change& c) {
  switch (c.kind) {
    case cdc::Change::Kind::kInsert: {
      RETURN_IF_ERROR(CheckShape(c.new_tuple));
      ASSIGN_OR_RETURN(Row key, KeyOf(c.new_tuple, nullptr));
      stats_->inserts++;
      Upsert(std::move(key), FullRow(c.new_tuple));
      return absl::OkStatus();
    }
    case cdc::Change::Kind::kUpdate:
      return AddUpdate(c);
    case cdc::Change::Kind::kDelete: {
      RETURN_IF_ERROR(CheckShape(c.old_tuple));
      ASSIGN_OR_RETURN(Row key, KeyOf(c.old_tuple, nullptr));
      stats_->deletes++;
      Delete(std::move(key));
      return absl::OkStatus();
    }
    case cdc::Change::Kind::kTruncate: {
      FlushKeyed();
      stats_->truncates++;
      ApplyStep step;
      step.kind = ApplyStep::Kind::kTruncate;
      steps_.push_back(std::move(step));
      return absl::OkStatus();
    }
    case cdc::Change::Kind::kMessage:
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<ApplyStep>> PlanChanges(const TableModel& model,
                                                   const std::vector<const cdc::Change*>& changes,
                                                   bool collapse, PlanStats* stats) {
  Planner planner(model, collapse, stats);
  for (const auto* c : changes) RETURN_IF_ERROR(planner.Add(*c));
  return planner.Finish();
}

}  // namespace shadowcopy::engine
