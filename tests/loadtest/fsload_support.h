// Runs the built fsload program as a child process and reads its --json result.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.h"

namespace fsr::test {

struct FsloadResult {
  int exit_code = -1;
  nlohmann::json doc;  // null when fsload wrote no JSON
  std::string log;     // stdout and stderr
};

inline FsloadResult run_fsload(const std::vector<std::string>& args,
                               std::chrono::seconds patience = std::chrono::seconds(120)) {
  TempDir dir("fsload-test");
  std::string json_path = dir / "result.json";
  std::vector<std::string> argv = {program_path("fsload")};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--json");
  argv.push_back(json_path);
  FsloadResult result;
  ChildProcess child(argv, dir / "fsload.log");
  int status = child.wait(patience);
  if (status == -1) {
    ADD_FAILURE() << "fsload did not finish within " << patience.count() << " s";
    child.stop(SIGKILL);
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  result.log = child.read_log();
  if (file_exists(json_path)) result.doc = nlohmann::json::parse(read_file(json_path), nullptr, false);
  return result;
}

}  // namespace fsr::test
