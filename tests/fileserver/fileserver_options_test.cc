// fileserver's --help and the flag table of fileserver/README.md list the
// same flags with the same environment names, defaults and meanings.
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/readme_flags.h"

namespace fsr::test {
namespace {

TEST(FileserverOptions, HelpListsExactlyTheReadmeTableWithItsEnvironmentNamesDefaultsAndMeanings) {
  std::map<std::string, FlagRow> table =
      markdown_flag_table("fileserver/README.md", "# fileserver: the stand-in for the backend file server");
  ASSERT_EQ(table.size(), 8u) << "fileserver/README.md's flag table not found or changed size";
  expect_help_matches_table(program_help("fileserver"), table);
}

}  // namespace
}  // namespace fsr::test
