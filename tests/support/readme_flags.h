// The flag tables in the project's Markdown files and the --help that
// common/flags prints: tests hold each program's --help to its table, so
// that what an operator reads is what the program does.
#pragma once

#include <map>
#include <string>

namespace fsr::test {

struct FlagRow {
  std::string env, default_value, meaning;
};

// The rows `| `--flag` | `ENV` | default | meaning |` of the table under the
// heading `heading` (a whole line such as "### fsrouter") in
// FSR_SOURCE_DIR/relative_path, by flag. The section ends at the next
// heading of any level (outside code blocks).
std::map<std::string, FlagRow> markdown_flag_table(const std::string& relative_path, const std::string& heading);

// Checks (with GoogleTest expectations) that `help`, as common/flags prints
// it, lists exactly the flags of `table`, each with the table's meaning,
// default and environment name:
//   "  --flag [TYPE]\n      meaning\n      default X[, allowed: ...], env NAME\n"
void expect_help_matches_table(const std::string& help, const std::map<std::string, FlagRow>& table);

// What `<program> --help` prints, for a program of the build (program_path);
// a non-zero exit is a test failure.
std::string program_help(const std::string& program);

}  // namespace fsr::test
