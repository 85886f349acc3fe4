// Tests of the session options: the user's (conninfo, URI or PGOPTIONS)
// first, the tool's after them.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "common/pg_options.h"

namespace shadowcopy {
namespace {

TEST(DsnOptionsTest, ReadsConninfoAndUri) {
  EXPECT_EQ(DsnOptions("dbname=x options='-c work_mem=7MB -c myapp.tag=hello'"),
            std::optional<std::string>("-c work_mem=7MB -c myapp.tag=hello"));
  EXPECT_EQ(DsnOptions("postgresql:///x?options=-c%20myapp.tag%3Dhello"),
            std::optional<std::string>("-c myapp.tag=hello"));
  EXPECT_EQ(DsnOptions("host=/tmp options=''"), std::optional<std::string>(""));
}

TEST(DsnOptionsTest, NoneWhenUnsetOrNotAConninfo) {
  EXPECT_EQ(DsnOptions(""), std::nullopt);
  EXPECT_EQ(DsnOptions("dbname=x"), std::nullopt);
  EXPECT_EQ(DsnOptions("mydb"), std::nullopt);  // a bare name: libpq does not expand it
  EXPECT_EQ(DsnOptions("dbname='x"), std::nullopt);
}

TEST(MergeSessionOptionsTest, UsersFirstThenOurs) {
  EXPECT_EQ(MergeSessionOptions(std::string("-c myapp.tag=hello"), nullptr,
                                {{"datestyle", "ISO"}, {"statement_timeout", "0"}}),
            "-c myapp.tag=hello -c datestyle=ISO -c statement_timeout=0");
}

TEST(MergeSessionOptionsTest, DsnOptionsOverridePgoptions) {
  EXPECT_EQ(MergeSessionOptions(std::string("-c a.b=dsn"), "-c a.b=env", {{"x.y", "1"}}), "-c a.b=dsn -c x.y=1");
  // Set but empty in the dsn: libpq does not fall back to PGOPTIONS either.
  EXPECT_EQ(MergeSessionOptions(std::string(""), "-c a.b=env", {{"x.y", "1"}}), "-c x.y=1");
  EXPECT_EQ(MergeSessionOptions(std::nullopt, "-c a.b=env", {{"x.y", "1"}}), "-c a.b=env -c x.y=1");
  EXPECT_EQ(MergeSessionOptions(std::nullopt, nullptr, {{"x.y", "1"}}), "-c x.y=1");
  EXPECT_EQ(MergeSessionOptions(std::nullopt, "", {}), "");
}

TEST(MergeSessionOptionsTest, EscapesSpacesAndBackslashesInOurValues) {
  EXPECT_EQ(MergeSessionOptions(std::nullopt, nullptr, {{"application_name", "a b\\c"}}),
            "-c application_name=a\\ b\\\\c");
}

}  // namespace
}  // namespace shadowcopy
