// fsrouter-supervisor's --help and README.md's flag table list the same
// flags with the same environment names, defaults and meanings.
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/readme_flags.h"

namespace fsr::test {
namespace {

TEST(SupervisorOptions, HelpListsExactlyTheReadmeTableWithItsEnvironmentNamesDefaultsAndMeanings) {
  std::map<std::string, FlagRow> table = markdown_flag_table("README.md", "### fsrouter-supervisor");
  ASSERT_EQ(table.size(), 7u) << "README.md's fsrouter-supervisor table not found or changed size";
  expect_help_matches_table(program_help("fsrouter-supervisor"), table);
}

}  // namespace
}  // namespace fsr::test
