// plan's rules on synthetic facts: each rule fires where it should, with a
// severity scaled by the table's size, on the observation when there is
// one, and names the safe path with its exact commands.
#include "engine/workflow/plan_rules.h"

#include <algorithm>

#include "engine/workflow/plan_input.h"
#include "engine/workflow/plan_report.h"
#include "engine/workflow/plan_statement.h"
#include "engine/workflow/plan_types.h"
#include "gtest/gtest.h"

namespace shadowcopy::workflow {
namespace {

constexpr int64_t kBig = int64_t{2} << 30;   // 2 GiB: ~32 s at the assumed 64 MB/s
constexpr int64_t kMid = int64_t{20} << 20;  // 20 MiB: ~0.3 s
constexpr int64_t kTiny = 64 << 10;

PlanFacts Facts(std::string_view script, int64_t orders_bytes = kBig, int64_t orders_rows = 10000000) {
  PlanFacts f;
  f.target = "prod";
  f.rehearsal = "none";
  auto split = SplitMigration("V1__m.sql", script);
  EXPECT_TRUE(split.ok()) << split.status();
  for (auto& s : *split) f.statements.push_back({s, {}});
  f.sizes["public.orders"] = {orders_rows, orders_bytes};
  f.sizes["public.customers"] = {1000, kTiny};
  f.column_types["public.orders.id"] = "integer";
  f.column_types["public.orders.amount"] = "numeric(10,2)";
  f.column_types["public.orders.name"] = "character varying(50)";
  f.column_types["public.orders.customer_id"] = "integer";
  f.index_columns["public.orders"] = {{"id"}};
  return f;
}

// The finding of `rule` on statement `i`, or null.
const Finding* Find(const PlanJudgement& j, size_t i, std::string_view rule) {
  if (i >= j.statements.size()) return nullptr;
  for (const Finding& f : j.statements[i].findings)
    if (f.rule == rule) return &f;
  return nullptr;
}

Severity SeverityOf(const PlanJudgement& j, size_t i, std::string_view rule) {
  const Finding* f = Find(j, i, rule);
  EXPECT_NE(f, nullptr) << rule << " missing on statement " << i;
  return f ? f->severity : Severity::kInfo;
}

// Statement `i` of `j` has `rule` at `severity` and takes `path` with exactly
// `commands`.
void ExpectRuleOnSafePath(const PlanJudgement& j, size_t i, std::string_view rule, Severity severity, SafePath path,
                          const std::vector<std::string>& commands) {
  EXPECT_EQ(SeverityOf(j, i, rule), severity);
  ASSERT_LT(i, j.statements.size());
  EXPECT_EQ(j.statements[i].safe_path, path) << rule;
  EXPECT_EQ(j.statements[i].commands, commands) << rule;
}

TEST(PlanRulesTest, EveryRuleHasAnIdASeverityAndAWhy) {
  std::vector<std::string_view> ids;
  for (const RuleInfo& r : AllRules()) {
    EXPECT_FALSE(r.why.empty()) << r.id;
    EXPECT_EQ(std::count(ids.begin(), ids.end(), r.id), 0) << r.id;
    ids.push_back(r.id);
  }
  EXPECT_GE(ids.size(), 20u);
}

TEST(PlanRulesTest, TypeChangeRewritesOnlyWhenPostgresRewrites) {
  EXPECT_TRUE(*TypeChangeRewrites("integer", "bigint", false));
  EXPECT_FALSE(*TypeChangeRewrites("character varying(50)", "varchar(100)", false));
  EXPECT_TRUE(*TypeChangeRewrites("character varying(100)", "varchar(50)", false));
  EXPECT_FALSE(*TypeChangeRewrites("character varying(50)", "text", false));
  EXPECT_TRUE(*TypeChangeRewrites("text", "varchar(10)", false));
  EXPECT_FALSE(*TypeChangeRewrites("numeric(10,2)", "numeric(12,2)", false));
  EXPECT_TRUE(*TypeChangeRewrites("numeric(10,2)", "numeric(12,3)", false));
  EXPECT_FALSE(*TypeChangeRewrites("numeric(10,2)", "numeric", false));
  EXPECT_FALSE(*TypeChangeRewrites("int4", "integer", false));
  EXPECT_TRUE(*TypeChangeRewrites("integer", "integer", true));
  EXPECT_FALSE(TypeChangeRewrites("", "bigint", false).has_value());
  EXPECT_TRUE(IsNarrowInteger("serial"));
  EXPECT_FALSE(IsNarrowInteger("bigint"));
  EXPECT_TRUE(IsJson("JSON"));
  EXPECT_FALSE(IsJson("jsonb"));
}

TEST(PlanRulesTest, ClassifiesAlterTableSubcommands) {
  StatementShape s = ClassifyStatement(
      "ALTER TABLE IF EXISTS ONLY sales.\"Orders\" ADD COLUMN x int NOT NULL DEFAULT 0, "
      "ALTER COLUMN total TYPE numeric(12, 2) USING total::numeric, ADD CONSTRAINT c CHECK (x > 0) NOT VALID, "
      "ADD FOREIGN KEY (a, b) REFERENCES other (a, b), ALTER name SET NOT NULL");
  EXPECT_EQ(s.kind, StatementKind::kAlterTable);
  EXPECT_EQ(s.relation, "sales.\"Orders\"");
  ASSERT_EQ(s.actions.size(), 5u);
  EXPECT_EQ(s.actions[0].kind, ActionKind::kAddColumn);
  EXPECT_EQ(s.actions[0].type, "int");
  EXPECT_TRUE(s.actions[0].not_null);
  EXPECT_TRUE(s.actions[0].has_default);
  EXPECT_FALSE(s.actions[0].volatile_default);
  EXPECT_EQ(s.actions[1].kind, ActionKind::kAlterType);
  EXPECT_EQ(s.actions[1].type, "numeric(12,2)");
  EXPECT_TRUE(s.actions[1].has_using);
  EXPECT_EQ(s.actions[2].constraint.kind, ConstraintKind::kCheck);
  EXPECT_TRUE(s.actions[2].constraint.not_valid);
  EXPECT_EQ(s.actions[2].constraint.definition, "CHECK (x > 0)");
  EXPECT_EQ(s.actions[3].constraint.kind, ConstraintKind::kForeignKey);
  EXPECT_EQ(s.actions[3].constraint.columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.actions[3].constraint.references, "public.other");
  EXPECT_EQ(s.actions[4].kind, ActionKind::kSetNotNull);
  EXPECT_EQ(s.actions[4].column, "name");
  s = ClassifyStatement("ALTER TABLE orders RENAME COLUMN \"A b\" TO c");
  ASSERT_EQ(s.actions.size(), 1u);
  EXPECT_EQ(s.actions[0].kind, ActionKind::kRenameColumn);
  EXPECT_EQ(s.actions[0].column, "A b");
  EXPECT_EQ(s.actions[0].new_name, "c");
}

TEST(PlanRulesTest, ClassifiesOtherStatements) {
  StatementShape s = ClassifyStatement("create unique index concurrently if not exists i on s.t using btree (a, lower(b))");
  EXPECT_EQ(s.kind, StatementKind::kCreateIndex);
  EXPECT_TRUE(s.concurrently);
  EXPECT_TRUE(s.unique);
  EXPECT_EQ(s.relation, "s.t");
  EXPECT_EQ(s.index_name, "s.i");
  EXPECT_EQ(s.index_columns, (std::vector<std::string>{"a"}));
  s = ClassifyStatement("UPDATE orders SET a = 1, b = 'x;y' WHERE id < 10 RETURNING id");
  EXPECT_EQ(s.kind, StatementKind::kUpdate);
  EXPECT_FALSE(s.simple_dml);
  s = ClassifyStatement("DELETE FROM orders WHERE created_at < now() - interval '1 year'");
  EXPECT_TRUE(s.simple_dml);
  EXPECT_EQ(s.where_clause, "created_at < now() - interval '1 year'");
  s = ClassifyStatement("SET LOCAL lock_timeout TO '1500ms'");
  EXPECT_EQ(s.setting, "lock_timeout");
  EXPECT_EQ(SettingMilliseconds(s.setting_value), 1500);
  EXPECT_EQ(SettingMilliseconds("2s"), 2000);
  EXPECT_EQ(SettingMilliseconds("'1min'"), 60000);
  EXPECT_EQ(ClassifyStatement("REINDEX (VERBOSE) TABLE orders").kind, StatementKind::kReindex);
  EXPECT_EQ(ClassifyStatement("LOCK orders IN SHARE ROW EXCLUSIVE MODE").lock_mode, "ShareRowExclusiveLock");
  EXPECT_EQ(ClassifyStatement("VACUUM (FULL, ANALYZE) orders").kind, StatementKind::kVacuumFull);
}

TEST(PlanRulesTest, RewriteUnderAccessExclusiveScalesWithSize) {
  const char* sql = "ALTER TABLE orders ALTER COLUMN id TYPE bigint";
  PlanJudgement big = JudgePlan(Facts(sql));
  ExpectRuleOnSafePath(big, 0, "rewrite-under-access-exclusive", Severity::kError, SafePath::kOnlineRewrite,
                       {"shadowcopy --table orders --alter \"ALTER COLUMN id TYPE bigint\" --execute"});
  EXPECT_EQ(big.statements[0].rewrites, (std::vector<std::string>{"public.orders"}));
  EXPECT_NEAR(big.statements[0].estimated_lock_s, 32, 1);
  EXPECT_LE(big.statements[0].safe_path_lock_s, 0.1);
  EXPECT_EQ(SeverityOf(JudgePlan(Facts(sql, kMid)), 0, "rewrite-under-access-exclusive"), Severity::kWarning);
  EXPECT_EQ(SeverityOf(JudgePlan(Facts(sql, kTiny)), 0, "rewrite-under-access-exclusive"), Severity::kInfo);
  // Under the file's lock_timeout: information only.
  PlanJudgement timed = JudgePlan(Facts(std::string("SET lock_timeout = '5s';") + sql, kMid));
  EXPECT_EQ(SeverityOf(timed, 1, "rewrite-under-access-exclusive"), Severity::kInfo);
  EXPECT_EQ(Find(timed, 1, "lock-without-timeout"), nullptr);
}

TEST(PlanRulesTest, TypeChangesThatDoNotRewriteAreNotFlagged) {
  PlanJudgement j = JudgePlan(Facts(
      "ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2);"
      "ALTER TABLE orders ALTER COLUMN name TYPE varchar(100);"
      "ALTER TABLE orders ALTER COLUMN name TYPE text"));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(Find(j, i, "rewrite-under-access-exclusive"), nullptr) << i;
    EXPECT_EQ(j.statements[i].safe_path, SafePath::kAsIs);
  }
}

TEST(PlanRulesTest, TheObservationWinsOverTheStaticGuess) {
  PlanFacts f = Facts("ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2)");
  f.statements[0].observation.rehearsed = true;
  f.statements[0].observation.rewrites = {"public.orders"};
  f.statements[0].observation.locks = {{"public.orders", "AccessExclusiveLock"}};
  PlanJudgement j = JudgePlan(f);
  EXPECT_FALSE(j.static_only);
  EXPECT_TRUE(j.statements[0].locks_observed);
  EXPECT_EQ(SeverityOf(j, 0, "rewrite-under-access-exclusive"), Severity::kError);
  // Observed not to rewrite: no finding, whatever the text says.
  f = Facts("ALTER TABLE orders ALTER COLUMN id TYPE bigint");
  f.statements[0].observation.rehearsed = true;
  EXPECT_EQ(Find(JudgePlan(f), 0, "rewrite-under-access-exclusive"), nullptr);
}

TEST(PlanRulesTest, VolatileDefaultRewritesStableDefaultDoesNot) {
  PlanJudgement j = JudgePlan(Facts(
      "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();"
      "ALTER TABLE orders ADD COLUMN seen timestamptz DEFAULT now()"));
  EXPECT_EQ(SeverityOf(j, 0, "rewrite-under-access-exclusive"), Severity::kError);
  EXPECT_EQ(Find(j, 1, "rewrite-under-access-exclusive"), nullptr);
}

TEST(PlanRulesTest, NonConcurrentIndexStatements) {
  PlanJudgement j = JudgePlan(Facts(
      "CREATE INDEX orders_c ON orders (customer_id);"
      "DROP INDEX orders_old_idx;"
      "REINDEX TABLE orders"));
  ExpectRuleOnSafePath(j, 0, "create-index-not-concurrently", Severity::kError, SafePath::kConcurrentIndex,
                       {"CREATE INDEX CONCURRENTLY orders_c ON orders (customer_id)"});
  ASSERT_NE(Find(j, 1, "drop-index-not-concurrently"), nullptr);
  EXPECT_EQ(j.statements[1].commands, (std::vector<std::string>{"DROP INDEX CONCURRENTLY public.orders_old_idx"}));
  EXPECT_EQ(SeverityOf(j, 2, "reindex-not-concurrently"), Severity::kError);
  EXPECT_EQ(j.statements[2].commands, (std::vector<std::string>{"REINDEX TABLE CONCURRENTLY orders"}));
  // An empty table: information only.
  EXPECT_EQ(SeverityOf(JudgePlan(Facts("CREATE INDEX i ON orders (status)", 0, 0)), 0,
                       "create-index-not-concurrently"),
            Severity::kInfo);
  // A table created in the same migration: nothing to say.
  j = JudgePlan(Facts("CREATE TABLE t (id bigint PRIMARY KEY, a int); CREATE INDEX t_a ON t (a)"));
  EXPECT_TRUE(j.statements[1].findings.empty());
}

TEST(PlanRulesTest, ConcurrentlyInsideATransactionBlock) {
  PlanJudgement j = JudgePlan(Facts("BEGIN; CREATE INDEX CONCURRENTLY i ON orders (status); COMMIT"));
  EXPECT_EQ(SeverityOf(j, 1, "concurrently-in-transaction"), Severity::kError);
  EXPECT_EQ(Find(JudgePlan(Facts("CREATE INDEX CONCURRENTLY i ON orders (status)")), 0,
                 "concurrently-in-transaction"),
            nullptr);
}

TEST(PlanRulesTest, ConstraintsWithoutNotValid) {
  PlanJudgement j = JudgePlan(Facts(
      "ALTER TABLE orders ADD CONSTRAINT positive CHECK (amount > 0);"
      "ALTER TABLE orders ADD CONSTRAINT positive2 CHECK (amount > 0) NOT VALID"));
  ExpectRuleOnSafePath(j, 0, "constraint-without-not-valid", Severity::kError, SafePath::kNotValidThenValidate,
                       {"ALTER TABLE public.orders ADD CONSTRAINT positive CHECK (amount > 0) NOT VALID",
                        "ALTER TABLE public.orders VALIDATE CONSTRAINT positive"});
  EXPECT_EQ(Find(j, 1, "constraint-without-not-valid"), nullptr);
  // A foreign key: NOT VALID first, and the missing index said.
  j = JudgePlan(Facts("ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id)"));
  EXPECT_EQ(SeverityOf(j, 0, "constraint-without-not-valid"), Severity::kError);
  EXPECT_EQ(SeverityOf(j, 0, "foreign-key-without-index"), Severity::kWarning);
  EXPECT_EQ(j.statements[0].commands[0],
            "ALTER TABLE public.orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES "
            "customers (id) NOT VALID");
  // With an index built first, no index finding.
  j = JudgePlan(Facts("CREATE INDEX CONCURRENTLY oc ON orders (customer_id);"
                      "ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID"));
  EXPECT_EQ(Find(j, 1, "foreign-key-without-index"), nullptr);
  EXPECT_EQ(Find(j, 1, "constraint-without-not-valid"), nullptr);
}

TEST(PlanRulesTest, SetNotNullNeedsAValidatedCheck) {
  PlanJudgement j = JudgePlan(Facts("ALTER TABLE orders ALTER COLUMN name SET NOT NULL"));
  EXPECT_EQ(SeverityOf(j, 0, "set-not-null-without-check"), Severity::kError);
  EXPECT_EQ(j.statements[0].safe_path, SafePath::kCheckThenSetNotNull);
  ASSERT_EQ(j.statements[0].commands.size(), 4u);
  EXPECT_EQ(j.statements[0].commands[0],
            "ALTER TABLE public.orders ADD CONSTRAINT orders_name_not_null CHECK (name IS NOT NULL) NOT VALID");
  j = JudgePlan(Facts(
      "ALTER TABLE orders ADD CONSTRAINT n CHECK (name IS NOT NULL) NOT VALID;"
      "ALTER TABLE orders VALIDATE CONSTRAINT n;"
      "ALTER TABLE orders ALTER COLUMN name SET NOT NULL"));
  EXPECT_EQ(Find(j, 2, "set-not-null-without-check"), nullptr);
  EXPECT_EQ(Find(j, 2, "alters-could-be-combined"), nullptr);
}

TEST(PlanRulesTest, NotNullColumnWithoutDefaultIsRefused) {
  PlanJudgement j = JudgePlan(Facts("ALTER TABLE orders ADD COLUMN region text NOT NULL"));
  ExpectRuleOnSafePath(j, 0, "not-null-column-without-default", Severity::kError, SafePath::kRefuse, {});
  EXPECT_EQ(Find(JudgePlan(Facts("ALTER TABLE orders ADD COLUMN region text NOT NULL", 0, 0)), 0,
                 "not-null-column-without-default"),
            nullptr);
}

TEST(PlanRulesTest, UniqueAndPrimaryKeyFromAConcurrentIndex) {
  PlanJudgement j = JudgePlan(Facts(
      "ALTER TABLE orders ADD CONSTRAINT orders_ref_key UNIQUE (ref);"
      "ALTER TABLE orders ADD CONSTRAINT orders_ref_key2 UNIQUE USING INDEX orders_ref_idx"));
  ExpectRuleOnSafePath(j, 0, "unique-without-concurrent-index", Severity::kError, SafePath::kUniqueViaConcurrentIndex,
                       {"CREATE UNIQUE INDEX CONCURRENTLY orders_ref_key ON public.orders (ref)",
                        "ALTER TABLE public.orders ADD CONSTRAINT orders_ref_key UNIQUE USING INDEX orders_ref_key"});
  EXPECT_EQ(Find(j, 1, "unique-without-concurrent-index"), nullptr);
}

TEST(PlanRulesTest, LockWithoutTimeoutAndTheFileSetting) {
  PlanJudgement j = JudgePlan(Facts("ALTER TABLE orders DROP COLUMN note"));
  EXPECT_EQ(SeverityOf(j, 0, "lock-without-timeout"), Severity::kWarning);
  j = JudgePlan(Facts("SET lock_timeout = '2s'; ALTER TABLE orders DROP COLUMN note"));
  EXPECT_EQ(Find(j, 1, "lock-without-timeout"), nullptr);
  j = JudgePlan(Facts("SET lock_timeout = 0; ALTER TABLE orders DROP COLUMN note"));
  EXPECT_NE(Find(j, 1, "lock-without-timeout"), nullptr);
  // SET LOCAL lasts until the block ends.
  j = JudgePlan(Facts("BEGIN; SET LOCAL lock_timeout = '1s'; ALTER TABLE orders DROP COLUMN a; COMMIT;"
                      "ALTER TABLE orders DROP COLUMN b"));
  EXPECT_EQ(Find(j, 2, "lock-without-timeout"), nullptr);
  EXPECT_NE(Find(j, 4, "lock-without-timeout"), nullptr);
  // Tiny tables: information.
  EXPECT_EQ(SeverityOf(JudgePlan(Facts("ALTER TABLE orders DROP COLUMN note", kTiny)), 0, "lock-without-timeout"),
            Severity::kInfo);
}

TEST(PlanRulesTest, StatementsAfterAccessExclusiveInOneTransaction) {
  PlanJudgement j = JudgePlan(Facts(
      "BEGIN; ALTER TABLE orders ADD COLUMN a int; UPDATE customers SET email = lower(email) WHERE true;"
      "CREATE INDEX i ON orders (customer_id); COMMIT; SELECT 1"));
  EXPECT_EQ(Find(j, 1, "statements-after-access-exclusive"), nullptr);
  EXPECT_EQ(SeverityOf(j, 2, "statements-after-access-exclusive"), Severity::kWarning);
  EXPECT_EQ(SeverityOf(j, 3, "statements-after-access-exclusive"), Severity::kError);  // a long build meanwhile
  EXPECT_EQ(Find(j, 4, "statements-after-access-exclusive"), nullptr);
  EXPECT_EQ(Find(j, 5, "statements-after-access-exclusive"), nullptr);
}

TEST(PlanRulesTest, SeveralAltersOfOneTable) {
  PlanJudgement j = JudgePlan(Facts("ALTER TABLE orders ADD COLUMN a int; ALTER TABLE orders ADD COLUMN b int"));
  EXPECT_EQ(Find(j, 0, "alters-could-be-combined"), nullptr);
  EXPECT_EQ(SeverityOf(j, 1, "alters-could-be-combined"), Severity::kInfo);
}

TEST(PlanRulesTest, LargeUpdateAndDeleteGoToBackfill) {
  PlanJudgement j = JudgePlan(Facts("UPDATE orders SET status = 'done'; DELETE FROM orders WHERE id < 100"));
  ExpectRuleOnSafePath(j, 0, "large-update-delete", Severity::kError, SafePath::kBackfill,
                       {"shadowcopy backfill --table orders --set \"status = 'done'\" --where true --execute"});
  EXPECT_EQ(SeverityOf(j, 1, "large-update-delete"), Severity::kWarning);
  EXPECT_EQ(j.statements[1].commands,
            (std::vector<std::string>{"shadowcopy backfill --table orders --delete --where \"id < 100\" --execute"}));
  // A small table: nothing.
  EXPECT_EQ(Find(JudgePlan(Facts("UPDATE orders SET status = 'done'", kTiny, 500)), 0, "large-update-delete"),
            nullptr);
}

TEST(PlanRulesTest, DropAndRenameGetExpandContractAdvice) {
  PlanJudgement j = JudgePlan(Facts(
      "ALTER TABLE orders DROP COLUMN note; ALTER TABLE orders RENAME COLUMN a TO b;"
      "ALTER TABLE orders RENAME TO purchases; DROP TABLE customers"));
  EXPECT_NE(Find(j, 0, "drop-column"), nullptr);
  EXPECT_NE(Find(j, 1, "rename-column"), nullptr);
  EXPECT_NE(Find(j, 2, "rename-table"), nullptr);
  EXPECT_NE(Find(j, 3, "drop-table"), nullptr);
  j = JudgePlan(Facts("CREATE TABLE t (a int); ALTER TABLE t DROP COLUMN a; DROP TABLE t"));
  EXPECT_EQ(Find(j, 1, "drop-column"), nullptr);
  EXPECT_EQ(Find(j, 2, "drop-table"), nullptr);
}

TEST(PlanRulesTest, JsonAndIntegerKeys) {
  PlanJudgement j = JudgePlan(Facts(
      "CREATE TABLE events (id serial PRIMARY KEY, payload json, meta jsonb);"
      "ALTER TABLE orders ADD COLUMN extra json"));
  EXPECT_NE(Find(j, 0, "prefer-jsonb"), nullptr);
  EXPECT_NE(Find(j, 0, "integer-key"), nullptr);
  EXPECT_NE(Find(j, 1, "prefer-jsonb"), nullptr);
  j = JudgePlan(Facts("CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, meta jsonb)"));
  EXPECT_TRUE(j.statements[0].findings.empty());
}

TEST(PlanRulesTest, AnExistingIntegerKeyFillingUp) {
  PlanFacts f = Facts("ALTER TABLE orders ADD COLUMN a int; ALTER TABLE orders ADD COLUMN b int", kBig, 1500000000);
  f.primary_keys["public.orders"] = {"id"};
  PlanJudgement j = JudgePlan(f);
  EXPECT_EQ(SeverityOf(j, 0, "integer-key"), Severity::kError);
  EXPECT_NE(Find(j, 0, "integer-key")->message.find("ALTER COLUMN id TYPE bigint"), std::string::npos);
  EXPECT_EQ(Find(j, 1, "integer-key"), nullptr);  // once per table
  f = Facts("ALTER TABLE orders ADD COLUMN a int", kBig, 600000000);
  f.primary_keys["public.orders"] = {"id"};
  EXPECT_EQ(SeverityOf(JudgePlan(f), 0, "integer-key"), Severity::kWarning);
  f = Facts("ALTER TABLE orders ADD COLUMN a int", kBig, 10000000);
  f.primary_keys["public.orders"] = {"id"};
  EXPECT_EQ(Find(JudgePlan(f), 0, "integer-key"), nullptr);
}

TEST(PlanRulesTest, ABlockLeftOpenAndARehearsalFailure) {
  PlanJudgement j = JudgePlan(Facts("BEGIN; SELECT 1"));
  EXPECT_NE(Find(j, 1, "transaction-not-closed"), nullptr);
  PlanFacts f = Facts("ALTER TABLE nope ADD COLUMN a int");
  f.statements[0].observation.rehearsed = true;
  f.statements[0].observation.error = "relation \"nope\" does not exist";
  j = JudgePlan(f);
  EXPECT_EQ(SeverityOf(j, 0, "rehearsal-failed"), Severity::kError);
  EXPECT_EQ(PlanExitCode(j, Severity::kError), 2);
}

TEST(PlanRulesTest, ExitCodeFollowsFailOn) {
  PlanJudgement j = JudgePlan(Facts("ALTER TABLE orders ADD COLUMN a int; ALTER TABLE orders ADD COLUMN b int", kTiny));
  EXPECT_EQ(HighestSeverity(j), Severity::kInfo);
  EXPECT_EQ(PlanExitCode(j, Severity::kError), 0);
  EXPECT_EQ(PlanExitCode(j, Severity::kWarning), 0);
  EXPECT_EQ(PlanExitCode(j, Severity::kInfo), 1);
}

TEST(PlanRulesTest, JsonHasTheDocumentedShape) {
  PlanFacts f = Facts("CREATE INDEX i ON orders (status)");
  PlanJudgement j = JudgePlan(f);
  Json out = PlanJson(f, j);
  EXPECT_EQ(out["target"], "prod");
  EXPECT_EQ(out["rehearsal"], "none");
  const Json& s = out["statements"][0];
  for (const char* key : {"file", "line", "sql", "locks", "rewrites", "findings", "safe_path", "estimated_lock_s",
                          "commands"})
    EXPECT_TRUE(s.contains(key)) << key;
  EXPECT_EQ(s["locks"][0]["relation"], "public.orders");
  EXPECT_EQ(s["locks"][0]["mode"], "ShareLock");
  EXPECT_EQ(s["safe_path"], "concurrent-index");
  EXPECT_EQ(s["findings"][0]["rule"], "create-index-not-concurrently");
  EXPECT_EQ(s["findings"][0]["severity"], "error");
  std::string text = PlanText(f, j, Severity::kError);
  EXPECT_NE(text.find("static rules only"), std::string::npos) << text;
  EXPECT_NE(text.find("CREATE INDEX CONCURRENTLY i ON orders (status)"), std::string::npos) << text;
}

}  // namespace
}  // namespace shadowcopy::workflow
