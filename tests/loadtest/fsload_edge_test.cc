// `fsload edge` against in-memory servers: every case passes against a
// correct router-like server, and known faults fail exactly the cases that
// cover them. The front-door cases (raw framing, limits, timeouts, ranges)
// need the real router's front, and run against fsrouter itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tests/loadtest/fake_file_server.h"
#include "tests/loadtest/fsload_support.h"
#include "tests/support/stack.h"

namespace fsr::test {
namespace {

std::set<std::string> failed_cases(const nlohmann::json& doc) {
  std::set<std::string> out;
  for (const auto& c : doc["cases"])
    if (!c["passed"].get<bool>()) out.insert(c["name"].get<std::string>());
  return out;
}

// The cases about the router's own front door, which an in-memory server
// does not have.
const char* kFrontCases =
    "front-header-too-large,front-too-many-fields,front-long-target,front-body-too-large,front-content-encoding,"
    "front-ambiguous-framing,front-slowloris,front-expect-continue,front-unknown-method,range-requests";

// The in-memory server has no validators (ETag, conditional requests,
// digests) either: those cases run against the real router
// (fsload_stack_test).
const char* kValidatorCases = "etag-conditional-read,etag-conditional-write,etag-race,upload-digest";

// fsload edge against the in-memory server; the cases it cannot pass are
// always skipped (added to a --skip in `extra`) unless `extra` has --only.
FsloadResult run_edge(const FakeFileServer& server, std::vector<std::string> extra) {
  std::vector<std::string> args = {"edge",   "--url",         server.url(), "--target", "router", "--huge-size",
                                   "3000000", "--repeat",     "200",        "--seed",   "11"};
  std::string router_only = std::string(kFrontCases) + "," + kValidatorCases;
  auto skip = std::find(extra.begin(), extra.end(), "--skip");
  if (skip != extra.end() && skip + 1 != extra.end()) {
    *(skip + 1) += "," + router_only;
  } else if (std::find(extra.begin(), extra.end(), "--only") == extra.end()) {
    args.push_back("--skip");
    args.push_back(router_only);
  }
  args.insert(args.end(), extra.begin(), extra.end());
  FsloadResult r = run_fsload(args);
  EXPECT_FALSE(r.doc.is_null()) << r.log;
  return r;
}

TEST(FsloadEdge, EveryCasePassesAgainstACorrectServer) {
  FakeFileServer server({});
  FsloadResult r = run_edge(server, {});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_EQ(r.exit_code, 0) << r.log;
  EXPECT_EQ(r.doc["failed"].get<int>(), 0) << r.log;
  EXPECT_GE(r.doc["passed"].get<int>(), 20);
  EXPECT_TRUE(failed_cases(r.doc).empty());
  // Cases clean up after themselves.
  EXPECT_EQ(server.stored_names(), 0u);
}

TEST(FsloadEdge, MissingNameRulesFailTheNameCases) {
  FakeFileServer::Options options;
  options.name_rules = false;
  FakeFileServer server(options);
  FsloadResult r = run_edge(server, {"--only", "name-255-bytes,name-256-bytes,name-dots,name-control-bytes,name-space"});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(failed_cases(r.doc), (std::set<std::string>{"name-256-bytes", "name-dots", "name-control-bytes"}))
      << r.log;
  EXPECT_EQ(r.doc["cases"].size(), 5u);
}

TEST(FsloadEdge, TruncatedBodiesFailTheBigCases) {
  FakeFileServer::Options options;
  options.truncate_at = 100000;
  FakeFileServer server(options);
  FsloadResult r = run_edge(server, {"--skip", "put-then-get-repeat,aborted-upload"});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(failed_cases(r.doc), (std::set<std::string>{"body-huge", "race-two-writers"})) << r.log;
}

TEST(FsloadEdge, BackendProfileExpectsBackendAnswers) {
  // A router-like server answers 400 where a bare backend answers 500.
  FakeFileServer server({});
  FsloadResult r = run_edge(server, {"--target", "backend", "--only", "name-256-bytes,upload-chunked,name-dots"});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_EQ(failed_cases(r.doc), (std::set<std::string>{"name-256-bytes", "upload-chunked"})) << r.log;
}

// Every front-door case against fsrouter with small limits (so a chunked
// body can cross --max-body-bytes and the slow head times out quickly),
// with the router's pid for the memory checks.
class FsloadEdgeFront : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack_ = new Stack("fsload-edge-front");
    stack_->start_backends(1, 3);
    stack_->start_router({"--max-body-bytes", "100000", "--header-timeout-ms", "500", "--body-idle-timeout-ms", "500"});
  }
  static void TearDownTestSuite() { delete stack_; }
  static FsloadResult run(std::vector<std::string> limits) {
    std::vector<std::string> args = {"edge", "--url", stack_->router_url(), "--target", "router", "--only", kFrontCases,
                                     "--router-pid", std::to_string(stack_->router().pid()), "--timeout", "20"};
    args.insert(args.end(), limits.begin(), limits.end());
    return run_fsload(args);
  }
  static Stack* stack_;
};
Stack* FsloadEdgeFront::stack_ = nullptr;

TEST_F(FsloadEdgeFront, EveryFrontDoorCasePassesAgainstTheRouter) {
  FsloadResult r = run({"--max-body-bytes", "100000", "--header-timeout-ms", "500"});
  ASSERT_FALSE(r.doc.is_null()) << r.log;
  EXPECT_EQ(r.exit_code, 0) << r.log << stack_->logs();
  EXPECT_EQ(r.doc["failed"].get<int>(), 0) << r.log;
  EXPECT_EQ(r.doc["cases"].size(), 10u) << r.log;
  EXPECT_TRUE(stack_->router_running());
}

TEST_F(FsloadEdgeFront, ALimitTheRouterDoesNotHaveFailsItsCases) {
  // Told the body limit is 1,000 bytes and the head timeout 5 s, the suite
  // expects 413 for a body the router takes, and a 408 no sooner than 5 s.
  FsloadResult r = run({"--max-body-bytes", "1000", "--header-timeout-ms", "5000", "--only",
                        "front-body-too-large,front-slowloris"});
  ASSERT_FALSE(r.doc.is_null()) << r.log;
  EXPECT_EQ(r.exit_code, 1) << r.log;
  EXPECT_EQ(failed_cases(r.doc), (std::set<std::string>{"front-body-too-large", "front-slowloris"})) << r.log;
}

TEST(FsloadEdge, UnknownCaseIsAUsageError) {
  EXPECT_EQ(run_fsload({"edge", "--only", "no-such-case"}).exit_code, 2);
  FsloadResult list = run_fsload({"edge", "--list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.log.find("race-two-writers"), std::string::npos);
}

}  // namespace
}  // namespace fsr::test
