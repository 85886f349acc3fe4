#include "engine/rewrite/revertibility.h"

#include <gtest/gtest.h>

namespace shadowcopy::engine {
namespace {

RevertPair Kept(std::string name, std::string old_type, std::string new_type, bool old_nn = false, bool new_nn = false) {
  RevertPair p;
  p.old_col = {name, std::move(old_type), old_nn, false};
  p.kept = true;
  p.new_col = {std::move(name), std::move(new_type), new_nn, false};
  return p;
}

std::vector<std::string> Kinds(const std::vector<RevertRisk>& risks) {
  std::vector<std::string> out;
  for (const auto& r : risks) out.push_back(r.kind);
  return out;
}

TEST(RevertibilityTest, WideningForwardIsNarrowingBack) {
  EXPECT_EQ(ReverseCastRisk("bigint", "integer").kind, "out-of-range");
  EXPECT_EQ(ReverseCastRisk("integer", "smallint").kind, "out-of-range");
  EXPECT_EQ(ReverseCastRisk("integer", "bigint").kind, "");
  EXPECT_EQ(ReverseCastRisk("text", "character varying(20)").kind, "too-long");
  EXPECT_EQ(ReverseCastRisk("character varying(40)", "character varying(20)").kind, "too-long");
  EXPECT_EQ(ReverseCastRisk("character varying(10)", "character varying(20)").kind, "");
  EXPECT_EQ(ReverseCastRisk("character varying(10)", "text").kind, "");
  EXPECT_EQ(ReverseCastRisk("integer", "text").kind, "");
  EXPECT_EQ(ReverseCastRisk("numeric(12,4)", "numeric(12,2)").kind, "narrowing");
  EXPECT_EQ(ReverseCastRisk("numeric(14,2)", "numeric(12,2)").kind, "out-of-range");
  EXPECT_EQ(ReverseCastRisk("numeric(10,2)", "numeric(12,2)").kind, "");
  EXPECT_EQ(ReverseCastRisk("integer", "numeric(12,2)").kind, "");
  EXPECT_EQ(ReverseCastRisk("bigint", "numeric(12,2)").kind, "out-of-range");
  EXPECT_EQ(ReverseCastRisk("double precision", "real").kind, "narrowing");
  EXPECT_EQ(ReverseCastRisk("numeric", "integer").kind, "narrowing");
  EXPECT_EQ(ReverseCastRisk("timestamp with time zone", "timestamp without time zone").kind, "type-change");
  EXPECT_EQ(ReverseCastRisk("jsonb", "jsonb").kind, "");
}

TEST(RevertibilityTest, RevertibleAlterHasOnlyNotes) {
  RevertFacts f;
  f.columns.push_back(Kept("id", "bigint", "bigint", true, true));
  f.columns.push_back(Kept("v", "integer", "bigint"));
  f.added.push_back({"region", "text", false, false});
  auto risks = AnalyzeRevert(f);
  EXPECT_EQ(Kinds(risks), (std::vector<std::string>{"out-of-range", "added-column"}));
  // bigint back to integer is the one blocking risk.
  EXPECT_TRUE(risks[0].blocking);
  EXPECT_FALSE(risks[1].blocking);
  auto st = CheckRevertAccepted(risks, {});
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("--revert-accept out-of-range"), std::string_view::npos);
  EXPECT_TRUE(CheckRevertAccepted(risks, {"out-of-range"}).ok());
  EXPECT_TRUE(CheckRevertAccepted(risks, {"all"}).ok());

  RevertFacts narrow;
  narrow.columns.push_back(Kept("v", "bigint", "integer"));
  EXPECT_TRUE(AnalyzeRevert(narrow).empty());
  EXPECT_NE(FormatRevertibility(AnalyzeRevert(narrow), true).find("revertible:  yes"), std::string::npos);
}

TEST(RevertibilityTest, NamesEachRisk) {
  RevertFacts f;
  f.columns.push_back(Kept("name", "character varying(20)", "text", true, false));
  RevertPair dropped;
  dropped.old_col = {"legacy", "integer", true, false};
  f.columns.push_back(dropped);
  RevertPair dropped_default;
  dropped_default.old_col = {"flag", "boolean", true, true};
  f.columns.push_back(dropped_default);
  auto with_using = Kept("amount", "integer", "text");
  with_using.has_using = true;
  f.columns.push_back(with_using);
  f.lost_unique.push_back("t_email_key");
  auto risks = AnalyzeRevert(f);
  EXPECT_EQ(Kinds(risks), (std::vector<std::string>{"too-long", "nullable", "dropped-not-null", "dropped-column",
                                                    "type-change", "using", "unique"}));
  std::string text = FormatRevertibility(risks, false);
  EXPECT_NE(text.find("revertible:  no"), std::string::npos);
  EXPECT_NE(text.find("[unique]"), std::string::npos);
  EXPECT_NE(text.find("way back: \"flag\""), std::string::npos);
  EXPECT_FALSE(CheckRevertAccepted(risks, {"too-long", "nullable", "dropped-not-null", "type-change", "using"}).ok());
  EXPECT_TRUE(CheckRevertAccepted(risks, {"too-long", "nullable", "dropped-not-null", "type-change", "using",
                                          "unique"}).ok());
}

TEST(RevertibilityTest, MissingReverseCastCannotBeAccepted) {
  RevertFacts f;
  f.reverse_cast_missing = true;
  f.reverse_cast_error = "column \"v\" is of type point but expression is of type text";
  auto st = CheckRevertAccepted(AnalyzeRevert(f), {"all"});
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RevertibilityTest, ParsesAcceptList) {
  std::vector<std::string> out;
  EXPECT_TRUE(ParseRevertAccept("out-of-range, unique", &out).ok());
  EXPECT_EQ(out, (std::vector<std::string>{"out-of-range", "unique"}));
  EXPECT_EQ(ParseRevertAccept("bogus", &out).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shadowcopy::engine
