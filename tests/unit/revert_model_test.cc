#include "engine/rewrite/revert_model.h"

#include <gtest/gtest.h>

#include "engine/table/inspector.h"

namespace shadowcopy::engine {
namespace {

ColumnInfo Col(int attnum, std::string name, std::string type, bool generated = false) {
  ColumnInfo c;
  c.attnum = attnum;
  c.name = std::move(name);
  c.type = std::move(type);
  c.generated = generated;
  return c;
}

ObjectNames Forward() { return NamesFor("public", "orders", 16384, "_old_20261203001700"); }

TEST(RevertModelTest, MapsTheNewTableBackByPosition) {
  // The old table: id int, note text, total (generated), legacy int.
  std::vector<ColumnInfo> old_cols = {Col(1, "id", "integer"), Col(2, "note", "text"),
                                      Col(3, "total", "numeric", true), Col(4, "legacy", "integer")};
  // The ALTER: id TYPE bigint, RENAME note TO remark, DROP legacy, ADD region.
  std::vector<ColumnInfo> new_cols = {Col(1, "id", "bigint"), Col(2, "remark", "text"),
                                      Col(3, "total", "numeric", true), Col(5, "region", "text")};
  auto names = ReverseNames(Forward(), "_new_20261203001700");
  EXPECT_EQ(names.shadow, "_orders_old_20261203001700");
  EXPECT_EQ(names.old_table, "_orders_new_20261203001700");
  EXPECT_EQ(names.slot, "shadowcopy_16384_rev");
  auto m = BuildReverseModel(new_cols, old_cols, {1}, 99, names);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->columns.size(), 3u);  // the generated column is not streamed
  EXPECT_EQ(m->columns[0].target_name, "id");
  EXPECT_EQ(m->columns[0].target_type, "integer");
  EXPECT_TRUE(m->columns[0].type_changed);
  EXPECT_EQ(m->columns[0].key_position, 0);
  EXPECT_EQ(m->columns[1].source_name, "remark");
  EXPECT_EQ(m->columns[1].target_name, "note");
  EXPECT_FALSE(m->columns[1].type_changed);
  EXPECT_FALSE(m->columns[2].kept);  // region: left out on the way back
  EXPECT_EQ(m->columns[2].tuple_index, 2);
  EXPECT_EQ(m->key_columns, std::vector<int>{0});
  EXPECT_EQ(m->oid, 99u);
}

TEST(RevertModelTest, KeyWithoutOldColumnHasNoWayBack) {
  std::vector<ColumnInfo> old_cols = {Col(1, "id", "integer")};
  std::vector<ColumnInfo> new_cols = {Col(2, "uid", "uuid")};
  auto m = BuildReverseModel(new_cols, old_cols, {2}, 1, ReverseNames(Forward(), "_new"));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RevertModelTest, IndexPairsFollowTheForwardSuffix) {
  auto p = ReversePlan(TableModel{}, 7, {"orders_pkey", "orders_region_idx"},
                       {"_orders_pkey_old_20261203001700"}, "_old_20261203001700");
  ASSERT_EQ(p.index_names.size(), 1u);
  EXPECT_EQ(p.index_names[0].first, "orders_pkey");
  EXPECT_EQ(p.index_names[0].second, "_orders_pkey_old_20261203001700");
  EXPECT_EQ(p.shadow_oid, 7u);
}

}  // namespace
}  // namespace shadowcopy::engine
