// The pure half of the rehearsal: statement classification, lock strength,
// relation-name candidates, the before/after diff and connection strings.
#include <string>
#include <vector>

#include "engine/workflow/conninfo.h"
#include "engine/workflow/observe.h"
#include "engine/workflow/plan_input.h"
#include "engine/workflow/statement_kind.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shadowcopy::workflow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(StatementKindTest, RehearsalTxnControl) {
  EXPECT_EQ(ClassifyForRehearsal("BEGIN").control, RehearsalTxnControl::kBegin);
  EXPECT_EQ(ClassifyForRehearsal("begin isolation level serializable").control, RehearsalTxnControl::kBegin);
  EXPECT_EQ(ClassifyForRehearsal("/* c */ START TRANSACTION").control, RehearsalTxnControl::kBegin);
  EXPECT_EQ(ClassifyForRehearsal("COMMIT").control, RehearsalTxnControl::kCommit);
  EXPECT_EQ(ClassifyForRehearsal("end").control, RehearsalTxnControl::kCommit);
  EXPECT_EQ(ClassifyForRehearsal("ROLLBACK").control, RehearsalTxnControl::kRollback);
  EXPECT_EQ(ClassifyForRehearsal("abort").control, RehearsalTxnControl::kRollback);
  EXPECT_EQ(ClassifyForRehearsal("ROLLBACK TO SAVEPOINT a").control, RehearsalTxnControl::kNone);
  EXPECT_EQ(ClassifyForRehearsal("COMMIT PREPARED 'x'").control, RehearsalTxnControl::kNone);
  EXPECT_EQ(ClassifyForRehearsal("SAVEPOINT a").control, RehearsalTxnControl::kNone);
  EXPECT_EQ(ClassifyForRehearsal("\"begin\"").control, RehearsalTxnControl::kNone);
  EXPECT_EQ(ClassifyForRehearsal("CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END").control,
            RehearsalTxnControl::kNone);
}

// plan's blocks and the rehearsal read transaction control the same way.
TEST(StatementKindTest, OneTxnClassifierForPlanAndRehearsal) {
  EXPECT_EQ(ClassifyTxnStatement("begin work"), TxnStatement::kBegin);
  EXPECT_EQ(ClassifyTxnStatement("COMMIT AND CHAIN"), TxnStatement::kCommit);
  EXPECT_EQ(ClassifyTxnStatement("-- x\nABORT"), TxnStatement::kRollback);
  EXPECT_EQ(ClassifyTxnStatement("PREPARE TRANSACTION 'x'"), TxnStatement::kPrepare);
  EXPECT_EQ(ClassifyTxnStatement("ROLLBACK PREPARED 'x'"), TxnStatement::kOther);
  EXPECT_EQ(ClassifyTxnStatement("PREPARE q AS SELECT 1"), TxnStatement::kOther);
  EXPECT_EQ(ClassifyTxnStatement("$$"), TxnStatement::kOther);
  for (const char* stays : {"ROLLBACK TO a", "ROLLBACK WORK TO SAVEPOINT a", "rollback transaction to a"}) {
    EXPECT_EQ(ClassifyTxnStatement(stays), TxnStatement::kOther) << stays;
    EXPECT_EQ(ClassifyTransactionControl(stays), TransactionControl::kNone) << stays;
    EXPECT_EQ(ClassifyForRehearsal(stays).control, RehearsalTxnControl::kNone) << stays;
  }
  EXPECT_EQ(ClassifyTransactionControl("PREPARE TRANSACTION 'x'"), TransactionControl::kEnd);
  EXPECT_EQ(ClassifyForRehearsal("PREPARE TRANSACTION 'x'").control, RehearsalTxnControl::kNone);
}

TEST(StatementKindTest, OutsideTransaction) {
  auto why = [](const char* sql) { return ClassifyForRehearsal(sql).why; };
  EXPECT_EQ(why("CREATE INDEX CONCURRENTLY i ON t (a)"), "CREATE INDEX CONCURRENTLY");
  EXPECT_EQ(why("create unique index concurrently if not exists i on t (a)"), "CREATE INDEX CONCURRENTLY");
  EXPECT_EQ(why("DROP INDEX CONCURRENTLY i"), "DROP INDEX CONCURRENTLY");
  EXPECT_EQ(why("REINDEX INDEX CONCURRENTLY i"), "REINDEX CONCURRENTLY");
  EXPECT_EQ(why("REINDEX (CONCURRENTLY) TABLE t"), "REINDEX CONCURRENTLY");
  EXPECT_EQ(why("VACUUM (ANALYZE) t"), "VACUUM");
  EXPECT_EQ(why("ALTER TABLE p DETACH PARTITION c CONCURRENTLY"), "DETACH PARTITION CONCURRENTLY");
  EXPECT_EQ(why("ALTER SYSTEM SET work_mem = '1MB'"), "ALTER SYSTEM");
  EXPECT_EQ(why("CREATE DATABASE d"), "CREATE DATABASE");
  EXPECT_TRUE(ClassifyForRehearsal("CREATE INDEX i ON t (a)").why.empty());
  EXPECT_TRUE(ClassifyForRehearsal("CREATE INDEX concurrently ON t (a)").outside_transaction);  // the server reads it so
  EXPECT_FALSE(ClassifyForRehearsal("CREATE INDEX \"concurrently\" ON t (a)").outside_transaction);
  EXPECT_FALSE(ClassifyForRehearsal("ALTER TABLE p DETACH PARTITION c").outside_transaction);
  EXPECT_FALSE(ClassifyForRehearsal("SELECT 'VACUUM'").outside_transaction);
  EXPECT_FALSE(ClassifyForRehearsal("REINDEX TABLE t").outside_transaction);
}

TEST(StatementKindTest, LockModeStrength) {
  EXPECT_EQ(LockModeStrength("AccessShareLock"), 1);
  EXPECT_EQ(LockModeStrength("ShareUpdateExclusiveLock"), 4);
  EXPECT_EQ(LockModeStrength("ShareRowExclusiveLock"), 6);
  EXPECT_EQ(LockModeStrength("AccessExclusiveLock"), 8);
  EXPECT_LT(LockModeStrength("RowExclusiveLock"), LockModeStrength("ShareLock"));
  EXPECT_EQ(LockModeStrength("SIReadLock"), 0);
}

TEST(StatementKindTest, CandidateRelationNames) {
  EXPECT_THAT(CandidateRelationNames("ALTER TABLE s.\"Or ders\" ADD c int -- public.x\n"),
              ElementsAre("ALTER", "TABLE", "s", "s.\"Or ders\"", "ADD", "c", "int"));
  EXPECT_THAT(CandidateRelationNames("UPDATE t SET a = 'u.v' WHERE t.a = 1"),
              ElementsAre("UPDATE", "t", "SET", "a", "WHERE", "t.a"));
  EXPECT_THAT(CandidateRelationNames("$$ unterminated"), IsEmpty());
  EXPECT_THAT(CandidateRelationNames("DROP TABLE U&\"d\\0061t\""), ElementsAre("DROP", "TABLE"));
}

CatalogSnapshot Base() {
  CatalogSnapshot s;
  s.relations[10] = {"public.orders", 'r', 100, 0};
  s.relations[11] = {"public.orders_pkey", 'i', 101, 10};
  s.relations[12] = {"public.items", 'r', 102, 0};
  s.columns[{10, 1}] = {"id", true};
  s.columns[{10, 2}] = {"total", false};
  s.constraints[50] = {10, "orders_pkey", 'p', true};
  return s;
}

TEST(DiffObservationTest, LocksStrongestPerVisibleRelation) {
  auto s = Base();
  Observation o;
  DiffObservation(s, s, s, {},
                  {{10, "AccessShareLock"}, {10, "AccessExclusiveLock"}, {12, "RowExclusiveLock"},
                   {999, "AccessExclusiveLock"} /* created in the transaction */},
                  false, &o);
  ASSERT_EQ(o.locks.size(), 2u);
  EXPECT_EQ(o.locks[0].relation, "public.items");
  EXPECT_EQ(o.locks[0].mode, "RowExclusiveLock");
  EXPECT_EQ(o.locks[1].relation, "public.orders");
  EXPECT_EQ(o.locks[1].mode, "AccessExclusiveLock");
  EXPECT_THAT(o.rewrites, IsEmpty());
}

TEST(DiffObservationTest, BaseLocksHideWhatWasHeldAlready) {
  auto s = Base();
  Observation o;
  DiffObservation(s, s, s, {{10, "AccessExclusiveLock"}, {12, "AccessShareLock"}},
                  {{10, "AccessExclusiveLock"}, {12, "ShareLock"}}, false, &o);
  ASSERT_EQ(o.locks.size(), 1u);
  EXPECT_EQ(o.locks[0].relation, "public.items");
  EXPECT_EQ(o.locks[0].mode, "ShareLock");
}

TEST(DiffObservationTest, RewritesDropsIndexesConstraintsNotNull) {
  auto before = Base();
  auto after = before;
  after.relations[10].filenode = 200;   // orders rewritten
  after.relations[11].filenode = 201;   // with its index
  after.relations.erase(12);            // items dropped
  after.relations[13] = {"public.orders_total_idx", 'i', 202, 10};
  after.relations[14] = {"public.fresh", 'r', 203, 0};
  after.relations[15] = {"public.fresh_idx", 'i', 204, 14};  // on a new table: not reported
  after.columns[{10, 2}].not_null = true;
  after.columns[{10, 3}] = {"added", true};  // a new column: not "became" NOT NULL
  after.constraints[51] = {10, "orders_total_check", 'c', true};
  after.constraints[52] = {10, "orders_fk", 'f', false};   // NOT VALID: no scan
  after.constraints[53] = {14, "fresh_check", 'c', true};  // on a new table
  Observation o;
  DiffObservation(before, before, after, {}, {}, false, &o);
  EXPECT_THAT(o.rewrites, ElementsAre("public.orders", "public.orders_pkey"));
  EXPECT_THAT(o.dropped, ElementsAre("public.items"));
  EXPECT_THAT(o.indexes_built, ElementsAre("public.orders_total_idx"));
  EXPECT_THAT(o.validated_constraints, ElementsAre("public.orders.orders_total_check"));
  EXPECT_THAT(o.columns_set_not_null, ElementsAre("public.orders.total"));

  Observation concurrent;
  DiffObservation(before, before, after, {}, {}, true, &concurrent);
  EXPECT_THAT(concurrent.indexes_built, IsEmpty());
}

TEST(DiffObservationTest, IndexRecreatedUnderItsNameIsARebuildOrNothing) {
  // ALTER COLUMN TYPE drops and re-creates the table's indexes under their
  // names: with new storage (int -> bigint) or the old one kept (text -> varchar).
  auto before = Base();
  before.relations[16] = {"public.orders_total_idx", 'i', 105, 10};
  auto after = before;
  after.relations[10].filenode = 200;
  after.relations.erase(11);
  after.relations[21] = {"public.orders_pkey", 'i', 201, 10};
  after.relations.erase(16);
  after.relations[22] = {"public.orders_total_idx", 'i', 105, 10};
  Observation o;
  DiffObservation(before, before, after, {}, {}, false, &o);
  EXPECT_THAT(o.rewrites, ElementsAre("public.orders", "public.orders_pkey"));
  EXPECT_THAT(o.dropped, IsEmpty());
  EXPECT_THAT(o.indexes_built, IsEmpty());
}

TEST(DiffObservationTest, OnlyRelationsVisibleAtTransactionStart) {
  // Inside a block: `fresh` was created by an earlier statement of the block,
  // then rewritten; nobody else could see it.
  auto visible = Base();
  auto before = visible;
  before.relations[14] = {"public.fresh", 'r', 203, 0};
  auto after = before;
  after.relations[14].filenode = 300;
  Observation o;
  DiffObservation(visible, before, after, {}, {{14, "AccessExclusiveLock"}}, false, &o);
  EXPECT_THAT(o.rewrites, IsEmpty());
  EXPECT_THAT(o.locks, IsEmpty());
}

TEST(ConninfoTest, WithDatabase) {
  auto c = WithDatabase("host=/tmp/x port=5433 dbname=prod", "scratch");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(*c, HasSubstr("host='/tmp/x'"));
  EXPECT_THAT(*c, HasSubstr("port='5433'"));
  EXPECT_THAT(*c, HasSubstr("dbname='scratch'"));
  EXPECT_THAT(*c, ::testing::Not(HasSubstr("prod")));
  auto uri = WithDatabase("postgresql://u@h:5/prod?sslmode=disable", "o'd\\b");
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_THAT(*uri, HasSubstr("user='u'"));
  EXPECT_THAT(*uri, HasSubstr("sslmode='disable'"));
  EXPECT_THAT(*uri, HasSubstr("dbname='o\\'d\\\\b'"));
  EXPECT_EQ(*WithDatabase("", "d"), "dbname='d'");
  EXPECT_EQ(WithDatabase("host=", "d").status().code(), absl::StatusCode::kOk);
  EXPECT_EQ(WithDatabase("nonsense", "d").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shadowcopy::workflow
