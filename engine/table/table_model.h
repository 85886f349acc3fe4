// The rewrite's view of the table: the original's columns and key, the
// shadow's columns after the ALTER, and the column mapping between them. Built
// once by the Inspector and the ShadowBuilder, immutable afterwards.
//
// Thread-safety: plain values, immutable after construction.
#ifndef SHADOWCOPY_ENGINE_TABLE_TABLE_MODEL_H_
#define SHADOWCOPY_ENGINE_TABLE_TABLE_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shadowcopy::engine {

struct ColumnInfo {
  int attnum = 0;
  std::string name;
  std::string type;  // format_type(atttypid, atttypmod), e.g. "numeric(12,2)"
  uint32_t type_oid = 0;
  bool not_null = false;
  bool generated = false;  // stored generated column: never written directly
  char identity = 0;       // 'a' always, 'd' by default, 0 none
};

// One column of the original as the copy and the replay see it.
struct MappedColumn {
  std::string source_name;  // name in the original
  std::string source_type;  // type in the original
  // Index of this column in pgoutput tuples (the original's non-dropped,
  // non-generated columns in attnum order).
  int tuple_index = 0;
  bool kept = false;            // false when the ALTER dropped it (or generated)
  std::string target_name;      // name in the shadow (RENAME COLUMN followed)
  std::string target_type;      // type in the shadow
  bool type_changed = false;
  // ALTER COLUMN ... TYPE ... USING: the expression (as written, over this
  // column only) and the name it may qualify the column with (the table's).
  // Empty for a plain cast.
  std::string using_expr;
  std::string using_alias;
  bool target_identity_always = false;  // GENERATED ALWAYS AS IDENTITY in the shadow
  int key_position = -1;        // position in the key, -1 when not a key column
};

// The names of every object the run creates or renames. All fit in 63 bytes.
struct ObjectNames {
  std::string schema;
  std::string table;         // the original's name
  std::string shadow;        // _<table>_shadow
  // _<table>_old_<UTC yyyymmddhhmmss of the run's start>: each run's
  // original gets a name of its own, so an earlier run's old table is never
  // in the way. Runs recorded before this naming used plain "_old".
  std::string old_table;
  std::string old_suffix;    // "_old_20261203001700" (or "_old")
  std::string slot;          // shadowcopy_<oid>
  std::string publication;   // shadowcopy_<oid>
};

struct TableModel {
  uint32_t oid = 0;
  ObjectNames names;
  std::vector<ColumnInfo> source_columns;  // non-dropped, attnum order
  std::vector<MappedColumn> columns;       // one per pgoutput tuple column
  std::vector<int> key_columns;            // indexes into `columns`, key order
  double estimated_rows = 0;
  char replica_identity = 'd';
  std::string owner;
};

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_TABLE_TABLE_MODEL_H_
