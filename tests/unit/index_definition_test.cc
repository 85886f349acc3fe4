// Tests of DefinitionWithStorage (engine/rewrite/index_definition.h) on definitions
// as pg_get_indexdef() and pg_get_constraintdef() print them.
#include "engine/rewrite/index_definition.h"

#include <gtest/gtest.h>

namespace shadowcopy::engine {
namespace {

TEST(IndexDefinitionTest, PlainIndexWithoutTablespaceIsUnchanged) {
  IndexDefinition d;
  d.definition = "CREATE INDEX i ON s.t USING btree (w) WITH (fillfactor='50')";
  d.options = "fillfactor='50'";
  EXPECT_EQ(*DefinitionWithStorage(d), d.definition);
}

TEST(IndexDefinitionTest, PlainIndexTablespaceGoesBeforeThePredicate) {
  IndexDefinition d;
  d.definition = "CREATE INDEX i ON s.t USING btree (lower(w)) WHERE (w <> ' WHERE '::text)";
  d.tablespace = "\"test ts\"";
  d.predicate = "(w <> ' WHERE '::text)";
  EXPECT_EQ(*DefinitionWithStorage(d),
            "CREATE INDEX i ON s.t USING btree (lower(w)) TABLESPACE \"test ts\" WHERE (w <> ' WHERE '::text)");
}

TEST(IndexDefinitionTest, PrimaryKeyGetsOptionsAndTablespace) {
  IndexDefinition d;
  d.definition = "PRIMARY KEY (id)";
  d.constraint_type = 'p';
  d.options = "fillfactor='75'";
  d.tablespace = "ts";
  EXPECT_EQ(*DefinitionWithStorage(d), "PRIMARY KEY (id) WITH (fillfactor='75') USING INDEX TABLESPACE ts");
}

TEST(IndexDefinitionTest, DeferrableUniqueKeepsItsClausesLast) {
  IndexDefinition d;
  d.definition = "UNIQUE (v) INCLUDE (k) DEFERRABLE INITIALLY DEFERRED";
  d.constraint_type = 'u';
  d.options = "fillfactor='65'";
  d.deferrable = d.initially_deferred = true;
  EXPECT_EQ(*DefinitionWithStorage(d), "UNIQUE (v) INCLUDE (k) WITH (fillfactor='65') DEFERRABLE INITIALLY DEFERRED");
}

TEST(IndexDefinitionTest, ExclusionConstraintGetsOnlyTheTablespace) {
  IndexDefinition d;
  d.definition = "EXCLUDE USING gist (r WITH &&) WITH (fillfactor='70') WHERE ((k > 0)) DEFERRABLE";
  d.constraint_type = 'x';
  d.options = "fillfactor='70'";
  d.tablespace = "ts";
  d.predicate = "(k > 0)";
  d.deferrable = true;
  EXPECT_EQ(*DefinitionWithStorage(d),
            "EXCLUDE USING gist (r WITH &&) WITH (fillfactor='70') USING INDEX TABLESPACE ts WHERE ((k > 0)) "
            "DEFERRABLE");
}

TEST(IndexDefinitionTest, UnexpectedEndingIsAnError) {
  IndexDefinition d;
  d.definition = "CREATE INDEX i ON s.t USING btree (w) WHERE (w IS NOT NULL)";
  d.tablespace = "ts";
  d.predicate = "(w IS NULL)";
  EXPECT_EQ(DefinitionWithStorage(d).status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace shadowcopy::engine
