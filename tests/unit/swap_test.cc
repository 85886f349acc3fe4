// Tests of the cutover's swap statements (engine/rewrite/swap.h BuildSwapStatements)
// on a hand-made ShadowPlan and SwapCatalog.
#include "engine/rewrite/swap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/rewrite/shadow_builder.h"
#include "engine/table/table_model.h"

namespace shadowcopy::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

MappedColumn Col(std::string source, std::string target, bool kept = true) {
  MappedColumn c;
  c.source_name = std::move(source);
  c.target_name = std::move(target);
  c.source_type = c.target_type = "bigint";
  c.kept = kept;
  return c;
}

ShadowPlan Plan() {
  ShadowPlan p;
  p.model.names = {"public", "orders", "_orders_shadow", "_orders_old", "shadowcopy_1", "shadowcopy_1"};
  p.model.columns = {Col("id", "id"), Col("seq", "seq"), Col("n", "num"), Col("gone", "", false)};
  p.model.columns[0].key_position = 0;
  p.model.key_columns = {0};
  p.index_names = {{"orders_pkey", "_orders_shadow_pkey"}, {"orders_n_idx", "_orders_shadow_n_idx"}};
  return p;
}

// Position of `stmt` in `v`; fails the test (and returns v.size()) when absent.
size_t Pos(const std::vector<std::string>& v, const std::string& stmt) {
  auto it = std::find(v.begin(), v.end(), stmt);
  EXPECT_NE(it, v.end()) << "missing: " << stmt;
  return static_cast<size_t>(it - v.begin());
}

const char kRenameOriginal[] = R"(ALTER TABLE "public"."orders" RENAME TO "_orders_old")";
const char kShadowTakesName[] = R"(ALTER TABLE "public"."_orders_shadow" RENAME TO "orders")";

TEST(SwapTest, OriginalIsRenamedFirst) {
  SwapStatements s = BuildSwapStatements(Plan(), SwapCatalog{});
  ASSERT_FALSE(s.in_lock.empty());
  EXPECT_EQ(s.in_lock[0], kRenameOriginal);
}

TEST(SwapTest, IndexRenamesComeInPairsOldThenShadow) {
  SwapStatements s = BuildSwapStatements(Plan(), SwapCatalog{});
  size_t pkey_old = Pos(s.in_lock, R"(ALTER INDEX "public"."orders_pkey" RENAME TO "_orders_pkey_old")");
  EXPECT_EQ(Pos(s.in_lock, R"(ALTER INDEX "public"."_orders_shadow_pkey" RENAME TO "orders_pkey")"),
            pkey_old + 1);
  size_t n_old = Pos(s.in_lock, R"(ALTER INDEX "public"."orders_n_idx" RENAME TO "_orders_n_idx_old")");
  EXPECT_EQ(Pos(s.in_lock, R"(ALTER INDEX "public"."_orders_shadow_n_idx" RENAME TO "orders_n_idx")"),
            n_old + 1);
  EXPECT_GT(pkey_old, Pos(s.in_lock, kRenameOriginal));
}

TEST(SwapTest, ShadowTakesTheNameAfterTheIndexRenames) {
  SwapStatements s = BuildSwapStatements(Plan(), SwapCatalog{});
  size_t shadow = Pos(s.in_lock, kShadowTakesName);
  EXPECT_GT(shadow, Pos(s.in_lock, R"(ALTER INDEX "public"."_orders_shadow_n_idx" RENAME TO "orders_n_idx")"));
  EXPECT_THAT(s.after_commit, IsEmpty());
}

TEST(SwapTest, QuotesNamesAndTruncatesLongOldIndexName) {
  ShadowPlan p = Plan();
  p.model.names.schema = "My \"S\"";
  std::string long_index(63, 'i');
  p.index_names = {{long_index, "_shadow_idx"}};
  SwapStatements s = BuildSwapStatements(p, SwapCatalog{});
  EXPECT_EQ(s.in_lock[0], R"(ALTER TABLE "My ""S"""."orders" RENAME TO "_orders_old")");
  // Truncated to 63 bytes, the old name carries a hash of the full name so
  // that it cannot collide with another truncated name.
  std::string prefix = "ALTER INDEX \"My \"\"S\"\"\".\"" + long_index + "\" RENAME TO \"_";
  size_t old_index = s.in_lock.size();
  for (size_t i = 0; i < s.in_lock.size(); ++i)
    if (s.in_lock[i].rfind(prefix, 0) == 0) old_index = i;
  ASSERT_LT(old_index, s.in_lock.size());
  std::string old_name = s.in_lock[old_index].substr(prefix.size() - 1);
  old_name = old_name.substr(0, old_name.size() - 1);  // closing quote
  EXPECT_EQ(old_name.size(), 63u) << old_name;
  EXPECT_EQ(old_name.substr(old_name.size() - 4), "_old");
  EXPECT_EQ(Pos(s.in_lock, "ALTER INDEX \"My \"\"S\"\"\".\"_shadow_idx\" RENAME TO \"" + long_index + "\""),
            old_index + 1);
  Pos(s.in_lock, R"(ALTER TABLE "My ""S"""."_orders_shadow" RENAME TO "orders")");
}

TEST(SwapTest, SerialSequenceReownedAfterCommitOnly) {
  SwapCatalog cat;
  cat.sequences = {{R"("public"."orders_seq_seq")", "seq", false, "", ""}};
  SwapStatements s = BuildSwapStatements(Plan(), cat);
  EXPECT_THAT(s.after_commit,
              ElementsAre(R"(ALTER SEQUENCE "public"."orders_seq_seq" OWNED BY "public"."orders"."seq")"));
  for (const auto& stmt : s.in_lock) EXPECT_THAT(stmt, Not(HasSubstr("SEQUENCE"))) << stmt;
}

TEST(SwapTest, SerialSequenceOfRenamedColumnOwnedByTargetName) {
  SwapCatalog cat;
  cat.sequences = {{R"("public"."orders_n_seq")", "n", false, "", ""}};
  SwapStatements s = BuildSwapStatements(Plan(), cat);
  EXPECT_THAT(s.after_commit,
              ElementsAre(R"(ALTER SEQUENCE "public"."orders_n_seq" OWNED BY "public"."orders"."num")"));
}

TEST(SwapTest, IdentitySetvalInLockAfterTheShadowTakesTheName) {
  SwapCatalog cat;
  cat.sequences = {{R"("public"."orders_id_seq")", "id", true, "", ""}};
  SwapStatements s = BuildSwapStatements(Plan(), cat);
  const std::string setval =
      R"(SELECT setval(pg_get_serial_sequence('"public"."orders"', 'id'), s.last_value, s.is_called) )"
      R"(FROM "public"."orders_id_seq" AS s)";
  EXPECT_GT(Pos(s.in_lock, setval), Pos(s.in_lock, kShadowTakesName));
  EXPECT_THAT(s.after_commit, IsEmpty());
}

TEST(SwapTest, SequenceOfDroppedOrUnknownColumnSkipped) {
  SwapCatalog cat;
  cat.sequences = {{R"("public"."a")", "gone", false, "", ""}, {R"("public"."b")", "nosuch", true, "", ""}};
  SwapStatements s = BuildSwapStatements(Plan(), cat);
  EXPECT_THAT(s.after_commit, IsEmpty());
  EXPECT_EQ(s.in_lock, BuildSwapStatements(Plan(), SwapCatalog{}).in_lock);
}

TEST(SwapTest, GrantsToPublicAndRolesWithGrantOption) {
  SwapCatalog cat;
  cat.grants = {{"SELECT", "", false}, {"INSERT", "app user", false}, {"UPDATE", "Admin", true}};
  SwapStatements s = BuildSwapStatements(Plan(), cat);
  size_t shadow = Pos(s.in_lock, kShadowTakesName);
  EXPECT_GT(Pos(s.in_lock, R"(GRANT SELECT ON "public"."orders" TO PUBLIC)"), shadow);
  EXPECT_GT(Pos(s.in_lock, R"(GRANT INSERT ON "public"."orders" TO "app user")"), shadow);
  EXPECT_GT(Pos(s.in_lock, R"(GRANT UPDATE ON "public"."orders" TO "Admin" WITH GRANT OPTION)"), shadow);
}

TEST(SwapTest, CommentCarriedWithQuotesEscaped) {
  SwapCatalog cat;
  cat.comment = "it's the orders";
  SwapStatements s = BuildSwapStatements(Plan(), cat);
  EXPECT_GT(Pos(s.in_lock, R"(COMMENT ON TABLE "public"."orders" IS 'it''s the orders')"),
            Pos(s.in_lock, kShadowTakesName));
}

TEST(SwapTest, NoCommentNoReplicaIdentityStatementsByDefault) {
  SwapStatements s = BuildSwapStatements(Plan(), SwapCatalog{});
  for (const auto& stmt : s.in_lock) {
    EXPECT_THAT(stmt, Not(HasSubstr("COMMENT"))) << stmt;
    EXPECT_THAT(stmt, Not(HasSubstr("REPLICA IDENTITY"))) << stmt;
    EXPECT_THAT(stmt, Not(HasSubstr("GRANT"))) << stmt;
  }
}

TEST(SwapTest, ReplicaIdentityFullCarried) {
  SwapCatalog cat;
  cat.replica_identity = 'f';
  SwapStatements s = BuildSwapStatements(Plan(), cat);
  EXPECT_GT(Pos(s.in_lock, R"(ALTER TABLE "public"."orders" REPLICA IDENTITY FULL)"),
            Pos(s.in_lock, kShadowTakesName));
}

TEST(SwapTest, ClusterMarkCarriedOnTheRenamedIndex) {
  SwapCatalog cat;
  cat.clustered_index = "orders_n_idx";
  SwapStatements s = BuildSwapStatements(Plan(), cat);
  EXPECT_GT(Pos(s.in_lock, R"(ALTER TABLE "public"."orders" CLUSTER ON "orders_n_idx")"),
            Pos(s.in_lock, R"(ALTER INDEX "public"."_orders_shadow_n_idx" RENAME TO "orders_n_idx")"));
}

TEST(SwapTest, ClusterMarkOfAnIndexTheAlterDroppedIsNotCarried) {
  SwapCatalog cat;
  cat.clustered_index = "orders_gone_idx";
  SwapStatements s = BuildSwapStatements(Plan(), cat);
  for (const auto& stmt : s.in_lock) EXPECT_THAT(stmt, Not(HasSubstr("CLUSTER"))) << stmt;
}

TEST(SwapTest, IndexLeftOutOfTheNewTableOnlyFreesItsName) {
  ShadowPlan p = Plan();
  p.index_names.emplace_back("orders_bad_idx", "");
  SwapCatalog cat;
  cat.clustered_index = "orders_bad_idx";
  SwapStatements s = BuildSwapStatements(p, cat);
  Pos(s.in_lock, R"(ALTER INDEX "public"."orders_bad_idx" RENAME TO "_orders_bad_idx_old")");
  for (const auto& stmt : s.in_lock) {
    EXPECT_THAT(stmt, Not(HasSubstr(R"(RENAME TO "orders_bad_idx")"))) << stmt;
    EXPECT_THAT(stmt, Not(HasSubstr("CLUSTER"))) << stmt;
  }
}

TEST(SwapTest, StatisticsTheAlterDroppedOnlyFreeTheirName) {
  ShadowPlan p = Plan();
  p.statistics_names.push_back({"public", "orders_stats", "public", ""});
  SwapStatements s = BuildSwapStatements(p, SwapCatalog{});
  Pos(s.in_lock, R"(ALTER STATISTICS "public"."orders_stats" RENAME TO "_orders_stats_old")");
  for (const auto& stmt : s.in_lock) EXPECT_THAT(stmt, Not(HasSubstr(R"(RENAME TO "orders_stats")"))) << stmt;
}

}  // namespace
}  // namespace shadowcopy::engine
