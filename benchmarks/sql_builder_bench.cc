// Micro benchmarks of the applier's statement building (engine/table/sql_builder.h)
// and change planning (engine/rewrite/change_plan.h) for 1000-row batches, on a model
// of the benchmark's orders table (id key, customer_id, status, amount, note,
// created_at).
#include <benchmark/benchmark.h>

#include <optional>
#include <string>
#include <vector>

#include "cdc/change_stream.h"
#include "cdc/pgoutput.h"
#include "engine/rewrite/change_plan.h"
#include "engine/table/sql_builder.h"
#include "engine/table/table_model.h"

namespace {

using shadowcopy::cdc::Change;
using shadowcopy::cdc::ColumnKind;
using shadowcopy::cdc::ColumnValue;
using shadowcopy::cdc::Tuple;
using shadowcopy::engine::ApplyStep;
using shadowcopy::engine::MappedColumn;
using shadowcopy::engine::PlanChanges;
using shadowcopy::engine::PlanStats;
using shadowcopy::engine::TableModel;
namespace sql = shadowcopy::engine::sql;

TableModel OrdersModel() {
  TableModel m;
  m.oid = 16385;
  m.names = {"public", "orders", "_orders_shadow", "_orders_old", "shadowcopy_16385",
             "shadowcopy_16385"};
  const char* names[] = {"id", "customer_id", "status", "amount", "note", "created_at"};
  const char* types[] = {"bigint", "bigint", "text", "numeric(12,2)", "text",
                         "timestamp with time zone"};
  for (int i = 0; i < 6; ++i) {
    MappedColumn c;
    c.source_name = c.target_name = names[i];
    c.source_type = c.target_type = types[i];
    c.tuple_index = i;
    c.kept = true;
    m.columns.push_back(c);
  }
  m.columns[0].key_position = 0;
  m.key_columns = {0};
  return m;
}

ColumnValue T(std::string s) { return {ColumnKind::kText, std::move(s)}; }
ColumnValue N() { return {ColumnKind::kNull, ""}; }

Tuple Row(int64_t id) {
  return {T(std::to_string(id)), T(std::to_string(id * 7919 % 200000 + 1)), T("paid"),
          T("1234.56"), id % 4 ? T("order note 0cc175b9c0f1b6a831c399e269772661") : N(),
          T("2024-01-12 13:46:40+00")};
}

// The workload's mix: 60% updates, 20% inserts, 20% deletes over random keys
// (deterministic), some keys repeated so collapsing has work to do.
std::vector<Change> Changes(int n) {
  std::vector<Change> out;
  out.reserve(n);
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int64_t id = static_cast<int64_t>(x % (n * 4)) + 1;
    Change c;
    int kind = static_cast<int>(x >> 40) % 10;
    if (kind < 6) {
      c.kind = Change::Kind::kUpdate;
      c.new_tuple = Row(id);
    } else if (kind < 8) {
      c.kind = Change::Kind::kInsert;
      c.new_tuple = Row(1000000 + i);
    } else {
      c.kind = Change::Kind::kDelete;
      c.old_kind = 'K';
      c.old_tuple = {T(std::to_string(id)), N(), N(), N(), N(), N()};
    }
    out.push_back(std::move(c));
  }
  return out;
}

void BM_TextArrayLiteral(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<std::optional<std::string>> values;
  values.reserve(n);
  for (int i = 0; i < n; ++i) {
    if (i % 4 == 0) values.emplace_back(std::nullopt);
    else values.emplace_back("order note \"quoted\" " + std::to_string(i * 7919));
  }
  std::vector<const std::optional<std::string>*> ptrs;
  for (const auto& v : values) ptrs.push_back(&v);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string lit = sql::TextArrayLiteral(ptrs);
    bytes = lit.size();
    benchmark::DoNotOptimize(lit);
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
}
BENCHMARK(BM_TextArrayLiteral)->Arg(1000);

// All six text[] parameters of one 1000-row upsert (what the applier sends).
void BM_UpsertParams_6Columns(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<std::vector<std::optional<std::string>>> rows;
  for (int i = 0; i < n; ++i) {
    std::vector<std::optional<std::string>> r;
    for (const auto& v : Row(i + 1)) {
      if (v.kind == ColumnKind::kNull) r.emplace_back(std::nullopt);
      else r.emplace_back(v.value);
    }
    rows.push_back(std::move(r));
  }
  for (auto _ : state) {
    for (int c = 0; c < 6; ++c) {
      std::vector<const std::optional<std::string>*> col;
      col.reserve(n);
      for (const auto& r : rows) col.push_back(&r[c]);
      std::string lit = sql::TextArrayLiteral(col);
      benchmark::DoNotOptimize(lit);
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_UpsertParams_6Columns)->Arg(1000);

void BM_UpsertSql(benchmark::State& state) {
  TableModel m = OrdersModel();
  for (auto _ : state) {
    std::string s = sql::UpsertSql(m);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_UpsertSql);

void BM_PlanChanges(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const bool collapse = state.range(1) != 0;
  TableModel m = OrdersModel();
  std::vector<Change> changes = Changes(n);
  std::vector<const Change*> ptrs;
  for (const auto& c : changes) ptrs.push_back(&c);
  for (auto _ : state) {
    PlanStats stats;
    auto steps = PlanChanges(m, ptrs, collapse, &stats);
    if (!steps.ok()) {
      state.SkipWithError("PlanChanges failed");
      break;
    }
    benchmark::DoNotOptimize(steps);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_PlanChanges)->Args({1000, 1})->Args({1000, 0});

}  // namespace
