// Builders of TableModel values for the pure tests of the SQL builders: a
// column kept under its own name and type, and a model over such columns
// (names "<table>", "_<table>_shadow", "_<table>_old"; tuple indexes in
// order; key columns from each column's key_position).
#ifndef SHADOWCOPY_TESTS_UNIT_MODEL_BUILDERS_H_
#define SHADOWCOPY_TESTS_UNIT_MODEL_BUILDERS_H_

#include <string>
#include <utility>
#include <vector>

#include "engine/table/table_model.h"

namespace shadowcopy::engine::test_models {

inline MappedColumn Col(std::string name, std::string type, int key_position = -1) {
  MappedColumn c;
  c.source_name = name;
  c.source_type = type;
  c.target_name = std::move(name);
  c.target_type = std::move(type);
  c.kept = true;
  c.key_position = key_position;
  return c;
}

inline TableModel Model(std::vector<MappedColumn> columns, std::string schema = "public",
                        std::string table = "t") {
  TableModel m;
  m.oid = 16384;
  m.names.schema = std::move(schema);
  m.names.shadow = "_" + table + "_shadow";
  m.names.old_table = "_" + table + "_old";
  m.names.table = std::move(table);
  for (size_t i = 0; i < columns.size(); ++i) {
    columns[i].tuple_index = static_cast<int>(i);
    if (columns[i].key_position >= 0) {
      if (m.key_columns.size() <= static_cast<size_t>(columns[i].key_position))
        m.key_columns.resize(columns[i].key_position + 1);
      m.key_columns[columns[i].key_position] = static_cast<int>(i);
    }
  }
  m.columns = std::move(columns);
  return m;
}

}  // namespace shadowcopy::engine::test_models

#endif  // SHADOWCOPY_TESTS_UNIT_MODEL_BUILDERS_H_
