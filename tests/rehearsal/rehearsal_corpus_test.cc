// The rehearsal's observations checked against PostgreSQL's documentation: a
// corpus of statements, each on its own table of one target database, every
// expectation (the lock mode each table is held in, the relations rewritten,
// constraints validated, indexes built, columns made NOT NULL, relations
// dropped) taken from the PostgreSQL 15 documentation section cited beside
// it. The corpus runs as one migration, rehearsed on a scratch database of
// the test server (kDsn) and on a throwaway local server (kLocal).
//
// Doc sections cited:
//   [locks]  13.3.1 "Table-Level Locks" (explicit-locking.html)
//   [alter]  ALTER TABLE, Description ("An ACCESS EXCLUSIVE lock is acquired
//            unless explicitly noted") and the lock notes of each form
//   [notes]  ALTER TABLE, Notes (rewrites: "Adding a column with a volatile
//            DEFAULT or changing the type of an existing column will require
//            the entire table and its indexes to be rewritten. As an
//            exception, ... binary coercible ... a table rewrite is not
//            needed"; text <-> varchar "without rebuilding the indexes")
//   [9.2]    Release 9.2, "Reduce need to rebuild tables and indexes for
//            certain ALTER TABLE ... ALTER COLUMN TYPE operations": longer
//            varchar limit, more numeric precision (same scale): no rewrite
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "engine/workflow/rehearsal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/rehearsal/rehearsal_fixture.h"

namespace shadowcopy::rehearsal_test {
namespace {

using workflow::Observation;
using workflow::PlanFacts;
using workflow::RehearsalMode;
using workflow::RehearsalOptions;
using Locks = std::map<std::string, std::string>;
using Names = std::vector<std::string>;

constexpr const char* AE = "AccessExclusiveLock";
constexpr const char* EX = "ExclusiveLock";
constexpr const char* SRE = "ShareRowExclusiveLock";
constexpr const char* SH = "ShareLock";
constexpr const char* SUE = "ShareUpdateExclusiveLock";
constexpr const char* RE = "RowExclusiveLock";
constexpr const char* RS = "RowShareLock";

struct Case {
  const char* doc;    // where the expectation comes from
  const char* table;  // created as `CREATE TABLE <table> (<kColumns>)` unless "" (setup makes its own)
  const char* setup;  // more SQL on the target before the rehearsal
  const char* sql;    // the statement (BEGIN ... COMMIT blocks: several)
  Locks locks;        // every table locked, with the mode; indexes when listed
  Names rewrites = {};
  Names validated = {};
  Names indexes = {};
  Names not_null = {};
  Names dropped = {};
  const char* note = "";  // a substring of the observation's note
};

constexpr const char* kColumns = "id int PRIMARY KEY, v varchar(50), n numeric(10,2), t text, i int, j int";

const std::vector<Case>& Corpus() {
  static const std::vector<Case> corpus = {
      // ---- ADD COLUMN ----
      {"[alter] ADD COLUMN: ACCESS EXCLUSIVE; [notes] no default: no rewrite", "add_col", "",
       "ALTER TABLE add_col ADD COLUMN x int", {{"public.add_col", AE}}},
      {"[notes] a non-volatile DEFAULT is stored in the catalog: no rewrite", "add_col_const", "",
       "ALTER TABLE add_col_const ADD COLUMN x int NOT NULL DEFAULT 0", {{"public.add_col_const", AE}}},
      {"[notes] now() is STABLE, not volatile: no rewrite", "add_col_now", "",
       "ALTER TABLE add_col_now ADD COLUMN x timestamptz DEFAULT now()", {{"public.add_col_now", AE}}},
      {"[notes] a volatile DEFAULT rewrites the table and its indexes", "add_col_random", "",
       "ALTER TABLE add_col_random ADD COLUMN x float8 DEFAULT random()", {{"public.add_col_random", AE}},
       {"public.add_col_random", "public.add_col_random_pkey"}},
      {"[notes] clock_timestamp() is volatile: rewrite", "add_col_clock", "",
       "ALTER TABLE add_col_clock ADD COLUMN x timestamptz DEFAULT clock_timestamp()", {{"public.add_col_clock", AE}},
       {"public.add_col_clock", "public.add_col_clock_pkey"}},
      {"[notes] bigserial's default nextval() is volatile: rewrite", "add_col_serial", "",
       "ALTER TABLE add_col_serial ADD COLUMN x bigserial", {{"public.add_col_serial", AE}},
       {"public.add_col_serial", "public.add_col_serial_pkey"}},
      {"[notes] an identity column is filled from its sequence (volatile): rewrite", "add_col_identity", "",
       "ALTER TABLE add_col_identity ADD COLUMN x bigint GENERATED ALWAYS AS IDENTITY",
       {{"public.add_col_identity", AE}}, {"public.add_col_identity", "public.add_col_identity_pkey"}},
      {"CREATE TABLE, GENERATED ALWAYS AS ... STORED: computed when written, so for every existing row: rewrite",
       "add_col_generated", "", "ALTER TABLE add_col_generated ADD COLUMN x int GENERATED ALWAYS AS (i * 2) STORED",
       {{"public.add_col_generated", AE}}, {"public.add_col_generated", "public.add_col_generated_pkey"}},
      // ---- DROP COLUMN, RENAME, SET SCHEMA ----
      {"[notes] DROP COLUMN does not physically remove the column: no rewrite", "drop_col", "",
       "ALTER TABLE drop_col DROP COLUMN t", {{"public.drop_col", AE}}},
      {"[alter] RENAME COLUMN: ACCESS EXCLUSIVE", "rename_col", "", "ALTER TABLE rename_col RENAME COLUMN t TO t2",
       {{"public.rename_col", AE}}},
      {"[alter] RENAME TO: ACCESS EXCLUSIVE", "rename_tab", "", "ALTER TABLE rename_tab RENAME TO renamed_tab",
       {{"public.rename_tab", AE}}},
      {"[alter] SET SCHEMA: ACCESS EXCLUSIVE", "set_schema", "CREATE SCHEMA other",
       "ALTER TABLE set_schema SET SCHEMA other", {{"public.set_schema", AE}}},
      // ---- ALTER COLUMN TYPE ----
      {"[9.2] a longer varchar limit: no rewrite", "type_varchar_wider", "",
       "ALTER TABLE type_varchar_wider ALTER COLUMN v TYPE varchar(100)", {{"public.type_varchar_wider", AE}}},
      {"[notes] varchar to text is binary coercible: no rewrite", "type_varchar_text", "",
       "ALTER TABLE type_varchar_text ALTER COLUMN v TYPE text", {{"public.type_varchar_text", AE}}},
      {"[notes] text to varchar keeps the index: neither table nor index rewritten", "type_text_varchar",
       "CREATE INDEX type_text_varchar_t_idx ON type_text_varchar (t)",
       "ALTER TABLE type_text_varchar ALTER COLUMN t TYPE varchar", {{"public.type_text_varchar", AE}}},
      {"[notes] int to bigint is not binary coercible: table and indexes rewritten", "type_int_bigint", "",
       "ALTER TABLE type_int_bigint ALTER COLUMN id TYPE bigint", {{"public.type_int_bigint", AE}},
       {"public.type_int_bigint", "public.type_int_bigint_pkey"}},
      {"[9.2] more numeric precision, same scale: no rewrite", "type_numeric_wider", "",
       "ALTER TABLE type_numeric_wider ALTER COLUMN n TYPE numeric(12,2)", {{"public.type_numeric_wider", AE}}},
      {"[9.2] only a precision increase is exempt; a scale change rewrites", "type_numeric_scale", "",
       "ALTER TABLE type_numeric_scale ALTER COLUMN n TYPE numeric(12,4)", {{"public.type_numeric_scale", AE}},
       {"public.type_numeric_scale", "public.type_numeric_scale_pkey"}},
      {"[9.2] only a longer limit is exempt; a shorter one rewrites", "type_varchar_narrower", "",
       "ALTER TABLE type_varchar_narrower ALTER COLUMN v TYPE varchar(20)", {{"public.type_varchar_narrower", AE}},
       {"public.type_varchar_narrower", "public.type_varchar_narrower_pkey"}},
      {"[notes] int to text is a conversion: rewrite", "type_int_text", "",
       "ALTER TABLE type_int_text ALTER COLUMN i TYPE text USING i::text", {{"public.type_int_text", AE}},
       {"public.type_int_text", "public.type_int_text_pkey"}},
      // ---- defaults, NOT NULL, column settings ----
      {"[alter] SET DEFAULT: ACCESS EXCLUSIVE, no rewrite (applies to later INSERTs only)", "set_default", "",
       "ALTER TABLE set_default ALTER COLUMN i SET DEFAULT 5", {{"public.set_default", AE}}},
      {"[alter] DROP DEFAULT: ACCESS EXCLUSIVE", "drop_default", "ALTER TABLE drop_default ALTER i SET DEFAULT 1",
       "ALTER TABLE drop_default ALTER COLUMN i DROP DEFAULT", {{"public.drop_default", AE}}},
      {"[alter] SET NOT NULL: ACCESS EXCLUSIVE and a scan of the table", "set_not_null", "",
       "ALTER TABLE set_not_null ALTER COLUMN i SET NOT NULL", {{"public.set_not_null", AE}}, {}, {}, {},
       {"public.set_not_null.i"}},
      {"[alter] DROP NOT NULL: ACCESS EXCLUSIVE", "drop_not_null", "ALTER TABLE drop_not_null ALTER i SET NOT NULL",
       "ALTER TABLE drop_not_null ALTER COLUMN i DROP NOT NULL", {{"public.drop_not_null", AE}}},
      {"[alter] SET STATISTICS acquires a SHARE UPDATE EXCLUSIVE lock", "set_statistics", "",
       "ALTER TABLE set_statistics ALTER COLUMN i SET STATISTICS 500", {{"public.set_statistics", SUE}}},
      {"[alter] SET STORAGE: ACCESS EXCLUSIVE (no lock noted), no rewrite", "set_storage", "",
       "ALTER TABLE set_storage ALTER COLUMN t SET STORAGE EXTERNAL", {{"public.set_storage", AE}}},
      {"[alter] SET (storage_parameter): fillfactor takes SHARE UPDATE EXCLUSIVE; does not rewrite",
       "set_fillfactor", "", "ALTER TABLE set_fillfactor SET (fillfactor = 70)", {{"public.set_fillfactor", SUE}}},
      {"[alter] SET LOGGED/UNLOGGED rewrites the table (table_rewrite event reason 0x01)", "set_unlogged", "",
       "ALTER TABLE set_unlogged SET UNLOGGED", {{"public.set_unlogged", AE}},
       {"public.set_unlogged", "public.set_unlogged_pkey"}},
      {"[alter] REPLICA IDENTITY: ACCESS EXCLUSIVE", "replica_identity", "",
       "ALTER TABLE replica_identity REPLICA IDENTITY FULL", {{"public.replica_identity", AE}}},
      {"[alter] ENABLE ROW LEVEL SECURITY: ACCESS EXCLUSIVE", "enable_rls", "",
       "ALTER TABLE enable_rls ENABLE ROW LEVEL SECURITY", {{"public.enable_rls", AE}}},
      {"[alter] CLUSTER ON acquires a SHARE UPDATE EXCLUSIVE lock", "cluster_on", "",
       "ALTER TABLE cluster_on CLUSTER ON cluster_on_pkey", {{"public.cluster_on", SUE}}},
      {"[alter] DISABLE TRIGGER acquires a SHARE ROW EXCLUSIVE lock", "disable_trigger",
       "CREATE TRIGGER disable_trigger_trg BEFORE UPDATE ON disable_trigger FOR EACH ROW EXECUTE FUNCTION noop()",
       "ALTER TABLE disable_trigger DISABLE TRIGGER disable_trigger_trg", {{"public.disable_trigger", SRE}}},
      // ---- constraints ----
      {"[alter] ADD CHECK: ACCESS EXCLUSIVE and a scan to verify existing rows", "add_check", "",
       "ALTER TABLE add_check ADD CONSTRAINT add_check_i CHECK (i > 0)", {{"public.add_check", AE}}, {},
       {"public.add_check.add_check_i"}},
      {"[alter] ADD ... NOT VALID: the scan is skipped", "add_check_nv", "",
       "ALTER TABLE add_check_nv ADD CONSTRAINT add_check_nv_i CHECK (i > 0) NOT VALID", {{"public.add_check_nv", AE}}},
      {"[alter] VALIDATE CONSTRAINT acquires a SHARE UPDATE EXCLUSIVE lock", "validate_check",
       "ALTER TABLE validate_check ADD CONSTRAINT validate_check_i CHECK (i > 0) NOT VALID",
       "ALTER TABLE validate_check VALIDATE CONSTRAINT validate_check_i", {{"public.validate_check", SUE}}},
      {"[alter] a foreign key: SHARE ROW EXCLUSIVE on the referenced table and, as for CREATE TRIGGER [locks], on "
       "the referencing one; a validating scan",
       "add_fk", "", "ALTER TABLE add_fk ADD CONSTRAINT add_fk_j FOREIGN KEY (j) REFERENCES parent (id)",
       {{"public.add_fk", SRE}, {"public.parent", SRE}}, {}, {"public.add_fk.add_fk_j"}},
      {"[alter] a foreign key NOT VALID: the same locks, no scan", "add_fk_nv", "",
       "ALTER TABLE add_fk_nv ADD CONSTRAINT add_fk_nv_j FOREIGN KEY (j) REFERENCES parent (id) NOT VALID",
       {{"public.add_fk_nv", SRE}, {"public.parent", SRE}}},
      {"[alter] VALIDATE of a foreign key: SHARE UPDATE EXCLUSIVE, and ROW SHARE on the referenced table",
       "validate_fk", "ALTER TABLE validate_fk ADD CONSTRAINT validate_fk_j FOREIGN KEY (j) REFERENCES parent (id) NOT VALID",
       "ALTER TABLE validate_fk VALIDATE CONSTRAINT validate_fk_j", {{"public.validate_fk", SUE}, {"public.parent", RS}}},
      {"[alter] ADD PRIMARY KEY builds a unique index and sets NOT NULL on its columns", "",
       "CREATE TABLE add_pk (id int, v text)", "ALTER TABLE add_pk ADD PRIMARY KEY (id)", {{"public.add_pk", AE}}, {},
       {}, {"public.add_pk_pkey"}, {"public.add_pk.id"}},
      {"[alter] ADD UNIQUE builds a unique index under ACCESS EXCLUSIVE", "add_unique", "",
       "ALTER TABLE add_unique ADD CONSTRAINT add_unique_i UNIQUE (i)", {{"public.add_unique", AE}}, {}, {},
       {"public.add_unique_i"}},
      {"[alter] ADD ... USING INDEX: the existing index becomes the constraint, nothing built",
       "add_unique_using", "CREATE UNIQUE INDEX add_unique_using_i ON add_unique_using (i)",
       "ALTER TABLE add_unique_using ADD CONSTRAINT add_unique_using_i UNIQUE USING INDEX add_unique_using_i",
       {{"public.add_unique_using", AE}}},
      {"[alter] DROP CONSTRAINT: ACCESS EXCLUSIVE", "drop_constraint",
       "ALTER TABLE drop_constraint ADD CONSTRAINT drop_constraint_i CHECK (i > 0)",
       "ALTER TABLE drop_constraint DROP CONSTRAINT drop_constraint_i", {{"public.drop_constraint", AE}}},
      // ---- partitions ----
      {"[alter] ATTACH PARTITION: SHARE UPDATE EXCLUSIVE on the parent, ACCESS EXCLUSIVE on the partition", "",
       "CREATE TABLE attach_p (id int, k int) PARTITION BY RANGE (k); CREATE TABLE attach_c (id int, k int)",
       "ALTER TABLE attach_p ATTACH PARTITION attach_c FOR VALUES FROM (0) TO (10)",
       {{"public.attach_p", SUE}, {"public.attach_c", AE}}},
      {"[alter] DETACH PARTITION without CONCURRENTLY: ACCESS EXCLUSIVE on parent and partition", "",
       "CREATE TABLE detach_p (id int, k int) PARTITION BY RANGE (k);"
       " CREATE TABLE detach_c PARTITION OF detach_p FOR VALUES FROM (0) TO (10)",
       "ALTER TABLE detach_p DETACH PARTITION detach_c", {{"public.detach_p", AE}, {"public.detach_c", AE}}},
      // ---- indexes ----
      {"[locks] SHARE: acquired by CREATE INDEX (without CONCURRENTLY)", "create_index", "",
       "CREATE INDEX create_index_i ON create_index (i)", {{"public.create_index", SH}}, {}, {},
       {"public.create_index_i"}},
      {"[locks] CREATE UNIQUE INDEX: SHARE", "create_unique", "", "CREATE UNIQUE INDEX create_unique_i ON create_unique (i)",
       {{"public.create_unique", SH}}, {}, {}, {"public.create_unique_i"}},
      {"CREATE INDEX, Building Indexes Concurrently: cannot run in a transaction block (locks not observable)",
       "create_conc", "", "CREATE INDEX CONCURRENTLY create_conc_i ON create_conc (i)", {}, {}, {}, {}, {}, {},
       "cannot be observed"},
      {"DROP INDEX: a normal DROP INDEX acquires an ACCESS EXCLUSIVE lock on the table", "drop_index",
       "CREATE INDEX drop_index_i ON drop_index (i)", "DROP INDEX drop_index_i",
       {{"public.drop_index", AE}, {"public.drop_index_i", AE}}, {}, {}, {}, {}, {"public.drop_index_i"}},
      {"DROP INDEX CONCURRENTLY: cannot run in a transaction block", "drop_conc",
       "CREATE INDEX drop_conc_i ON drop_conc (i)", "DROP INDEX CONCURRENTLY drop_conc_i", {}, {}, {}, {}, {},
       {"public.drop_conc_i"}, "cannot be observed"},
      {"REINDEX: locks out writes (SHARE on the table) and ACCESS EXCLUSIVE on the index; the index is rebuilt",
       "reindex_index", "CREATE INDEX reindex_index_i ON reindex_index (i)", "REINDEX INDEX reindex_index_i",
       {{"public.reindex_index", SH}, {"public.reindex_index_i", AE}}, {"public.reindex_index_i"}},
      {"REINDEX TABLE: every index of the table rebuilt, SHARE on the table", "reindex_table", "",
       "REINDEX TABLE reindex_table", {{"public.reindex_table", SH}}, {"public.reindex_table_pkey"}},
      {"ALTER INDEX: RENAME of an index takes SHARE UPDATE EXCLUSIVE", "rename_index",
       "CREATE INDEX rename_index_i ON rename_index (i)", "ALTER INDEX rename_index_i RENAME TO rename_index_i2",
       {{"public.rename_index_i", SUE}}},
      // ---- table maintenance ----
      {"VACUUM: FULL writes a new copy of the table; cannot run in a transaction block", "vacuum_full", "",
       "VACUUM FULL vacuum_full", {}, {"public.vacuum_full", "public.vacuum_full_pkey"}, {}, {}, {}, {},
       "cannot be observed"},
      {"[locks] ACCESS EXCLUSIVE: CLUSTER; CLUSTER rewrites the table in index order", "cluster_t", "",
       "CLUSTER cluster_t USING cluster_t_pkey", {{"public.cluster_t", AE}},
       {"public.cluster_t", "public.cluster_t_pkey"}},
      {"[locks] ACCESS EXCLUSIVE: TRUNCATE (a new, empty file: relfilenode changes)", "truncate_t", "",
       "TRUNCATE truncate_t", {{"public.truncate_t", AE}}, {"public.truncate_t", "public.truncate_t_pkey"}},
      {"[locks] SHARE UPDATE EXCLUSIVE: ANALYZE", "analyze_t", "", "ANALYZE analyze_t", {{"public.analyze_t", SUE}}},
      {"[locks] SHARE UPDATE EXCLUSIVE: CREATE STATISTICS", "create_stats", "",
       "CREATE STATISTICS create_stats_s ON i, j FROM create_stats", {{"public.create_stats", SUE}}},
      {"[locks] SHARE UPDATE EXCLUSIVE: COMMENT ON", "comment_on", "", "COMMENT ON TABLE comment_on IS 'x'",
       {{"public.comment_on", SUE}}},
      {"[locks] SHARE ROW EXCLUSIVE: CREATE TRIGGER", "create_trigger", "",
       "CREATE TRIGGER create_trigger_trg BEFORE INSERT ON create_trigger FOR EACH ROW EXECUTE FUNCTION noop()",
       {{"public.create_trigger", SRE}}},
      {"[locks] ACCESS EXCLUSIVE: REFRESH MATERIALIZED VIEW (without CONCURRENTLY); a new heap", "",
       "CREATE MATERIALIZED VIEW refresh_mv AS SELECT id FROM parent", "REFRESH MATERIALIZED VIEW refresh_mv",
       {{"public.refresh_mv", AE}, {"public.parent", "AccessShareLock"}}, {"public.refresh_mv"}},
      {"LOCK: IN EXCLUSIVE MODE takes EXCLUSIVE", "lock_table", "", "LOCK TABLE lock_table IN EXCLUSIVE MODE",
       {{"public.lock_table", EX}}},
      // ---- data ----
      {"[locks] ROW EXCLUSIVE: UPDATE", "update_t", "", "UPDATE update_t SET i = 1", {{"public.update_t", RE}}},
      {"[locks] ROW EXCLUSIVE: DELETE", "delete_t", "", "DELETE FROM delete_t WHERE i < 0", {{"public.delete_t", RE}}},
      {"[locks] ROW EXCLUSIVE: INSERT", "insert_t", "", "INSERT INTO insert_t (id) VALUES (1)", {{"public.insert_t", RE}}},
      {"[locks] ROW SHARE: SELECT FOR UPDATE", "select_for_update", "", "SELECT * FROM select_for_update FOR UPDATE",
       {{"public.select_for_update", RS}}},
      // ---- DROP / CREATE TABLE ----
      {"[locks] ACCESS EXCLUSIVE: DROP TABLE; the table and its indexes are gone", "drop_table", "",
       "DROP TABLE drop_table", {{"public.drop_table", AE}}, {}, {}, {}, {}, {"public.drop_table", "public.drop_table_pkey"}},
      {"CREATE TABLE with REFERENCES adds triggers on the referenced table: SHARE ROW EXCLUSIVE there [locks]", "",
       "", "CREATE TABLE create_child (id int PRIMARY KEY, p int REFERENCES parent (id))", {{"public.parent", SRE}}},
      // ---- quoting ----
      {"[notes] int to bigint rewrites; names quoted where needed", "",
       "CREATE SCHEMA \"odd schema\"; CREATE TABLE \"odd schema\".\"Mixed Case\" (id int PRIMARY KEY)",
       "ALTER TABLE \"odd schema\".\"Mixed Case\" ALTER COLUMN id TYPE bigint", {{"\"odd schema\".\"Mixed Case\"", AE}},
       {"\"odd schema\".\"Mixed Case\"", "\"odd schema\".\"Mixed Case_pkey\""}},
  };
  return corpus;
}

// A transaction block: its statements observed one by one, locks held since
// its BEGIN accumulating ([locks]: "Once acquired, a lock is normally held
// until the end of the transaction").
constexpr const char* kBlock =
    "BEGIN;\n"
    "ALTER TABLE block ADD COLUMN x int;\n"
    "UPDATE block SET x = 1;\n"
    "ALTER TABLE block ALTER COLUMN x SET NOT NULL;\n"
    "CREATE INDEX block_x_idx ON block (x);\n"
    "CREATE TABLE block_new (id int PRIMARY KEY);\n"
    "ALTER TABLE block_new ALTER COLUMN id TYPE bigint;\n"
    "COMMIT;\n";

class CorpusTest : public RehearsalTest, public ::testing::WithParamInterface<RehearsalMode> {
 protected:
  void SetUpTarget() {
    Exec("CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$");
    Exec("CREATE TABLE parent (id int PRIMARY KEY)");
    Exec(std::string("CREATE TABLE block (") + kColumns + ")");
    for (const auto& c : Corpus()) {
      if (*c.table) Exec(std::string("CREATE TABLE ") + c.table + " (" + kColumns + ")");
      if (*c.setup) Exec(c.setup);
    }
  }

  std::set<std::string> TargetTables() {
    auto r = conn_->Exec(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm')"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema')");
    EXPECT_TRUE(r.ok());
    std::set<std::string> out;
    for (int i = 0; r.ok() && i < r->Rows(); ++i) out.insert(r->GetString(i, 0));
    return out;
  }
};

std::string Describe(const Observation& o) {
  std::vector<std::string> locks;
  for (const auto& l : o.locks) locks.push_back(l.relation + "=" + l.mode);
  return "locks {" + absl::StrJoin(locks, ", ") + "} rewrites {" + absl::StrJoin(o.rewrites, ", ") +
         "} validated {" + absl::StrJoin(o.validated_constraints, ", ") + "} indexes {" +
         absl::StrJoin(o.indexes_built, ", ") + "} not_null {" + absl::StrJoin(o.columns_set_not_null, ", ") +
         "} dropped {" + absl::StrJoin(o.dropped, ", ") + "} note '" + o.note + "' error '" +
         o.error.value_or("") + "'";
}

void ExpectLocks(const Observation& o, const Locks& expected, const std::set<std::string>& tables) {
  Locks observed;
  for (const auto& l : o.locks) observed[l.relation] = l.mode;
  for (const auto& [rel, mode] : expected) {
    auto it = observed.find(rel);
    if (it == observed.end()) {
      ADD_FAILURE() << "no lock observed on " << rel << " (expected " << mode << ")";
    } else {
      EXPECT_EQ(it->second, mode) << "on " << rel;
    }
  }
  for (const auto& [rel, mode] : observed)
    if (tables.count(rel) && !expected.count(rel)) ADD_FAILURE() << "unexpected " << mode << " on table " << rel;
}

TEST_P(CorpusTest, ObservationsMatchTheDocumentation) {
  ASSERT_NO_FATAL_FAILURE(SetUpTarget());
  std::set<std::string> tables = TargetTables();
  std::string before = SchemaFingerprint(*conn_);
  std::string script;
  for (const auto& c : Corpus()) script += std::string(c.sql) + ";\n";
  script += kBlock;
  auto statements = Statements(script);
  ASSERT_EQ(statements.size(), Corpus().size() + 8);

  RehearsalOptions options;
  options.mode = GetParam();
  options.rehearsal_dsn = StagingDsn();
  auto start = std::chrono::steady_clock::now();
  auto facts = workflow::Rehearse(TargetDsn(), statements, options);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(facts.ok()) << facts.status();
  std::printf("rehearsal of %zu statements (%s): %.2f s\n", statements.size(), facts->rehearsal.c_str(), took);
  EXPECT_EQ(facts->rehearsal, GetParam() == RehearsalMode::kLocal ? "local" : "dsn");
  EXPECT_EQ(facts->target, db_);
  EXPECT_GE(facts->server_version_num, 150000);
  EXPECT_GT(facts->rewrite_bytes_per_s, 0);
  EXPECT_GT(facts->rehearsal_s, 0);
  ASSERT_EQ(facts->statements.size(), statements.size());

  for (size_t i = 0; i < Corpus().size(); ++i) {
    const Case& c = Corpus()[i];
    const Observation& o = facts->statements[i].observation;
    SCOPED_TRACE(std::string(c.sql) + "\n  documented: " + c.doc + "\n  observed: " + Describe(o));
    EXPECT_EQ(facts->statements[i].statement.sql, c.sql);
    EXPECT_TRUE(o.rehearsed);
    EXPECT_FALSE(o.error.has_value());
    ExpectLocks(o, c.locks, tables);
    EXPECT_THAT(o.rewrites, ::testing::UnorderedElementsAreArray(c.rewrites));
    EXPECT_THAT(o.validated_constraints, ::testing::UnorderedElementsAreArray(c.validated));
    EXPECT_THAT(o.indexes_built, ::testing::UnorderedElementsAreArray(c.indexes));
    EXPECT_THAT(o.columns_set_not_null, ::testing::UnorderedElementsAreArray(c.not_null));
    EXPECT_THAT(o.dropped, ::testing::UnorderedElementsAreArray(c.dropped));
    EXPECT_THAT(o.note, ::testing::HasSubstr(c.note));
  }

  // The block: BEGIN, four statements on `block`, two on a table it creates, COMMIT.
  const auto* s = &facts->statements[Corpus().size()];
  for (int k = 0; k < 8; ++k) {
    SCOPED_TRACE(s[k].statement.sql + "\n  observed: " + Describe(s[k].observation));
    EXPECT_TRUE(s[k].statement.in_transaction_block);
    EXPECT_TRUE(s[k].observation.rehearsed);
    EXPECT_THAT(s[k].observation.rewrites, ::testing::IsEmpty());
    Locks expected;
    if (k >= 1 && k <= 6) expected["public.block"] = AE;  // held since the ADD COLUMN
    ExpectLocks(s[k].observation, expected, tables);
  }
  EXPECT_THAT(s[3].observation.columns_set_not_null, ::testing::ElementsAre("public.block.x"));
  EXPECT_THAT(s[4].observation.indexes_built, ::testing::ElementsAre("public.block_x_idx"));
  EXPECT_THAT(s[6].observation.indexes_built, ::testing::IsEmpty());  // on a table nobody else sees yet

  // Production's sizes of what was touched, production itself unchanged.
  EXPECT_TRUE(facts->sizes.count("public.add_col"));
  EXPECT_TRUE(facts->sizes.count("public.parent"));
  EXPECT_TRUE(facts->sizes.count("\"odd schema\".\"Mixed Case\""));
  EXPECT_EQ(SchemaFingerprint(*conn_), before);
}

// A small schema on a local throwaway server: the common case, timed.
using LocalTest = RehearsalTest;

TEST_F(LocalTest, SmallSchema) {
  Exec("CREATE TABLE customers (id int PRIMARY KEY, name text);"
       " CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2));"
       " CREATE TABLE items (id int PRIMARY KEY, order_id int, sku varchar(50));"
       " INSERT INTO orders SELECT g, NULL, g FROM generate_series(1, 1000) g; ANALYZE orders");
  RehearsalOptions options;  // kLocal
  struct rusage self0, children0, self1, children1;
  getrusage(RUSAGE_SELF, &self0);
  getrusage(RUSAGE_CHILDREN, &children0);
  auto facts = workflow::Rehearse(TargetDsn(),
                                  Statements("ALTER TABLE orders ALTER COLUMN id TYPE bigint;\n"
                                             "CREATE INDEX items_order_idx ON items (order_id);\n"
                                             "ALTER TABLE items ALTER COLUMN sku TYPE varchar(100);\n"),
                                  options);
  ASSERT_TRUE(facts.ok()) << facts.status();
  getrusage(RUSAGE_SELF, &self1);
  getrusage(RUSAGE_CHILDREN, &children1);
  auto cpu = [](const struct rusage& a, const struct rusage& b) {
    return (b.ru_utime.tv_sec - a.ru_utime.tv_sec) + (b.ru_stime.tv_sec - a.ru_stime.tv_sec) +
           ((b.ru_utime.tv_usec - a.ru_utime.tv_usec) + (b.ru_stime.tv_usec - a.ru_stime.tv_usec)) / 1e6;
  };
  // CPU: ours plus every child's (initdb, pg_dump, psql, the server and its
  // backends): the wall time on an idle machine, about.
  std::printf("rehearsal of 3 statements on 3 tables (local): %.2f s wall, %.2f s CPU\n", facts->rehearsal_s,
              cpu(self0, self1) + cpu(children0, children1));
  ASSERT_EQ(facts->statements.size(), 3u);
  // [notes] int -> bigint rewrites the table and its index; the foreign key's
  // referenced table is locked too ([alter]: ALTER TYPE re-validates it).
  EXPECT_THAT(facts->statements[0].observation.rewrites, ::testing::ElementsAre("public.orders", "public.orders_pkey"));
  EXPECT_THAT(facts->statements[1].observation.indexes_built, ::testing::ElementsAre("public.items_order_idx"));
  EXPECT_THAT(facts->statements[2].observation.rewrites, ::testing::IsEmpty());  // [9.2]
  EXPECT_EQ(facts->sizes.at("public.orders").rows, 1000);
  EXPECT_EQ(facts->sizes.at("public.items").rows, 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, CorpusTest, ::testing::Values(RehearsalMode::kDsn, RehearsalMode::kLocal),
                         [](const auto& info) { return info.param == RehearsalMode::kLocal ? "Local" : "Dsn"; });

}  // namespace
}  // namespace shadowcopy::rehearsal_test
