// `fsload edge` against in-memory servers: every case passes against a
// correct router-like server, and known faults fail exactly the cases that
// cover them.
#include <gtest/gtest.h>

#include <set>

#include "tests/loadtest/fake_file_server.h"
#include "tests/loadtest/fsload_support.h"

namespace fsr::test {
namespace {

std::set<std::string> failed_cases(const nlohmann::json& doc) {
  std::set<std::string> out;
  for (const auto& c : doc["cases"])
    if (!c["passed"].get<bool>()) out.insert(c["name"].get<std::string>());
  return out;
}

FsloadResult run_edge(const FakeFileServer& server, std::vector<std::string> extra) {
  std::vector<std::string> args = {"edge",   "--url",         server.url(), "--target", "router", "--huge-size",
                                   "3000000", "--repeat",     "200",        "--seed",   "11"};
  args.insert(args.end(), extra.begin(), extra.end());
  FsloadResult r = run_fsload(args);
  EXPECT_FALSE(r.doc.is_null()) << r.log;
  return r;
}

// The in-memory server has no validators (ETag, conditional requests,
// digests): those cases run against the real router (fsload_stack_test).
const std::string kValidatorCases = "etag-conditional-read,etag-conditional-write,etag-race,upload-digest";

TEST(FsloadEdge, EveryCasePassesAgainstACorrectServer) {
  FakeFileServer server({});
  FsloadResult r = run_edge(server, {"--skip", kValidatorCases});
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
  FsloadResult r = run_edge(server, {"--skip", "put-then-get-repeat,aborted-upload," + kValidatorCases});
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

TEST(FsloadEdge, UnknownCaseIsAUsageError) {
  EXPECT_EQ(run_fsload({"edge", "--only", "no-such-case"}).exit_code, 2);
  FsloadResult list = run_fsload({"edge", "--list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.log.find("race-two-writers"), std::string::npos);
}

}  // namespace
}  // namespace fsr::test
