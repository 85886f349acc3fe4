// Tests of the schema fingerprint's pure half (engine/rewrite/schema_fingerprint.h):
// the state table's flat form and the description of what changed.
#include "engine/rewrite/schema_fingerprint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace shadowcopy::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

SchemaFingerprint Orders() {
  SchemaFingerprint fp{
      {"table", "", "owner: app\npersistence: p\n"},
      {"column", "id", "position: 1\ntype: integer\nnot null: t\ndefault: nextval('public.orders_id_seq'::regclass)\n"},
      {"column", "status", "position: 2\ntype: text\nnot null: f\n"},
      {"index", "orders_pkey", "definition: CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)\n"},
      {"constraint", "orders_pkey", "definition: PRIMARY KEY (id)\nvalidated: t\n"},
  };
  SortFingerprint(&fp);
  return fp;
}

TEST(SchemaFingerprintTest, SameDefinitionNoDrift) {
  SchemaFingerprint shuffled = Orders();
  std::reverse(shuffled.begin(), shuffled.end());
  EXPECT_THAT(DescribeDrift(Orders(), shuffled), IsEmpty());
}

TEST(SchemaFingerprintTest, FlatRoundTrip) {
  auto flat = FingerprintToFlat(Orders());
  ASSERT_EQ(flat.size(), 15u);
  auto back = FingerprintFromFlat(flat);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, Orders());
  flat.pop_back();
  EXPECT_FALSE(FingerprintFromFlat(flat).ok());
}

TEST(SchemaFingerprintTest, AddedIndexIsNamed) {
  auto now = Orders();
  now.push_back({"index", "orders_note_idx", "definition: CREATE INDEX orders_note_idx ON public.orders (note)\n"});
  EXPECT_THAT(DescribeDrift(Orders(), now), ElementsAre("index orders_note_idx added"));
}

TEST(SchemaFingerprintTest, UniqueConstraintNamesItsIndexOnce) {
  auto now = Orders();
  now.push_back({"index", "orders_status_key", "definition: CREATE UNIQUE INDEX ...\n"});
  now.push_back({"constraint", "orders_status_key", "definition: UNIQUE (status)\nvalidated: t\n"});
  EXPECT_THAT(DescribeDrift(Orders(), now), ElementsAre("constraint orders_status_key added"));
}

TEST(SchemaFingerprintTest, ChangedFieldsAreListed) {
  auto now = Orders();
  for (auto& o : now)
    if (o.kind == "column" && o.name == "status")
      o.definition = "position: 2\ntype: text\nnot null: t\ndefault: 'new'::text\n";
  EXPECT_THAT(DescribeDrift(Orders(), now), ElementsAre("column status changed (default, not null)"));
}

TEST(SchemaFingerprintTest, DroppedAndTableLevelChanges) {
  auto now = Orders();
  now.erase(std::remove_if(now.begin(), now.end(), [](const auto& o) { return o.kind == "constraint"; }),
            now.end());
  for (auto& o : now)
    if (o.kind == "table") o.definition += "options: fillfactor=70\n";
  SortFingerprint(&now);
  EXPECT_THAT(DescribeDrift(Orders(), now),
              ElementsAre("constraint orders_pkey dropped", "table changed (options)"));
}

TEST(SchemaFingerprintTest, ErrorIsOneLineNamingAFewChanges) {
  std::vector<std::string> changes;
  for (int i = 0; i < 8; ++i) changes.push_back("index i" + std::to_string(i) + " added");
  absl::Status st = DriftError("\"public\".\"orders\"", changes);
  EXPECT_THAT(std::string(st.message()), HasSubstr("table \"public\".\"orders\" was altered during the run ("));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr("(index i0 added, index i1 added"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("index i4 added and 3 more)"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("nothing was swapped"));
  EXPECT_EQ(std::string(st.message()).find('\n'), std::string::npos);
}

}  // namespace
}  // namespace shadowcopy::engine
