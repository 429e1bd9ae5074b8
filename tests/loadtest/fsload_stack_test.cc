// fsload against the real programs: the edge suite passes against the
// backend stand-in (backend profile) and against fsrouter in front of two
// stand-ins (router profile), and a short load run through the router is
// clean. Backends run with a few milliseconds of latency to keep it quick.
// Skipped when fileserver or fsrouter is not built.
#include <httplib.h>

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>

#include "tests/loadtest/fsload_support.h"

namespace fsr::test {
namespace {

bool built(const std::string& program) {
  try {
    program_path(program);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

class Stack {
 public:
  explicit Stack(int backends) {
    for (int i = 0; i < backends; ++i) {
      int port = free_port();
      backend_ports_.push_back(port);
      backends_.emplace_back(std::vector<std::string>{program_path("fileserver"), "--host", "127.0.0.1", "--port",
                                                      std::to_string(port), "--data-dir", dir_ / "data",
                                                      "--latency-ms", "3", "--log-level", "warn"},
                             dir_ / ("fileserver" + std::to_string(i) + ".log"));
      EXPECT_TRUE(wait_for_port(port)) << backends_.back().read_log();
    }
  }

  void start_router() {
    router_port_ = free_port();
    std::string list;
    for (int port : backend_ports_) list += (list.empty() ? "" : ",") + ("127.0.0.1:" + std::to_string(port));
    router_ = ChildProcess({program_path("fsrouter"), "--listen", "127.0.0.1:" + std::to_string(router_port_),
                            "--backends", list, "--journal-dir", dir_ / "journal", "--log-level", "warn"},
                           dir_ / "fsrouter.log");
    ASSERT_TRUE(wait_for_port(router_port_)) << router_.read_log();
    httplib::Client client("127.0.0.1", router_port_);
    EXPECT_TRUE(wait_until(
        [&] {
          auto res = client.Get("/readyz");
          return res && res->status == 200;
        },
        std::chrono::seconds(20)))
        << router_.read_log();
  }

  std::string backend_url() const { return "http://127.0.0.1:" + std::to_string(backend_ports_.at(0)); }
  std::string router_url() const { return "http://127.0.0.1:" + std::to_string(router_port_); }
  std::string router_log() const { return router_.read_log(); }

 private:
  TempDir dir_{"fsload-stack"};
  std::vector<int> backend_ports_;
  std::vector<ChildProcess> backends_;
  ChildProcess router_;
  int router_port_ = -1;
};

TEST(FsloadAgainstPrograms, EdgeSuitePassesAgainstTheBackendStandIn) {
  if (!built("fileserver")) GTEST_SKIP() << "fileserver not built";
  Stack stack(1);
  FsloadResult r = run_fsload({"edge", "--url", stack.backend_url(), "--target", "backend", "--huge-size", "5000000",
                               "--repeat", "100", "--timeout", "20"});
  EXPECT_EQ(r.exit_code, 0) << r.log;
  ASSERT_FALSE(r.doc.is_null()) << r.log;
  EXPECT_EQ(r.doc["failed"].get<int>(), 0) << r.log;
}

TEST(FsloadAgainstPrograms, EdgeSuiteAndALoadRunPassAgainstTheRouter) {
  if (!built("fileserver") || !built("fsrouter")) GTEST_SKIP() << "fileserver or fsrouter not built";
  Stack stack(2);
  stack.start_router();
  FsloadResult edge = run_fsload({"edge", "--url", stack.router_url(), "--target", "router", "--huge-size",
                                  "20000000", "--repeat", "300", "--timeout", "20"});
  EXPECT_EQ(edge.exit_code, 0) << edge.log << stack.router_log();
  ASSERT_FALSE(edge.doc.is_null()) << edge.log;
  EXPECT_EQ(edge.doc["failed"].get<int>(), 0) << edge.log;

  FsloadResult run = run_fsload({"run", "--url", stack.router_url(), "--rate", "200", "--duration", "3", "--quiet",
                                 "--mix", "20:2:2:5", "--seed", "5"});
  ASSERT_FALSE(run.doc.is_null()) << run.log;
  EXPECT_EQ(run.exit_code, 0) << run.log << stack.router_log();
  EXPECT_EQ(run.doc["totals"]["invalid"].get<uint64_t>(), 0u);
  EXPECT_EQ(run.doc["totals"]["failures"].get<uint64_t>(), 0u);
  EXPECT_GT(run.doc["totals"]["verified_reads"].get<uint64_t>(), 200u);
}

}  // namespace
}  // namespace fsr::test
