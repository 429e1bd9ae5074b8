// A restarted router (design invariants 5 and 10): requests the previous
// process left running on the backends are unknown outcomes, and its pending
// names are replayed behind the name guard's barrier for them.
#include <gtest/gtest.h>
#include <signal.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/support/stack.h"

namespace fsr::test {
namespace {

// The methods of the requests for `name` in a stand-in's log, in the order
// they finished.
std::vector<std::string> methods_for(const std::string& log, const std::string& name) {
  std::vector<std::string> methods;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("event=request") == std::string::npos) continue;
    if (line.find("name=\"" + name + "\"") == std::string::npos) continue;
    auto at = line.find("method=\"");
    if (at == std::string::npos) continue;
    at += 8;
    methods.push_back(line.substr(at, line.find('"', at) - at));
  }
  return methods;
}

TEST(RouterRestartBarrier, APendingPutLeftInFlightByAKilledRouterIsReplayedBehindADelete) {
  Stack stack("restart-barrier");
  stack.start_backends(1, 50);
  stack.start_router({"--abandon-settle-ms", "500", "--backend-timeout-ms", "1000"});
  stack.backend(0).signal(SIGSTOP);  // the PUT the applier sends stays in the backend's queue
  ASSERT_GT(stack.put("x", "replayed"), 0u) << stack.last_error();
  ASSERT_TRUE(wait_until([&] { return stack.status()["backends"][0]["in_flight"].get<int>() >= 1; },
                         std::chrono::seconds(20)));
  stack.stop_router(SIGKILL);
  stack.backend(0).signal(SIGCONT);  // the dead router's PUT may run now, beside the replay
  stack.start_router();
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(30))) << stack.logs();
  EXPECT_EQ(read_file(stack.data_dir() + "/x"), "replayed");
  auto methods = methods_for(stack.backend(0).read_log(), "x");
  ASSERT_GE(methods.size(), 2u) << stack.backend_logs();
  EXPECT_EQ(methods.back(), "PUT");
  EXPECT_EQ(methods[methods.size() - 2], "DELETE")
      << "the replayed PUT goes behind a DELETE: the dead router's request may have been a DELETE\n"
      << stack.backend_logs();
}

}  // namespace
}  // namespace fsr::test
