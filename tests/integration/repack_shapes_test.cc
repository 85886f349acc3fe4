// Acceptance suite: a plain rebuild (`--table T --execute`, no --alter) of the
// table shapes a long-lived database accumulates must leave everything but
// the table's physical identity as it was. Each shape is fingerprinted before
// and after: its contents, `pg_dump --schema-only -t` of the table, and a
// catalog listing of what pg_dump does not show or shows only indirectly
// (index validity, cluster mark, tablespaces and storage parameters,
// constraints, attribute options, triggers, statistics objects, sequence
// state). The shapes are the ones a table-rebuilding tool's own regression
// suite checks (dropped columns before indexed ones, clustered indexes,
// constraint-backed indexes with storage parameters and tablespaces, TOAST
// options, column storage and compression, ...), plus identity, deferrable
// and exclusion constraints. Where an ALTER applies, the tool's `int ->
// bigint` is compared with a plain ALTER TABLE on an identical clone.
//
// Physical identity is left out: oids, attribute numbers, whether a TOAST
// table exists (none is made for a table without TOASTable columns) and the
// per-attribute version option (pg_attver) this server records.
//
// Tablespaces are in-place ones (allow_in_place_tablespaces), named after the
// test's database and dropped at teardown: they are cluster-wide.
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "common/quote.h"
#include "fmt/args.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace shadowcopy::it {
namespace {

std::string PgDumpBinary() {
  const char* fixed = "/usr/lib/postgresql/15/bin/pg_dump";
  return access(fixed, X_OK) == 0 ? fixed : "pg_dump";
}

struct Fingerprint {
  std::string contents;
  std::string dump;
  std::string catalog;
};

// What the catalog says about the table, one line per object, independent of
// attribute numbers and oids. $1 is the table (qualified, quoted).
constexpr const char* kCatalogSql = R"sql(
WITH t AS (SELECT $1::regclass::oid AS oid)
SELECT string_agg(line, E'\n' ORDER BY line) FROM (
SELECT 'table persistence=' || c.relpersistence::text || ' replident=' || c.relreplident::text ||
       ' tablespace=' || coalesce(ts.spcname, '-') || ' options=' || coalesce(c.reloptions::text, '-') ||
       ' toast_options=' || coalesce(tt.reloptions::text, '-') ||
       ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity || ' owner=' || pg_get_userbyid(c.relowner) ||
       ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '-') AS line
  FROM t JOIN pg_class c ON c.oid = t.oid LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
  LEFT JOIN pg_class tt ON tt.oid = c.reltoastrelid
UNION ALL
SELECT 'column ' || lpad((row_number() OVER (ORDER BY a.attnum))::text, 3, '0') || ' ' || a.attname || ' ' ||
       format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull ||
       ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-') || ' identity=' || a.attidentity::text ||
       ' generated=' || a.attgenerated::text || ' storage=' || a.attstorage::text || ' compression=' || a.attcompression::text ||
       ' statistics=' || a.attstattarget || ' options=' || coalesce((SELECT array_agg(o ORDER BY o) FROM unnest(a.attoptions) o
         WHERE o NOT LIKE 'pg\_attver=%')::text, '-') ||
       ' collation=' || coalesce(a.attcollation::regcollation::text, '-') || ' acl=' || coalesce(a.attacl::text, '-')
  FROM t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
UNION ALL
SELECT 'index ' || ic.relname || ': ' || pg_get_indexdef(i.indexrelid) || ' valid=' || i.indisvalid ||
       ' ready=' || i.indisready || ' clustered=' || i.indisclustered || ' replident=' || i.indisreplident ||
       ' immediate=' || i.indimmediate || ' tablespace=' || coalesce(ts.spcname, '-') ||
       ' options=' || coalesce(ic.reloptions::text, '-') ||
       ' comment=' || coalesce(obj_description(ic.oid, 'pg_class'), '-')
  FROM t JOIN pg_index i ON i.indrelid = t.oid JOIN pg_class ic ON ic.oid = i.indexrelid
  LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace
UNION ALL
SELECT 'constraint ' || con.conname || ': ' || con.contype::text || ' ' || pg_get_constraintdef(con.oid) ||
       ' deferrable=' || con.condeferrable || ' deferred=' || con.condeferred || ' validated=' || con.convalidated ||
       ' noinherit=' || con.connoinherit || ' local=' || con.conislocal ||
       ' index=' || coalesce((SELECT relname FROM pg_class WHERE oid = con.conindid), '-')
  FROM t JOIN pg_constraint con ON con.conrelid = t.oid
UNION ALL
SELECT 'trigger ' || tg.tgname || ': ' || pg_get_triggerdef(tg.oid) || ' enabled=' || tg.tgenabled::text
  FROM t JOIN pg_trigger tg ON tg.tgrelid = t.oid AND NOT tg.tgisinternal
UNION ALL
SELECT 'statistics ' || s.stxname || ': ' || pg_get_statisticsobjdef(s.oid) || ' target=' || s.stxstattarget
  FROM t JOIN pg_statistic_ext s ON s.stxrelid = t.oid
UNION ALL
SELECT 'sequence of ' || a.attname || ': ' || sq.schemaname || '.' || sq.sequencename || ' ' || sq.data_type ||
       ' start=' || sq.start_value || ' min=' || sq.min_value || ' max=' || sq.max_value ||
       ' increment=' || sq.increment_by || ' cycle=' || sq.cycle || ' cache=' || sq.cache_size ||
       ' last=' || coalesce(sq.last_value::text, 'none')
  FROM t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_sequences sq ON format('%I.%I', sq.schemaname, sq.sequencename)::regclass =
       pg_get_serial_sequence(t.oid::regclass::text, a.attname)::regclass
) lines
)sql";

class RepackShapesTest : public DatabaseTest {
 protected:
  void TearDown() override {
    DatabaseTest::TearDown();  // the database and everything in the tablespaces go first
    if (tablespaces_.empty()) return;
    ConnectOptions options;
    options.dsn = "dbname=postgres";
    auto admin = PgConn::Connect(options);
    ASSERT_TRUE(admin.ok()) << admin.status();
    for (const auto& ts : tablespaces_) MustExec(**admin, "DROP TABLESPACE IF EXISTS " + QuoteIdent(ts));
  }

  // A fresh in-place tablespace named `<database> <suffix>` (quoted).
  std::string CreateTablespace(const std::string& suffix) {
    std::string name = dbname().substr(0, 50) + " " + suffix;
    MustExec(db(), "SET allow_in_place_tablespaces = on");
    MustExec(db(), "DROP TABLESPACE IF EXISTS " + QuoteIdent(name));
    MustExec(db(), "CREATE TABLESPACE " + QuoteIdent(name) + " LOCATION ''");
    MustExec(db(), "RESET allow_in_place_tablespaces");
    tablespaces_.push_back(name);
    return QuoteIdent(name);
  }

  // pg_dump --schema-only of one table, without the \restrict lines (a
  // random key per dump) and with `rename` (from -> to) applied.
  std::string Dump(const std::string& schema, const std::string& table,
                   const std::pair<std::string, std::string>& rename = {}) {
    std::string cmd = fmt::format("{} --schema-only --no-password --dbname={} -t {} 2>&1", PgDumpBinary(),
                                  dbname(), ShellQuote(QualifiedName(schema, table)));
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) {
      ADD_FAILURE() << "cannot run " << cmd;
      return "";
    }
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int rc = pclose(p);
    EXPECT_EQ(rc, 0) << cmd << "\n" << out;
    std::istringstream in(out);
    std::string line, kept;
    while (std::getline(in, line)) {
      if (line.rfind("\\restrict", 0) == 0 || line.rfind("\\unrestrict", 0) == 0) continue;
      if (!rename.first.empty())
        for (size_t pos; (pos = line.find(rename.first)) != std::string::npos;)
          line.replace(pos, rename.first.size(), rename.second);
      kept += line + "\n";
    }
    return kept;
  }

  Fingerprint Take(const std::string& schema, const std::string& table,
                   const std::pair<std::string, std::string>& rename = {}) {
    std::string q = QualifiedName(schema, table);
    Fingerprint f;
    f.contents = QueryValue(db(), fmt::format("SELECT coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '') "
                                              "FROM {} x", q));
    f.dump = Dump(schema, table, rename);
    auto r = db().Query(kCatalogSql, {q});
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) f.catalog = r->GetString(0, 0);
    if (!rename.first.empty())
      for (size_t pos; (pos = f.catalog.find(rename.first)) != std::string::npos;)
        f.catalog.replace(pos, rename.first.size(), rename.second);
    return f;
  }

  static std::string ShellQuote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }

  static void ExpectSame(const Fingerprint& before, const Fingerprint& after, const std::string& what) {
    EXPECT_EQ(before.contents, after.contents) << what << ": contents";
    EXPECT_EQ(before.dump, after.dump) << what << ": pg_dump --schema-only";
    EXPECT_EQ(before.catalog, after.catalog) << what << ": catalog";
  }

  // Rebuilds each table of `schema` with `--execute` and no --alter and
  // requires the same fingerprint afterwards.
  void ExpectRebuildsPreserve(const std::string& schema, const std::vector<std::string>& tables) {
    for (const auto& table : tables) {
      SCOPED_TRACE(table);
      Fingerprint before = Take(schema, table);
      ProcessResult r = RunShadowcopy(ToolArgs(table, {"--schema", schema, "--execute", "--drop-old-table"}));
      ExpectSucceeded(r);
      if (r.exit_code != 0) continue;
      ExpectNothingLeftBehind(table);
      ExpectSame(before, Take(schema, table), table);
    }
  }

  // Creates the shape (`ddl`, formatted with {s} = schema and `args`) in
  // schemas sc_tool and sc_plain (on the first call of a test), runs the tool with `alter` on
  // sc_tool.`table` and a plain ALTER TABLE on the clone, and requires the
  // same fingerprint (schema names aside). The old table is kept and must not
  // hold on to a name the new one uses.
  void ExpectAlterMatchesPlain(const std::string& ddl, const std::string& table, const std::string& alter,
                               const std::map<std::string, std::string>& args = {}) {
    SCOPED_TRACE(table + ": " + alter);
    for (const char* schema : {"sc_tool", "sc_plain"}) {
      if (QueryValue(db(), fmt::format("SELECT to_regnamespace('{}') IS NULL", schema)) != "t") continue;
      MustExec(db(), fmt::format("CREATE SCHEMA {}", schema));
      MustExec(db(), FormatDdl(ddl, schema, args));
    }
    ProcessResult r = RunShadowcopy(ToolArgs(table, {"--schema", "sc_tool", "--alter", alter, "--execute"}));
    ExpectSucceeded(r);
    ExpectNothingLeftBehind(table);
    MustExec(db(), fmt::format("ALTER TABLE sc_plain.{} {}", QuoteIdent(table), alter));
    ExpectSame(Take("sc_plain", table, {"sc_plain", "sc_tool"}), Take("sc_tool", table),
               "plain ALTER TABLE on a clone vs the tool");
  }

  static std::string FormatDdl(const std::string& ddl, const std::string& schema,
                               const std::map<std::string, std::string>& args) {
    fmt::dynamic_format_arg_store<fmt::format_context> store;
    store.push_back(fmt::arg("s", schema));
    for (const auto& [k, v] : args) store.push_back(fmt::arg(k.c_str(), v));
    return fmt::vformat(ddl, store);
  }

  // Creates the shape in schema "shape" and rebuilds `tables` (see
  // ExpectRebuildsPreserve).
  void CreateAndRebuild(const std::string& ddl, const std::vector<std::string>& tables,
                        const std::map<std::string, std::string>& args = {}) {
    MustExec(db(), "CREATE SCHEMA IF NOT EXISTS shape");
    MustExec(db(), FormatDdl(ddl, "shape", args));
    ExpectRebuildsPreserve("shape", tables);
  }

  std::vector<std::string> tablespaces_;
};

// A table whose columns were dropped before and between the indexed ones
// (most long-lived tables): index and statistics definitions must be matched
// by column, not by attribute number. The primary key is the clustered index
// and has a storage parameter; two indexes cover the same columns in both
// orders.
constexpr const char* kDroppedColumnsDdl = R"sql(
CREATE TABLE {0}.dropped_cols (gone1 text, c1 text, id int PRIMARY KEY, gone2 text, c2 text, gone3 text);
ALTER INDEX {0}.dropped_cols_pkey SET (fillfactor = 75);
ALTER TABLE {0}.dropped_cols CLUSTER ON dropped_cols_pkey;
CREATE INDEX dropped_cols_c1_c2 ON {0}.dropped_cols (c1, c2) WITH (fillfactor = 75);
CREATE INDEX dropped_cols_c2_c1 ON {0}.dropped_cols (c2, c1);
CREATE STATISTICS {0}.dropped_cols_stats (ndistinct) ON c1, c2 FROM {0}.dropped_cols;
INSERT INTO {0}.dropped_cols SELECT 'g1', 'c1-' || g, g, 'g2', 'c2-' || (g % 7), 'g3' FROM generate_series(1, 50) g;
ALTER TABLE {0}.dropped_cols DROP COLUMN gone1, DROP COLUMN gone2, DROP COLUMN gone3;
ALTER TABLE {0}.dropped_cols ADD COLUMN c3 text;
UPDATE {0}.dropped_cols SET c3 = 'c3-' || id WHERE id % 3 = 0;
CREATE VIEW {0}.dropped_cols_view AS SELECT * FROM {0}.dropped_cols;
)sql";

TEST_F(RepackShapesTest, DroppedColumnsBeforeIndexedOnesAndClusterMark) {
  MustExec(db(), "CREATE SCHEMA shape");
  MustExec(db(), fmt::format(kDroppedColumnsDdl, "shape"));
  // Dropped columns whose values were TOASTed; a composite clustered key.
  MustExec(db(),
           "CREATE TABLE shape.dropped_toast (i int, j int, t text, PRIMARY KEY (i, j));"
           "ALTER TABLE shape.dropped_toast CLUSTER ON dropped_toast_pkey;"
           "INSERT INTO shape.dropped_toast VALUES (1, 10, 'abc'), (2, 20, repeat(md5('x'), 400));"
           "ALTER TABLE shape.dropped_toast DROP COLUMN t");
  ExpectRebuildsPreserve("shape", {"dropped_cols", "dropped_toast"});
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM shape.dropped_cols_view"), "50");
}

// The dry run and a run with an ALTER on the same table: the matching holds
// after RENAME and DROP COLUMN too; the result equals a plain ALTER TABLE on
// a clone.
TEST_F(RepackShapesTest, DroppedColumnsWithAlterMatchPlainAlter) {
  for (const char* s : {"sc_tool", "sc_plain"}) {
    MustExec(db(), fmt::format("CREATE SCHEMA {}", s));
    MustExec(db(), fmt::format(kDroppedColumnsDdl, s));
    // A plain ALTER ... TYPE refuses a column a view uses.
    MustExec(db(), fmt::format("DROP VIEW {}.dropped_cols_view", s));
  }
  ProcessResult dry = RunShadowcopy(
      ToolArgs("dropped_cols", {"--schema", "sc_tool", "--alter", "ALTER COLUMN id TYPE bigint"}));
  EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
  // int -> bigint, a rename, then dropping one of two indexed columns (which
  // drops both indexes and the statistics object on them): each time the
  // same as a plain ALTER TABLE on the clone. The old table is kept: the
  // names it no longer needs must be free.
  for (std::string alter : {"ALTER COLUMN id TYPE bigint", "RENAME COLUMN c1 TO c1_renamed", "DROP COLUMN c2"}) {
    SCOPED_TRACE(alter);
    ProcessResult r = RunShadowcopy(ToolArgs("dropped_cols", {"--schema", "sc_tool", "--alter", alter, "--execute"}));
    ExpectSucceeded(r);
    ExpectNothingLeftBehind("dropped_cols");
    MustExec(db(), "DROP TABLE IF EXISTS sc_tool." + OldTableOf("dropped_cols"));
    MustExec(db(), "ALTER TABLE sc_plain.dropped_cols " + alter);
    ExpectSame(Take("sc_plain", "dropped_cols", {"sc_plain", "sc_tool"}), Take("sc_tool", "dropped_cols"),
               "ALTER on a clone vs the tool");
  }
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_class WHERE relname LIKE '%dropped_cols_c%'"), "0");
  EXPECT_EQ(QueryValue(db(), "SELECT count(*) FROM pg_statistic_ext WHERE stxname LIKE '%dropped_cols_stats%'"), "0");
}

// Storage parameters and tablespaces of constraint-backed and plain indexes
// built after the copy; a table in a tablespace of its own with its index in
// the default one.
constexpr const char* kIndexStorageDdl = R"sql(
CREATE TABLE {s}.con_storage (
  id int, u int, v int, w text, r int4range, k int,
  CONSTRAINT con_storage_pkey PRIMARY KEY (id) WITH (fillfactor = 75) USING INDEX TABLESPACE {ts},
  CONSTRAINT con_storage_u UNIQUE (u) WITH (fillfactor = 60),
  CONSTRAINT con_storage_v UNIQUE (v) INCLUDE (k) WITH (fillfactor = 65) USING INDEX TABLESPACE {ts2}
    DEFERRABLE INITIALLY DEFERRED,
  CONSTRAINT con_storage_r EXCLUDE USING gist (r WITH &&) WITH (fillfactor = 70) USING INDEX TABLESPACE {ts2}
    WHERE (k > 0));
CREATE INDEX con_storage_w ON {s}.con_storage (w text_pattern_ops) WITH (fillfactor = 50) TABLESPACE {ts2};
CREATE INDEX con_storage_partial ON {s}.con_storage (lower(w)) TABLESPACE {ts} WHERE w <> ' WHERE ';
INSERT INTO {s}.con_storage SELECT g, g, -g, 'w' || g, int4range(g * 10, g * 10 + 5), g % 3 FROM generate_series(1, 40) g;
CREATE TABLE {s}.in_ts (id int PRIMARY KEY, t text) WITH (fillfactor = 80) TABLESPACE {ts};
CREATE INDEX in_ts_t ON {s}.in_ts (t) TABLESPACE pg_default;
CREATE INDEX in_ts_t2 ON {s}.in_ts (t, id) TABLESPACE {ts2};
INSERT INTO {s}.in_ts SELECT g, 't' || g FROM generate_series(1, 40) g;
)sql";

TEST_F(RepackShapesTest, IndexStorageParametersAndTablespaces) {
  std::map<std::string, std::string> args = {{"ts", CreateTablespace("ts")}, {"ts2", CreateTablespace("test ts")}};
  CreateAndRebuild(kIndexStorageDdl, {"con_storage", "in_ts"}, args);
  ExpectAlterMatchesPlain(kIndexStorageDdl, "con_storage", "ALTER COLUMN id TYPE bigint", args);
  ExpectAlterMatchesPlain(kIndexStorageDdl, "in_ts", "ALTER COLUMN id TYPE bigint", args);
}

// Index kinds core PostgreSQL offers (expression, partial, multi-column,
// hash, GiST, SP-GiST, GIN, BRIN, INCLUDE, DESC NULLS LAST, opclasses,
// collations), each clustered where the access method allows, per-column
// statistics targets and options, quoted identifiers.
constexpr const char* kIndexKindsDdl = R"sql(
CREATE TABLE {s}.cluster_expr (col1 int, "time" timestamp, ","")" text,
  PRIMARY KEY (","")", col1) WITH (fillfactor = 75)) WITH (fillfactor = 70);
CREATE INDEX ","") cluster" ON {s}.cluster_expr ("time", length(","")"), ","")" text_pattern_ops) WITH (fillfactor = 75);
ALTER TABLE {s}.cluster_expr CLUSTER ON ","") cluster";
INSERT INTO {s}.cluster_expr SELECT g, '2008-01-01'::timestamp + g * interval '1 day', 'n' || g FROM generate_series(1, 30) g;

CREATE TABLE {s}.gist_key (id int PRIMARY KEY, c circle, p point, tags int[], body tsvector, at timestamptz,
  name text COLLATE "C");
CREATE INDEX gist_key_c ON {s}.gist_key USING gist (c);
ALTER TABLE {s}.gist_key CLUSTER ON gist_key_c;
CREATE INDEX gist_key_p ON {s}.gist_key USING spgist (p);
CREATE INDEX gist_key_tags ON {s}.gist_key USING gin (tags) WITH (fastupdate = off);
CREATE INDEX gist_key_body ON {s}.gist_key USING gin (body);
CREATE INDEX gist_key_at ON {s}.gist_key USING brin (at) WITH (pages_per_range = 16);
CREATE INDEX gist_key_hash ON {s}.gist_key USING hash (name);
CREATE INDEX gist_key_name ON {s}.gist_key (name COLLATE "POSIX" DESC NULLS LAST) INCLUDE (id)
  WHERE name IS NOT NULL AND id > 2;
CREATE UNIQUE INDEX gist_key_lower ON {s}.gist_key (lower(name), (id % 5));
ALTER INDEX {s}.gist_key_lower ALTER COLUMN 2 SET STATISTICS 300;
COMMENT ON INDEX {s}.gist_key_at IS 'brin';
INSERT INTO {s}.gist_key SELECT g, circle(point(g, g), 1), point(g, -g), ARRAY[g, g + 1],
  to_tsvector('simple', 'word' || g), '2020-01-01'::timestamptz + g * interval '1 hour', 'n' || g
  FROM generate_series(1, 30) g;

CREATE TABLE {s}.idxopts (i int PRIMARY KEY, t text);
CREATE INDEX idxopts_t ON {s}.idxopts (t DESC NULLS LAST) WHERE (t <> 'aaa');
ALTER TABLE {s}.idxopts ALTER i SET STATISTICS 1;
ALTER TABLE {s}.idxopts ALTER t SET (n_distinct = -0.5);
INSERT INTO {s}.idxopts VALUES (0, 'abc'), (1, 'aaa'), (2, NULL), (3, 'bbb');
)sql";

TEST_F(RepackShapesTest, IndexKindsAndQuotedNames) {
  CreateAndRebuild(kIndexKindsDdl, {"cluster_expr", "gist_key", "idxopts"});
  ExpectAlterMatchesPlain(kIndexKindsDdl, "cluster_expr", "ALTER COLUMN col1 TYPE bigint");
  ExpectAlterMatchesPlain(kIndexKindsDdl, "gist_key", "ALTER COLUMN id TYPE bigint");
}

// Table and TOAST storage parameters, column storage and compression,
// identity and serial columns (sequence state), deferrable and exclusion
// constraints, CHECK NO INHERIT, a trigger, the user column named oid a
// table once created WITH OIDS carries after an upgrade.
constexpr const char* kStorageIdentityDdl = R"sql(
CREATE TABLE {s}.toast_opts (i int PRIMARY KEY, c text, m text, z text COMPRESSION lz4, e text);
ALTER TABLE {s}.toast_opts SET (autovacuum_vacuum_scale_factor = 30, autovacuum_vacuum_threshold = 300);
ALTER TABLE {s}.toast_opts SET (toast.autovacuum_vacuum_scale_factor = 40, toast.autovacuum_vacuum_threshold = 400,
  toast_tuple_target = 256, autovacuum_enabled = false);
ALTER TABLE {s}.toast_opts ALTER m SET STORAGE MAIN, ALTER e SET STORAGE EXTERNAL, ALTER c SET COMPRESSION pglz;
INSERT INTO {s}.toast_opts SELECT g, repeat(md5(g::text), 100), repeat('m', 3000), repeat(md5(g::text), 50),
  repeat('e', 5000) FROM generate_series(1, 10) g;

CREATE TABLE {s}.identity_cons (
  id bigint GENERATED BY DEFAULT AS IDENTITY (START WITH 100 INCREMENT BY 5) PRIMARY KEY,
  s serial, a int NOT NULL CHECK (a >= 0), b int CONSTRAINT identity_cons_b_check CHECK (b > 0) NO INHERIT,
  r int4range, u int,
  CONSTRAINT identity_cons_u UNIQUE (u) DEFERRABLE,
  CONSTRAINT identity_cons_r EXCLUDE USING gist (r WITH &&),
  g int GENERATED ALWAYS AS (a * 2) STORED);
CREATE FUNCTION {s}.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER identity_cons_touch BEFORE UPDATE ON {s}.identity_cons FOR EACH ROW EXECUTE FUNCTION {s}.touch();
CREATE TRIGGER identity_cons_off AFTER INSERT ON {s}.identity_cons FOR EACH ROW EXECUTE FUNCTION {s}.touch();
ALTER TABLE {s}.identity_cons DISABLE TRIGGER identity_cons_off;
INSERT INTO {s}.identity_cons (a, b, r, u) SELECT g, g, int4range(g * 10, g * 10 + 5), g FROM generate_series(1, 20) g;
COMMENT ON TABLE {s}.identity_cons IS 'shapes';

CREATE TABLE {s}.oid_era (oid oid PRIMARY KEY, payload text) WITH (autovacuum_enabled = true);
INSERT INTO {s}.oid_era SELECT g::oid, 'p' || g FROM generate_series(16384, 16400) g;
ALTER TABLE {s}.oid_era REPLICA IDENTITY FULL;
)sql";

TEST_F(RepackShapesTest, StorageIdentityAndConstraints) {
  CreateAndRebuild(kStorageIdentityDdl, {"toast_opts", "identity_cons", "oid_era"});
  ExpectAlterMatchesPlain(kStorageIdentityDdl, "identity_cons", "ALTER COLUMN u TYPE bigint");
  ExpectAlterMatchesPlain(kStorageIdentityDdl, "toast_opts", "ALTER COLUMN i TYPE bigint");
}

// Constraints and settings that live beside the columns: a CHECK added NOT
// VALID, a named NOT NULL-backed check, column comments and grants, an
// extended statistics object with its own target, a replica identity index,
// row-level security with a policy, a unique index backing no constraint
// used as the key of a table without a primary key.
constexpr const char* kChecksDdl = R"sql(
CREATE TABLE {s}.checks (id int NOT NULL, a int, b text, c numeric(10, 2) DEFAULT 0 NOT NULL,
  CONSTRAINT checks_b_len CHECK (length(b) < 100));
CREATE UNIQUE INDEX checks_id ON {s}.checks (id);
ALTER TABLE {s}.checks ADD PRIMARY KEY USING INDEX checks_id;
INSERT INTO {s}.checks SELECT g, g - 5, 'b' || g, g / 3.0 FROM generate_series(1, 30) g;
ALTER TABLE {s}.checks ADD CONSTRAINT checks_a_positive CHECK (a > 0) NOT VALID;
COMMENT ON COLUMN {s}.checks.b IS 'the b';
COMMENT ON CONSTRAINT checks_b_len ON {s}.checks IS 'short b';
GRANT SELECT (a, b) ON {s}.checks TO PUBLIC;
CREATE STATISTICS {s}.checks_ab (dependencies, mcv) ON a, b FROM {s}.checks;
ALTER STATISTICS {s}.checks_ab SET STATISTICS 500;
CREATE STATISTICS {s}.checks_expr ON (a + 1), (lower(b)) FROM {s}.checks;
ALTER TABLE {s}.checks ENABLE ROW LEVEL SECURITY;
CREATE POLICY checks_mine ON {s}.checks USING (a > 0);

CREATE TABLE {s}.no_pkey (k1 int NOT NULL, k2 text NOT NULL, v text);
CREATE UNIQUE INDEX no_pkey_k ON {s}.no_pkey (k1, k2) WITH (fillfactor = 90);
CREATE INDEX no_pkey_v ON {s}.no_pkey (v);
ALTER TABLE {s}.no_pkey REPLICA IDENTITY USING INDEX no_pkey_k;
ALTER TABLE {s}.no_pkey CLUSTER ON no_pkey_v;
INSERT INTO {s}.no_pkey SELECT g, 'k' || g, 'v' || g FROM generate_series(1, 30) g;
)sql";

TEST_F(RepackShapesTest, ChecksCommentsStatisticsAndSecurity) {
  CreateAndRebuild(kChecksDdl, {"checks", "no_pkey"});
  ExpectAlterMatchesPlain(kChecksDdl, "checks", "ALTER COLUMN id TYPE bigint");
  ExpectAlterMatchesPlain(kChecksDdl, "no_pkey", "ALTER COLUMN k1 TYPE bigint");
}

// What PostgreSQL 15 and the recent releases added to index and trigger
// definitions: UNIQUE NULLS NOT DISTINCT (constraint and index), opclass
// parameters; and triggers with column lists and WHEN, a deferrable
// constraint trigger, domain and enum columns, a generated column after a
// dropped one.
constexpr const char* kRecentFeaturesDdl = R"sql(
CREATE TYPE {s}.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN {s}.positive AS int CHECK (VALUE > 0);
CREATE TABLE {s}.recent (id int PRIMARY KEY, gone text, a int, b text, body tsvector, m {s}.mood, p {s}.positive,
  CONSTRAINT recent_a_b UNIQUE NULLS NOT DISTINCT (a, b));
ALTER TABLE {s}.recent DROP COLUMN gone;
ALTER TABLE {s}.recent ADD COLUMN g int GENERATED ALWAYS AS (a + 1) STORED;
CREATE UNIQUE INDEX recent_b ON {s}.recent (b) NULLS NOT DISTINCT WHERE a > 10;
CREATE INDEX recent_body ON {s}.recent USING gist (body tsvector_ops (siglen = 100));
CREATE FUNCTION {s}.noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER recent_upd AFTER UPDATE OF a, b ON {s}.recent FOR EACH ROW
  WHEN (OLD.a IS DISTINCT FROM NEW.a) EXECUTE FUNCTION {s}.noop();
CREATE CONSTRAINT TRIGGER recent_check AFTER INSERT OR UPDATE ON {s}.recent DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION {s}.noop();
INSERT INTO {s}.recent (id, a, b, body, m, p) SELECT g, g, 'b' || g, to_tsvector('simple', 'w' || g),
  (ARRAY['sad', 'ok', 'happy'])[g % 3 + 1]::{s}.mood, g FROM generate_series(1, 30) g;
INSERT INTO {s}.recent (id, a, b) VALUES (31, NULL, NULL);
)sql";

TEST_F(RepackShapesTest, RecentIndexAndTriggerFeatures) {
  CreateAndRebuild(kRecentFeaturesDdl, {"recent"});
  ExpectAlterMatchesPlain(kRecentFeaturesDdl, "recent", "ALTER COLUMN id TYPE bigint");
}

// An INVALID unique index (a failed CREATE UNIQUE INDEX CONCURRENTLY) is left
// out, as the old table has no working index either: the dry run and the
// run's log say so, the data violating it is copied, and the application's
// inserts that the old table accepted are still accepted.
TEST_F(RepackShapesTest, InvalidIndexIsLeftOutWithAWarning) {
  MustExec(db(), "CREATE TABLE badindex (id int PRIMARY KEY, n int);"
                 "INSERT INTO badindex VALUES (1, 10), (2, 10)");
  EXPECT_FALSE(db().Exec("CREATE UNIQUE INDEX CONCURRENTLY badindex_n ON badindex (n)").ok());
  // An index left INVALID whose data would satisfy it (as a cancelled build
  // leaves it).
  MustExec(db(), "CREATE TABLE goodindex (id int PRIMARY KEY, n int);"
                 "INSERT INTO goodindex VALUES (1, 10), (2, 20);"
                 "CREATE UNIQUE INDEX goodindex_n ON goodindex (n);"
                 "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'goodindex_n'::regclass");
  for (const char* table : {"badindex", "goodindex"}) {
    SCOPED_TRACE(table);
    std::string index = std::string(table) + "_n";
    ProcessResult dry = RunShadowcopy(ToolArgs(table));
    EXPECT_EQ(dry.exit_code, 0) << dry.Describe();
    EXPECT_NE(dry.out.find("warning:     index \"" + index + "\" is INVALID"), std::string::npos) << dry.out;
    EXPECT_EQ(dry.out.find("USING btree (n)"), std::string::npos) << dry.out;
    std::string contents = QueryValue(db(), fmt::format("SELECT string_agg(x::text, ',' ORDER BY id) FROM {} x", table));
    ProcessResult r = RunShadowcopy(ToolArgs(table, {"--execute"}));
    ExpectSucceeded(r);
    ExpectNothingLeftBehind(table);
    EXPECT_NE(r.err.find("index \"" + index + "\" is INVALID"), std::string::npos) << r.err;
    EXPECT_EQ(QueryValue(db(), fmt::format("SELECT string_agg(x::text, ',' ORDER BY id) FROM {} x", table)), contents);
    EXPECT_EQ(QueryValue(db(), fmt::format("SELECT count(*) FROM pg_index WHERE indrelid = '{}'::regclass", table)),
              "1");
    // What the application could insert before, it still can.
    auto insert = db().Exec(fmt::format("INSERT INTO {} VALUES (3, 10)", table));
    EXPECT_TRUE(insert.ok()) << insert.status();
    // The name is free to build it again (the old table keeps its copy
    // under another name).
    EXPECT_EQ(QueryValue(db(), fmt::format("SELECT to_regclass('{}') IS NULL", index)), "t");
    EXPECT_EQ(QueryValue(db(), fmt::format("SELECT to_regclass('_{}{}') IS NOT NULL", index, OldSuffixOf(table))),
              "t");
  }
}

}  // namespace
}  // namespace shadowcopy::it
