// fsload against the real programs: the edge suite passes against the
// backend stand-in (backend profile) and against fsrouter in front of two
// stand-ins (router profile), and a short load run through the router is
// clean. Backends run with a few milliseconds of latency to keep it quick.
#include <gtest/gtest.h>

#include "tests/loadtest/fsload_support.h"
#include "tests/support/stack.h"

namespace fsr::test {
namespace {

TEST(FsloadAgainstPrograms, EdgeSuitePassesAgainstTheBackendStandIn) {
  Stack stack("fsload-stack");
  stack.start_backends(1, 3);
  FsloadResult r = run_fsload({"edge", "--url", stack.backend_url(0), "--target", "backend", "--huge-size", "5000000",
                               "--repeat", "100", "--timeout", "20"});
  EXPECT_EQ(r.exit_code, 0) << r.log;
  ASSERT_FALSE(r.doc.is_null()) << r.log;
  EXPECT_EQ(r.doc["failed"].get<int>(), 0) << r.log;
}

TEST(FsloadAgainstPrograms, EdgeSuiteAndALoadRunPassAgainstTheRouter) {
  Stack stack("fsload-stack");
  stack.start_backends(2, 3);
  stack.start_router();
  // front-slowloris waits out the default 10 s head timeout; loadtest_edge_test
  // runs it against a router with a short one.
  FsloadResult edge = run_fsload({"edge", "--url", stack.router_url(), "--target", "router", "--huge-size",
                                  "20000000", "--repeat", "300", "--timeout", "20", "--skip", "front-slowloris",
                                  "--router-pid", std::to_string(stack.router().pid())});
  EXPECT_EQ(edge.exit_code, 0) << edge.log << stack.logs();
  ASSERT_FALSE(edge.doc.is_null()) << edge.log;
  EXPECT_EQ(edge.doc["failed"].get<int>(), 0) << edge.log;

  FsloadResult run = run_fsload({"run", "--url", stack.router_url(), "--rate", "200", "--duration", "3", "--quiet",
                                 "--mix", "20:2:2:5", "--seed", "5"});
  ASSERT_FALSE(run.doc.is_null()) << run.log;
  EXPECT_EQ(run.exit_code, 0) << run.log << stack.logs();
  EXPECT_EQ(run.doc["totals"]["invalid"].get<uint64_t>(), 0u);
  EXPECT_EQ(run.doc["totals"]["failures"].get<uint64_t>(), 0u);
  EXPECT_GT(run.doc["totals"]["verified_reads"].get<uint64_t>(), 200u);
}

}  // namespace
}  // namespace fsr::test
