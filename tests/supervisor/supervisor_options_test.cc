// fsrouter-supervisor's --help and README.md's flag table list the same
// flags with the same environment names, defaults and meanings.
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace fsr::test {
namespace {

struct Row {
  std::string env, default_value, meaning;
};

std::map<std::string, Row> readme_table() {
  std::ifstream in(std::string(FSR_SOURCE_DIR) + "/README.md");
  std::map<std::string, Row> rows;
  bool in_section = false;
  auto cell = [](std::string text) {
    auto b = text.find_first_not_of(' '), e = text.find_last_not_of(' ');
    text = b == std::string::npos ? "" : text.substr(b, e - b + 1);
    if (text.size() >= 2 && text.front() == '`' && text.back() == '`') text = text.substr(1, text.size() - 2);
    return text;
  };
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("### ", 0) == 0) in_section = line == "### fsrouter-supervisor";
    if (!in_section || line.rfind("| `--", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream split(line.substr(1));
    for (std::string c; std::getline(split, c, '|');) cells.push_back(cell(c));
    if (cells.size() >= 4) rows[cells[0]] = {cells[1], cells[2], cells[3]};
  }
  return rows;
}

std::string help_text() {
  std::string command = program_path("fsrouter-supervisor") + " --help";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string text;
  char buffer[4096];
  for (size_t got; (got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) text.append(buffer, got);
  EXPECT_EQ(::pclose(pipe), 0);
  return text;
}

TEST(SupervisorOptions, HelpListsExactlyTheReadmeTableWithItsEnvironmentNamesDefaultsAndMeanings) {
  std::map<std::string, Row> table = readme_table();
  ASSERT_EQ(table.size(), 7u) << "README.md's fsrouter-supervisor table not found or changed size";
  std::string help = help_text();
  // Help entries: "  --flag TYPE\n      meaning\n      default X, allowed: ..., env NAME\n".
  std::istringstream lines(help);
  std::vector<std::string> help_lines;
  for (std::string line; std::getline(lines, line);) help_lines.push_back(line);
  size_t flags_in_help = 0;
  for (size_t i = 0; i + 2 < help_lines.size(); ++i) {
    const std::string& line = help_lines[i];
    if (line.rfind("  --", 0) != 0) continue;
    ++flags_in_help;
    std::string flag = line.substr(2, line.find(' ', 2) - 2);
    auto row = table.find(flag);
    ASSERT_NE(row, table.end()) << flag << " is in --help but not in README.md";
    EXPECT_EQ(help_lines[i + 1].substr(6), row->second.meaning) << flag;
    const std::string& details = help_lines[i + 2];
    EXPECT_NE(details.find("env " + row->second.env), std::string::npos) << flag << ": " << details;
    bool text = line.find(" TEXT") != std::string::npos;
    std::string wanted = text ? "default \"" + row->second.default_value + "\"" : "default " + row->second.default_value;
    EXPECT_EQ(details.rfind("      " + wanted, 0), 0u) << flag << ": " << details;
  }
  EXPECT_EQ(flags_in_help, table.size()) << help;
}

}  // namespace
}  // namespace fsr::test
