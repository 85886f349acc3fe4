#include "engine/rewrite/revert_model.h"

#include <algorithm>

#include "engine/table/inspector.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {

std::string ReverseSlotName(const ObjectNames& forward) { return forward.slot + "_rev"; }

ObjectNames ReverseNames(const ObjectNames& forward, const std::string& retired_suffix) {
  ObjectNames n;
  n.schema = forward.schema;
  n.table = forward.table;
  n.shadow = forward.old_table;
  n.old_suffix = retired_suffix;
  n.old_table = sql::AffixedName("_", forward.table, retired_suffix);
  n.slot = ReverseSlotName(forward);
  n.publication = n.slot;
  return n;
}

absl::StatusOr<TableModel> BuildReverseModel(const std::vector<ColumnInfo>& new_columns,
                                             const std::vector<ColumnInfo>& old_columns,
                                             const std::vector<int>& key_attnums, uint32_t new_oid,
                                             const ObjectNames& names) {
  TableModel m;
  m.oid = new_oid;
  m.names = names;
  m.source_columns = new_columns;
  int tuple = 0;
  for (const auto& nc : new_columns) {
    if (nc.generated) continue;
    MappedColumn c;
    c.source_name = nc.name;
    c.source_type = nc.type;
    c.tuple_index = tuple++;
    if (nc.attnum >= 1 && nc.attnum <= static_cast<int>(old_columns.size())) {
      const ColumnInfo& oc = old_columns[nc.attnum - 1];
      if (!oc.generated) {
        c.kept = true;
        c.target_name = oc.name;
        c.target_type = oc.type;
        c.type_changed = oc.type != nc.type;
        c.target_identity_always = oc.identity == 'a';
      }
    }
    for (size_t k = 0; k < key_attnums.size(); ++k)
      if (key_attnums[k] == nc.attnum) c.key_position = static_cast<int>(k);
    m.columns.push_back(std::move(c));
  }
  for (size_t k = 0; k < key_attnums.size(); ++k) {
    int found = -1;
    for (size_t i = 0; i < m.columns.size(); ++i)
      if (m.columns[i].key_position == static_cast<int>(k)) found = static_cast<int>(i);
    if (found < 0 || !m.columns[found].kept)
      return absl::FailedPreconditionError(fmt::format(
          "no way back: key column {} of {} has no column in the old table",
          found < 0 ? std::to_string(key_attnums[k]) : m.columns[found].source_name, names.table));
    m.key_columns.push_back(found);
  }
  if (m.key_columns.empty())
    return absl::FailedPreconditionError(fmt::format("no way back: {} has no primary key", names.table));
  return m;
}

ShadowPlan ReversePlan(TableModel reverse_model, uint32_t old_oid, const std::vector<std::string>& new_indexes,
                       const std::vector<std::string>& old_indexes, const std::string& forward_suffix) {
  ShadowPlan p;
  p.model = std::move(reverse_model);
  p.shadow_oid = old_oid;
  for (const auto& name : new_indexes) {
    std::string old_name = OldObjectName(name, forward_suffix);
    if (std::find(old_indexes.begin(), old_indexes.end(), old_name) != old_indexes.end())
      p.index_names.emplace_back(name, old_name);
  }
  return p;
}

}  // namespace shadowcopy::engine
