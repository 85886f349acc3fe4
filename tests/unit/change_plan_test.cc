// Tests of PlanChanges (engine/rewrite/change_plan.h): collapsing of decoded changes
// into keyed steps, primary-key updates, unchanged-TOAST merging and partial
// steps, truncates, and a randomized convergence check against a naive replay.
#include "engine/rewrite/change_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "cdc/change_stream.h"
#include "cdc/pgoutput.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine {
namespace {

using cdc::Change;
using cdc::ColumnKind;
using cdc::ColumnValue;
using cdc::Tuple;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

ColumnValue T(std::string s) { return {ColumnKind::kText, std::move(s)}; }
ColumnValue N() { return {ColumnKind::kNull, ""}; }
ColumnValue U() { return {ColumnKind::kUnchanged, ""}; }

TableModel MakeModel(const std::vector<std::string>& names, const std::vector<int>& key) {
  TableModel m;
  m.names = {"public", "t", "_t_shadow", "_t_old", "shadowcopy_1", "shadowcopy_1"};
  for (size_t i = 0; i < names.size(); ++i) {
    MappedColumn c;
    c.source_name = c.target_name = names[i];
    c.source_type = c.target_type = "text";
    c.tuple_index = static_cast<int>(i);
    c.kept = true;
    m.columns.push_back(c);
  }
  for (size_t k = 0; k < key.size(); ++k) m.columns[key[k]].key_position = static_cast<int>(k);
  m.key_columns = key;
  return m;
}

// id (key), v, doc (the TOASTed one).
TableModel Single() { return MakeModel({"id", "v", "doc"}, {0}); }
// (a, b) key declared as b, a; then v.
TableModel Composite() { return MakeModel({"a", "b", "v"}, {1, 0}); }

Change Insert(Tuple t) {
  Change c;
  c.kind = Change::Kind::kInsert;
  c.new_tuple = std::move(t);
  return c;
}
Change Update(Tuple t, char old_kind = 0, Tuple old = {}) {
  Change c;
  c.kind = Change::Kind::kUpdate;
  c.new_tuple = std::move(t);
  c.old_kind = old_kind;
  c.old_tuple = std::move(old);
  return c;
}
Change Delete(Tuple old, char old_kind = 'K') {
  Change c;
  c.kind = Change::Kind::kDelete;
  c.old_kind = old_kind;
  c.old_tuple = std::move(old);
  return c;
}
Change Truncate() {
  Change c;
  c.kind = Change::Kind::kTruncate;
  return c;
}
Change Message(std::string text) {
  Change c;
  c.kind = Change::Kind::kMessage;
  c.message = std::move(text);
  return c;
}

// Key tuple of the single-key model: only the key sent, the rest null.
Tuple K(std::string id) { return {T(std::move(id)), N(), N()}; }

Row R(std::initializer_list<const char*> values) {
  Row r;
  for (const char* v : values) r.push_back(v ? Value(v) : std::nullopt);
  return r;
}

absl::StatusOr<std::vector<ApplyStep>> Plan(const TableModel& m, const std::vector<Change>& changes,
                                            bool collapse = true, PlanStats* stats = nullptr) {
  PlanStats local;
  std::vector<const Change*> ptrs;
  for (const auto& c : changes) ptrs.push_back(&c);
  return PlanChanges(m, ptrs, collapse, stats ? stats : &local);
}

Row KeyOfRow(const TableModel& m, const Row& row) {
  Row key;
  for (int idx : m.key_columns) key.push_back(row[m.columns[idx].tuple_index]);
  return key;
}

// In every keyed step a key appears at most once across deletes and upserts.
void ExpectKeysUniquePerStep(const TableModel& m, const std::vector<ApplyStep>& steps) {
  for (size_t s = 0; s < steps.size(); ++s) {
    if (steps[s].kind != ApplyStep::Kind::kKeyed) continue;
    std::set<Row> seen;
    for (const auto& k : steps[s].keyed.delete_keys)
      EXPECT_TRUE(seen.insert(k).second) << "step " << s << ": key deleted twice";
    for (const auto& r : steps[s].keyed.upserts)
      EXPECT_TRUE(seen.insert(KeyOfRow(m, r)).second) << "step " << s << ": key in two operations";
  }
}

// ---- collapsing ----

TEST(ChangePlanTest, EmptyInputPlansNothing) {
  auto steps = Plan(Single(), {});
  ASSERT_TRUE(steps.ok());
  EXPECT_THAT(*steps, IsEmpty());
}

TEST(ChangePlanTest, InsertThenDeleteCollapsesToDelete) {
  auto steps = Plan(Single(), {Insert({T("1"), T("a"), T("x")}), Delete(K("1"))});
  ASSERT_TRUE(steps.ok()) << steps.status();
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].kind, ApplyStep::Kind::kKeyed);
  EXPECT_THAT((*steps)[0].keyed.delete_keys, ElementsAre(R({"1"})));
  EXPECT_THAT((*steps)[0].keyed.upserts, IsEmpty());
}

TEST(ChangePlanTest, InsertThenUpdateIsOneUpsertOfUpdatedRow) {
  auto steps = Plan(Single(), {Insert({T("1"), T("a"), T("x")}), Update({T("1"), T("b"), N()})});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.delete_keys, IsEmpty());
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"1", "b", nullptr})));
}

TEST(ChangePlanTest, DeleteThenReinsertEndsAsUpsertOnly) {
  auto steps = Plan(Single(), {Delete(K("1")), Insert({T("1"), T("new"), T("y")})});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.delete_keys, IsEmpty());
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"1", "new", "y"})));
}

TEST(ChangePlanTest, DistinctKeysKeepFirstSeenOrder) {
  auto steps = Plan(Single(), {Insert({T("3"), T("a"), N()}), Insert({T("1"), T("b"), N()}),
                               Update({T("3"), T("c"), N()}), Delete(K("2"))});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"3", "c", nullptr}), R({"1", "b", nullptr})));
  EXPECT_THAT((*steps)[0].keyed.delete_keys, ElementsAre(R({"2"})));
}

// ---- primary-key updates ----

TEST(ChangePlanTest, KeyUpdateDeletesOldKeyAndUpsertsNewKey) {
  PlanStats stats;
  auto steps = Plan(Single(), {Update({T("2"), T("a"), T("x")}, 'K', K("1"))}, true, &stats);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.delete_keys, ElementsAre(R({"1"})));
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"2", "a", "x"})));
  EXPECT_EQ(stats.updates, 1u);
  EXPECT_EQ(stats.key_updates, 1u);
}

TEST(ChangePlanTest, OldKeyTupleWithSameKeyIsPlainUpdate) {
  PlanStats stats;
  auto steps = Plan(Single(), {Update({T("1"), T("a"), T("x")}, 'K', K("1"))}, true, &stats);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.delete_keys, IsEmpty());
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"1", "a", "x"})));
  EXPECT_EQ(stats.key_updates, 0u);
}

TEST(ChangePlanTest, KeyUpdateChainDeletesEveryIntermediateKey) {
  TableModel m = Single();
  auto steps = Plan(m, {Update({T("b"), T("1"), T("x")}, 'K', K("a")),
                        Update({T("c"), T("2"), T("x")}, 'K', K("b"))});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.delete_keys, ElementsAre(R({"a"}), R({"b"})));
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"c", "2", "x"})));
  ExpectKeysUniquePerStep(m, *steps);
}

TEST(ChangePlanTest, KeyUpdateBackToStartLeavesUpsertOfStartKey) {
  TableModel m = Single();
  auto steps = Plan(m, {Update({T("b"), T("1"), T("x")}, 'K', K("a")),
                        Update({T("a"), T("2"), T("x")}, 'K', K("b"))});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.delete_keys, ElementsAre(R({"b"})));
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"a", "2", "x"})));
  ExpectKeysUniquePerStep(m, *steps);
}

TEST(ChangePlanTest, KeyMovedAwayThenReinsertedIsUpsertOnly) {
  TableModel m = Single();
  auto steps = Plan(m, {Update({T("b"), T("1"), T("x")}, 'K', K("a")),
                        Insert({T("a"), T("fresh"), T("y")})});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.delete_keys, IsEmpty());
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"a", "fresh", "y"}), R({"b", "1", "x"})));
  ExpectKeysUniquePerStep(m, *steps);
}

// ---- unchanged TOAST ('u') ----

TEST(ChangePlanTest, UnchangedToastAfterInsertMergesEarlierValue) {
  PlanStats stats;
  auto steps = Plan(Single(), {Insert({T("1"), T("a"), T("BIG")}), Update({T("1"), T("b"), U()})},
                    true, &stats);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].kind, ApplyStep::Kind::kKeyed);
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"1", "b", "BIG"})));
  EXPECT_EQ(stats.unchanged_toast, 1u);
}

TEST(ChangePlanTest, UnchangedToastAfterEarlierUpdateMergesItsValue) {
  auto steps = Plan(Single(), {Update({T("1"), T("a"), T("BIG2")}), Update({T("1"), T("b"), U()}),
                               Update({T("1"), T("c"), U()})});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"1", "c", "BIG2"})));
}

TEST(ChangePlanTest, UnchangedToastKeyUpdateMergesFromOldKeyImage) {
  TableModel m = Single();
  auto steps = Plan(m, {Insert({T("1"), T("a"), T("BIG")}), Update({T("2"), T("b"), U()}, 'K', K("1"))});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.delete_keys, ElementsAre(R({"1"})));
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"2", "b", "BIG"})));
  ExpectKeysUniquePerStep(m, *steps);
}

TEST(ChangePlanTest, UnchangedToastWithoutImageIsPartialStepInOrder) {
  PlanStats stats;
  auto steps = Plan(Single(), {Insert({T("5"), T("a"), T("x")}), Update({T("1"), T("b"), U()}),
                               Insert({T("6"), T("c"), T("y")})},
                    true, &stats);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 3u);
  EXPECT_EQ((*steps)[0].kind, ApplyStep::Kind::kKeyed);
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"5", "a", "x"})));
  ASSERT_EQ((*steps)[1].kind, ApplyStep::Kind::kPartial);
  const PartialUpdate& p = (*steps)[1].partial;
  EXPECT_EQ(p.old_key, R({"1"}));
  EXPECT_EQ(p.new_key, R({"1"}));
  EXPECT_THAT(p.sets, ElementsAre(Pair(0, Value("1")), Pair(1, Value("b"))));
  EXPECT_EQ((*steps)[2].kind, ApplyStep::Kind::kKeyed);
  EXPECT_THAT((*steps)[2].keyed.upserts, ElementsAre(R({"6", "c", "y"})));
  EXPECT_EQ(stats.unchanged_toast, 1u);
}

TEST(ChangePlanTest, PartialStepCarriesSentNull) {
  TableModel m = MakeModel({"id", "v", "doc", "w"}, {0});
  auto steps = Plan(m, {Update({T("1"), N(), U(), T("z")})});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  ASSERT_EQ((*steps)[0].kind, ApplyStep::Kind::kPartial);
  EXPECT_THAT((*steps)[0].partial.sets,
              ElementsAre(Pair(0, Value("1")), Pair(1, std::nullopt), Pair(3, Value("z"))));
}

TEST(ChangePlanTest, UnchangedToastKeyUpdateWithoutImageIsPartialWithBothKeys) {
  auto steps = Plan(Single(), {Update({T("2"), T("b"), U()}, 'K', K("1"))});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  ASSERT_EQ((*steps)[0].kind, ApplyStep::Kind::kPartial);
  EXPECT_EQ((*steps)[0].partial.old_key, R({"1"}));
  EXPECT_EQ((*steps)[0].partial.new_key, R({"2"}));
}

TEST(ChangePlanTest, ReplicaIdentityFullMergesFromOldTuple) {
  auto steps =
      Plan(Single(), {Update({T("1"), T("b"), U()}, 'O', {T("1"), T("a"), T("BIG")})});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].kind, ApplyStep::Kind::kKeyed);
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"1", "b", "BIG"})));
}

TEST(ChangePlanTest, ReplicaIdentityFullOldNullStaysNull) {
  auto steps = Plan(Single(), {Update({T("1"), T("b"), U()}, 'O', {T("1"), T("a"), N()})});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"1", "b", nullptr})));
}

// ---- truncate, messages, no collapse ----

TEST(ChangePlanTest, TruncateSplitsSteps) {
  PlanStats stats;
  auto steps = Plan(Single(), {Insert({T("1"), T("a"), N()}), Truncate(), Insert({T("1"), T("b"), N()})},
                    true, &stats);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 3u);
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"1", "a", nullptr})));
  EXPECT_EQ((*steps)[1].kind, ApplyStep::Kind::kTruncate);
  EXPECT_THAT((*steps)[2].keyed.upserts, ElementsAre(R({"1", "b", nullptr})));
  EXPECT_EQ(stats.truncates, 1u);
}

TEST(ChangePlanTest, LeadingTruncateHasNoEmptyKeyedStep) {
  auto steps = Plan(Single(), {Truncate(), Truncate()});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 2u);
  EXPECT_EQ((*steps)[0].kind, ApplyStep::Kind::kTruncate);
  EXPECT_EQ((*steps)[1].kind, ApplyStep::Kind::kTruncate);
}

TEST(ChangePlanTest, MessagesAreIgnored) {
  PlanStats stats;
  auto steps = Plan(Single(), {Insert({T("1"), T("a"), N()}), Message("fence 7"), Insert({T("2"), T("b"), N()})},
                    true, &stats);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].keyed.upserts.size(), 2u);
  EXPECT_EQ(stats.inserts, 2u);
  EXPECT_THAT(*Plan(Single(), {Message("only")}), IsEmpty());
}

TEST(ChangePlanTest, NoCollapseGivesOneStepPerChange) {
  auto steps = Plan(Single(), {Insert({T("1"), T("a"), T("x")}), Update({T("1"), T("b"), T("x")}),
                               Delete(K("1"))},
                    false);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 3u);
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"1", "a", "x"})));
  EXPECT_THAT((*steps)[1].keyed.upserts, ElementsAre(R({"1", "b", "x"})));
  EXPECT_THAT((*steps)[2].keyed.delete_keys, ElementsAre(R({"1"})));
  for (const auto& s : *steps) EXPECT_EQ(s.keyed.delete_keys.size() + s.keyed.upserts.size(), 1u);
}

// Without collapsing a key update is its delete followed by its upsert.
TEST(ChangePlanTest, NoCollapseKeyUpdateIsDeleteThenUpsert) {
  auto steps = Plan(Single(), {Update({T("2"), T("a"), T("x")}, 'K', K("1"))}, false);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 2u);
  EXPECT_THAT((*steps)[0].keyed.delete_keys, ElementsAre(R({"1"})));
  EXPECT_THAT((*steps)[0].keyed.upserts, IsEmpty());
  EXPECT_THAT((*steps)[1].keyed.upserts, ElementsAre(R({"2", "a", "x"})));
}

// ---- composite keys ----

TEST(ChangePlanTest, CompositeKeyValuesInKeyOrder) {
  TableModel m = Composite();  // key (b, a)
  auto steps = Plan(m, {Insert({T("x"), T("1"), T("v1")}), Insert({T("x"), T("2"), T("v2")}),
                        Update({T("y"), T("1"), T("v3")}, 'K', {T("x"), T("1"), N()}),
                        Delete({T("x"), T("2"), N()})});
  ASSERT_TRUE(steps.ok()) << steps.status();
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_THAT((*steps)[0].keyed.delete_keys, ElementsAre(R({"1", "x"}), R({"2", "x"})));
  EXPECT_THAT((*steps)[0].keyed.upserts, ElementsAre(R({"y", "1", "v3"})));
  ExpectKeysUniquePerStep(m, *steps);
}

TEST(ChangePlanTest, CompositeKeysThatConcatenateAlikeStayDistinct) {
  TableModel m = Composite();
  auto steps = Plan(m, {Insert({T("b:c"), T("a"), T("1")}), Insert({T("c"), T("a:b"), T("2")}),
                        Insert({T(""), T("ab"), T("3")}), Insert({T("b"), T("a"), T("4")})});
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].keyed.upserts.size(), 4u);
}

// ---- malformed input ----

TEST(ChangePlanTest, WrongColumnCountIsDataLoss) {
  TableModel m = Single();
  EXPECT_EQ(Plan(m, {Insert({T("1"), T("a")})}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Plan(m, {Update({T("1"), T("a"), N(), N()})}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Plan(m, {Update({T("1"), T("a"), N()}, 'K', {T("1")})}).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Plan(m, {Delete({T("1")})}).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ChangePlanTest, MissingKeyValueIsDataLoss) {
  EXPECT_EQ(Plan(Single(), {Insert({N(), T("a"), N()})}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Plan(Single(), {Delete({N(), N(), N()})}).status().code(), absl::StatusCode::kDataLoss);
}

// ---- stats ----

TEST(ChangePlanTest, StatsCountEveryKind) {
  PlanStats stats;
  auto steps = Plan(Single(),
                    {Insert({T("1"), T("a"), T("x")}), Insert({T("2"), T("a"), T("x")}),
                     Update({T("1"), T("b"), U()}), Update({T("3"), T("b"), T("x")}, 'K', K("2")),
                     Update({T("9"), T("b"), U()}), Delete(K("3")), Message("m"), Truncate()},
                    true, &stats);
  ASSERT_TRUE(steps.ok());
  EXPECT_EQ(stats.inserts, 2u);
  EXPECT_EQ(stats.updates, 3u);
  EXPECT_EQ(stats.key_updates, 1u);
  EXPECT_EQ(stats.deletes, 1u);
  EXPECT_EQ(stats.unchanged_toast, 2u);
  EXPECT_EQ(stats.truncates, 1u);
}

// ---- randomized convergence ----

// The shadow as a map key -> row, changed by steps as the applier does:
// deletes before upserts, a partial step updates the sent columns (moving the
// row when its key changed) of the row at the old key if there is one.
using Table = std::map<std::string, Row>;

void ApplySteps(const std::vector<ApplyStep>& steps, Table* t) {
  for (const auto& s : steps) {
    switch (s.kind) {
      case ApplyStep::Kind::kTruncate:
        t->clear();
        break;
      case ApplyStep::Kind::kKeyed:
        for (const auto& k : s.keyed.delete_keys) t->erase(*k[0]);
        for (const auto& r : s.keyed.upserts) (*t)[*r[0]] = r;
        break;
      case ApplyStep::Kind::kPartial: {
        auto it = t->find(*s.partial.old_key[0]);
        if (it == t->end()) break;
        Row row = it->second;
        t->erase(it);
        for (const auto& [i, v] : s.partial.sets) row[i] = v;
        (*t)[*row[0]] = row;
        break;
      }
    }
  }
}

// Random valid change sequences against a known start; the planned steps
// applied to the start must give the same table as applying the changes one
// by one. Unchanged TOAST is sent for "doc" whenever an update keeps it.
TEST(ChangePlanTest, RandomSequencesConvergeToNaiveReplay) {
  TableModel m = Single();
  std::mt19937 rng(12345);
  for (int round = 0; round < 300; ++round) {
    Table start;
    for (int k = 0; k < 4; ++k) start[std::to_string(k)] = R({std::to_string(k).c_str(), "v0", "doc0"});
    Table truth = start;
    std::vector<Change> changes;
    int serial = 0;
    for (int n = 0; n < 20; ++n) {
      std::string key = std::to_string(rng() % 7);
      std::string val = "v" + std::to_string(++serial);
      bool present = truth.count(key) > 0;
      int op = rng() % 10;
      if (!present) {
        if (op == 0) {
          changes.push_back(Truncate());
          truth.clear();
        } else {
          std::string doc = "doc" + std::to_string(serial);
          changes.push_back(Insert({T(key), T(val), T(doc)}));
          truth[key] = R({key.c_str(), val.c_str(), doc.c_str()});
        }
      } else if (op < 3) {
        changes.push_back(Delete(K(key)));
        truth.erase(key);
      } else {
        Row old = truth[key];
        std::string new_key = key;
        if (op < 6) {
          std::string cand = std::to_string(rng() % 7);
          if (!truth.count(cand)) new_key = cand;
        }
        bool keep_doc = rng() % 2;
        std::string doc = "doc" + std::to_string(serial);
        Tuple nt = {T(new_key), T(val), keep_doc ? U() : T(doc)};
        char old_kind = new_key != key ? 'K' : 0;
        if (op == 9) old_kind = 'O';
        Tuple ot = old_kind == 'O' ? Tuple{T(key), T(*old[1]), T(*old[2])}
                                   : old_kind == 'K' ? K(key) : Tuple{};
        changes.push_back(Update(nt, old_kind, ot));
        truth.erase(key);
        truth[new_key] = R({new_key.c_str(), val.c_str(), keep_doc ? old[2]->c_str() : doc.c_str()});
      }
    }
    for (bool collapse : {true, false}) {
      auto steps = Plan(m, changes, collapse);
      ASSERT_TRUE(steps.ok()) << steps.status();
      ExpectKeysUniquePerStep(m, *steps);
      Table got = start;
      ApplySteps(*steps, &got);
      ASSERT_EQ(got, truth) << "round " << round << " collapse " << collapse;
    }
  }
}

}  // namespace
}  // namespace shadowcopy::engine
