#include "tests/support/readme_flags.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "tests/support/process.h"

namespace fsr::test {
namespace {

// A table cell without its padding and without the backquotes around it.
std::string cell_text(std::string text) {
  auto b = text.find_first_not_of(' '), e = text.find_last_not_of(' ');
  text = b == std::string::npos ? "" : text.substr(b, e - b + 1);
  if (text.size() >= 2 && text.front() == '`' && text.back() == '`') text = text.substr(1, text.size() - 2);
  return text;
}

}  // namespace

std::map<std::string, FlagRow> markdown_flag_table(const std::string& relative_path, const std::string& heading) {
  std::ifstream in(std::string(FSR_SOURCE_DIR) + "/" + relative_path);
  EXPECT_TRUE(in.good()) << relative_path;
  std::map<std::string, FlagRow> rows;
  bool in_section = false, in_code = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) in_code = !in_code;
    if (!in_code && line.rfind('#', 0) == 0) in_section = line == heading;
    if (!in_section || line.rfind("| `--", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream split(line.substr(1));
    for (std::string c; std::getline(split, c, '|');) cells.push_back(cell_text(c));
    if (cells.size() >= 4) rows[cells[0]] = {cells[1], cells[2], cells[3]};
  }
  return rows;
}

void expect_help_matches_table(const std::string& help, const std::map<std::string, FlagRow>& table) {
  std::istringstream lines(help);
  std::vector<std::string> all;
  for (std::string l; std::getline(lines, l);) all.push_back(l);
  size_t listed = 0;
  for (size_t i = 0; i + 2 < all.size(); ++i) {
    const std::string& line = all[i];
    if (line.rfind("  --", 0) != 0) continue;
    ++listed;
    std::string flag = line.substr(2, line.find(' ', 2) - 2);
    auto row = table.find(flag);
    if (row == table.end()) {
      ADD_FAILURE() << flag << " is in --help but not in the flag table";
      continue;
    }
    EXPECT_EQ(all[i + 1], "      " + row->second.meaning) << flag;
    const std::string& details = all[i + 2];
    bool text = line.size() > 5 && line.substr(line.size() - 5) == " TEXT";
    std::string expected_default =
        "      default " + (text ? "\"" + row->second.default_value + "\"" : row->second.default_value) + ",";
    EXPECT_EQ(details.rfind(expected_default, 0), 0u) << flag << ": " << details;
    std::string env_suffix = ", env " + row->second.env;
    EXPECT_TRUE(details.size() >= env_suffix.size() &&
                details.compare(details.size() - env_suffix.size(), env_suffix.size(), env_suffix) == 0)
        << flag << ": " << details;
  }
  EXPECT_EQ(listed, table.size()) << help;
}

std::string program_help(const std::string& program) {
  std::string command = program_path(program) + " --help";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return "";
  }
  std::string text;
  char buffer[4096];
  for (size_t got; (got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) text.append(buffer, got);
  EXPECT_EQ(::pclose(pipe), 0) << command;
  return text;
}

}  // namespace fsr::test
