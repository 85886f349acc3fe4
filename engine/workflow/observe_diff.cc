#include "engine/workflow/observe.h"

#include <algorithm>
#include <set>

#include "engine/workflow/statement_kind.h"

namespace shadowcopy::workflow {
namespace {

// Strongest mode per relation oid.
std::map<uint32_t, std::string> Strongest(const std::vector<HeldLock>& locks) {
  std::map<uint32_t, std::string> out;
  for (const auto& l : locks) {
    auto it = out.find(l.oid);
    if (it == out.end() || LockModeStrength(l.mode) > LockModeStrength(it->second)) out[l.oid] = l.mode;
  }
  return out;
}

void SortUnique(std::vector<std::string>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

bool HasStorage(char relkind) { return relkind == 'r' || relkind == 'm' || relkind == 'i' || relkind == 't'; }

}  // namespace

void DiffObservation(const CatalogSnapshot& visible, const CatalogSnapshot& before,
                     const CatalogSnapshot& after, const std::vector<HeldLock>& base_locks,
                     const std::vector<HeldLock>& after_locks, bool concurrent, Observation* out) {
  auto base = Strongest(base_locks);
  for (const auto& [oid, mode] : Strongest(after_locks)) {
    auto rel = visible.relations.find(oid);
    if (rel == visible.relations.end()) continue;
    auto b = base.find(oid);
    if (b != base.end() && LockModeStrength(b->second) >= LockModeStrength(mode)) continue;
    out->locks.push_back({rel->second.name, mode});
  }
  std::sort(out->locks.begin(), out->locks.end(),
            [](const ObservedLock& a, const ObservedLock& b) { return a.relation < b.relation; });

  // An index ALTER TABLE re-creates (a column's type changed) is dropped and
  // made again under its name: a rebuild when its storage is new, nothing
  // when the old storage was kept (the new index would equal the old one).
  std::map<std::pair<uint32_t, std::string>, uint32_t> recreated;  // (table, name) -> new filenode
  for (const auto& [oid, rel] : after.relations)
    if (rel.relkind == 'i' && !before.relations.count(oid)) recreated[{rel.table_oid, rel.name}] = rel.filenode;
  std::set<std::pair<uint32_t, std::string>> replaced;
  for (const auto& [oid, was] : before.relations) {
    if (!visible.relations.count(oid)) continue;
    auto now = after.relations.find(oid);
    if (now == after.relations.end()) {
      auto again = recreated.find({was.table_oid, was.name});
      if (was.relkind == 'i' && again != recreated.end()) {
        replaced.insert(again->first);
        if (again->second != was.filenode) out->rewrites.push_back(was.name);
      } else {
        out->dropped.push_back(was.name);
      }
    } else if (HasStorage(was.relkind) && was.filenode != 0 && now->second.filenode != was.filenode) {
      out->rewrites.push_back(was.name);
    }
  }
  for (const auto& [oid, rel] : after.relations) {
    if (concurrent || rel.relkind != 'i' || before.relations.count(oid)) continue;
    if (replaced.count({rel.table_oid, rel.name})) continue;
    if (visible.relations.count(rel.table_oid)) out->indexes_built.push_back(rel.name);
  }
  for (const auto& [oid, con] : after.constraints) {
    // CHECK and FOREIGN KEY only: a UNIQUE, PRIMARY KEY or EXCLUDE constraint's
    // scan is its index's build (indexes_built), none with USING INDEX.
    if (before.constraints.count(oid) || !con.validated || (con.type != 'c' && con.type != 'f')) continue;
    auto table = visible.relations.find(con.table_oid);
    if (table == visible.relations.end()) continue;
    out->validated_constraints.push_back(table->second.name + "." + con.name);
  }
  for (const auto& [key, col] : after.columns) {
    auto was = before.columns.find(key);
    if (was == before.columns.end() || was->second.not_null || !col.not_null) continue;
    auto table = visible.relations.find(key.first);
    if (table == visible.relations.end()) continue;
    out->columns_set_not_null.push_back(table->second.name + "." + col.name);
  }
  SortUnique(&out->rewrites);
  SortUnique(&out->dropped);
  SortUnique(&out->indexes_built);
  SortUnique(&out->validated_constraints);
  SortUnique(&out->columns_set_not_null);
}

}  // namespace shadowcopy::workflow
