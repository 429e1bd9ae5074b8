// `fsload run` against deliberately wrong servers: each fault must be counted
// exactly, and a correct server must yield no invalid data and exit 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

#include "tests/loadtest/fake_file_server.h"
#include "tests/loadtest/fsload_support.h"

namespace fsr::test {
namespace {

using Fault = FakeFileServer::Fault;

FakeFileServer::Options with_fault(Fault fault, int every) {
  FakeFileServer::Options o;
  o.fault = fault;
  o.every = every;
  return o;
}

// A short run with a fixed seed; `extra` flags override the defaults.
FsloadResult run_against(const FakeFileServer& server, std::vector<std::string> extra) {
  std::vector<std::string> args = {"run", "--url", server.url(), "--rate", "250", "--duration", "2", "--seed", "7",
                                   "--quiet", "--timeout", "5", "--max-files", "300"};
  args.insert(args.end(), extra.begin(), extra.end());
  FsloadResult r = run_fsload(args);
  EXPECT_FALSE(r.doc.is_null()) << r.log;
  return r;
}

uint64_t total(const FsloadResult& r, const char* key) { return r.doc["totals"][key].get<uint64_t>(); }

TEST(FsloadRun, CorrectServerYieldsNoInvalidDataAndExitsZero) {
  FakeFileServer server({});
  TempDir dir("fsload-html");
  std::string html = dir / "report.html";
  FsloadResult r = run_against(server, {"--check-share-early", "0.3", "--mix", "20:3:3:6", "--html", html});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_EQ(r.exit_code, 0) << r.log;
  EXPECT_EQ(total(r, "invalid"), 0u);
  EXPECT_EQ(total(r, "failures"), 0u);
  EXPECT_EQ(r.doc["requests"]["issued"], r.doc["requests"]["completed"]);
  EXPECT_EQ(r.doc["requests"]["scheduled"].get<uint64_t>(), 500u);
  EXPECT_GT(total(r, "verified_reads"), 100u);
  EXPECT_GT(r.doc["ops"]["PUT"]["completed"].get<uint64_t>(), 50u);
  EXPECT_GT(r.doc["ops"]["DELETE"]["completed"].get<uint64_t>(), 10u);
  const auto& checks = r.doc["checks"];
  EXPECT_GT(checks["passed"].get<uint64_t>(), 20u);
  EXPECT_EQ(checks["failed"].get<uint64_t>(), 0u);
  EXPECT_EQ(checks["passed"].get<uint64_t>() + checks["aborted"].get<uint64_t>(), checks["started"].get<uint64_t>());
  EXPECT_DOUBLE_EQ(r.doc["score"]["consistency_rate"].get<double>(), 1.0);
  EXPECT_EQ(r.doc["timeline"].size() >= 2, true);
  std::string report = read_file(html);
  EXPECT_NE(report.find("<svg"), std::string::npos);
  EXPECT_EQ(report.find("http://cdn"), std::string::npos);
  EXPECT_EQ(report.find("<script src"), std::string::npos);
}

// Deletes would let a client legitimately see a stale 404 when a DELETE it
// already sent reaches the server later; these runs leave them out.
TEST(FsloadRun, StaleReadsAreCountedExactly) {
  FakeFileServer server(with_fault(Fault::kStaleReads, 3));
  FsloadResult r = run_against(server, {"--mix", "30:4:0:6", "--duration", "3", "--max-files", "60"});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_GT(server.faults_injected(), 5u);
  EXPECT_EQ(total(r, "invalid"), server.faults_injected()) << r.log;
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.doc["invalid_examples"].empty());
}

TEST(FsloadRun, DroppedWritesAreCountedExactly) {
  FakeFileServer server(with_fault(Fault::kDropWrites, 1));
  FsloadResult r = run_against(server, {"--mix", "30:6:0:4", "--duration", "3", "--max-files", "60"});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_GT(server.faults_injected(), 5u) << r.log;
  EXPECT_EQ(total(r, "invalid"), server.faults_injected()) << r.log;
  EXPECT_EQ(r.exit_code, 3);
}

TEST(FsloadRun, TooManyRequestsAnswersAreCountedExactly) {
  FakeFileServer server(with_fault(Fault::kSome429, 7));
  FsloadResult r = run_against(server, {"--mix", "20:3:3:6"});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_GT(server.faults_injected(), 30u);
  EXPECT_EQ(total(r, "status_429"), server.faults_injected());
  EXPECT_EQ(total(r, "failures"), server.faults_injected());
  EXPECT_EQ(total(r, "invalid"), 0u) << r.log;
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_LT(r.doc["score"]["success_rate"].get<double>(), 1.0);
}

TEST(FsloadRun, SlowAnswersAreCountedAsTimeouts) {
  auto options = with_fault(Fault::kSlowReads, 10);
  options.slow_ms = 1200;
  FakeFileServer server(options);
  FsloadResult r = run_against(server, {"--timeout", "0.4", "--mix", "20:1:1:4"});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_GT(server.faults_injected(), 10u);
  EXPECT_EQ(total(r, "timeouts"), server.faults_injected());
  EXPECT_EQ(total(r, "invalid"), 0u) << r.log;
  EXPECT_EQ(r.exit_code, 6);
}

TEST(FsloadRun, FailureBudgetEndsTheRunEarly) {
  FakeFileServer server(with_fault(Fault::kSome429, 2));
  FsloadResult r = run_against(server, {"--duration", "30", "--max-failures", "25"});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.doc["ended_by"], "failure_budget");
  EXPECT_LT(r.doc["elapsed_s"].get<double>(), 5.0);
  EXPECT_GE(total(r, "failures"), 25u);
}

TEST(FsloadRun, RefusedConnectionsAreConnectionErrors) {
  // A port bound but never listened on refuses every connection, and no
  // other program can take it while the socket is held.
  int held = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(held, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(held, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int port = ntohs(addr.sin_port);
  FsloadResult r = run_fsload({"run", "--url", "http://127.0.0.1:" + std::to_string(port), "--rate", "40",
                               "--duration", "1", "--quiet"});
  ASSERT_FALSE(r.doc.is_null()) << r.log;
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_EQ(total(r, "connection_errors"), total(r, "completed"));
  EXPECT_GE(total(r, "completed"), 40u);
  ::close(held);
}

// Progress off a terminal: a plain line on stderr every --progress-interval-s
// seconds, each covering what the previous did not; stdout and the result
// document are what they are without it.
TEST(FsloadRun, ProgressLinesGoToStderrEachIntervalAndAddUpToTheTotals) {
  FakeFileServer server({});
  TempDir dir("fsload-progress");
  std::string out = dir / "stdout", err = dir / "stderr", json = dir / "result.json";
  std::string command = program_path("fsload") + " run --url " + server.url() +
                        " --rate 200 --duration 4 --seed 7 --timeout 5 --max-files 300 --progress-interval-s 2"
                        " --json " + json + " >" + out + " 2>" + err;
  ChildProcess child({"/bin/sh", "-c", command}, dir / "sh.log");
  int status = child.wait(std::chrono::seconds(120));
  ASSERT_TRUE(status >= 0 && WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_file(err);
  auto doc = nlohmann::json::parse(read_file(json), nullptr, false);
  ASSERT_TRUE(doc.is_object());

  std::regex progress(
      R"(^ *(\d+)s target (\d+)/s offered (\d+)/s achieved (\d+)/s \| ok (\d+) fail (\d+) \(429 (\d+) 5xx (\d+) timeout (\d+) conn (\d+) )"
      R"(other (\d+)\) invalid (\d+) \| p50 ([0-9.]+)ms p99 ([0-9.]+)ms \| in-flight \d+ \| total ok (\d+) fail (\d+) invalid (\d+)$)");
  std::stringstream lines(read_file(err));
  std::string line;
  std::vector<std::string> kept;
  while (std::getline(lines, line)) kept.push_back(line);
  uint64_t ok_sum = 0, fail_sum = 0;
  std::vector<int> at;
  for (const std::string& l : kept) {
    std::smatch m;
    if (!std::regex_match(l, m, progress)) continue;
    at.push_back(std::stoi(m[1]));
    ok_sum += std::stoull(m[5]);
    fail_sum += std::stoull(m[6]);
    EXPECT_EQ(std::stoull(m[6]), 0u) << l;
    if (at.size() <= 2) {  // the full intervals, at 2 s and 4 s
      double target = std::stod(m[2]), offered = std::stod(m[3]), achieved = std::stod(m[4]);
      EXPECT_NEAR(target, 200, 20) << l;
      // A consistency check's later steps are requests without a slot.
      EXPECT_GE(offered, target * 0.9) << l;
      EXPECT_LE(offered, target * 2.5) << l;
      EXPECT_NEAR(achieved, offered, offered * 0.2) << "a correct server answers nearly all: " << l;
      EXPECT_GT(std::stod(m[13]), 0) << "p50: " << l;
      EXPECT_GE(std::stod(m[14]), std::stod(m[13])) << "p99 under p50: " << l;
    }
  }
  ASSERT_GE(at.size(), 2u) << read_file(err);
  EXPECT_EQ(at[0], 2);
  EXPECT_EQ(at[1], 4);
  EXPECT_LE(at.size(), 3u) << "one line per interval, and at most one final line";
  EXPECT_EQ(ok_sum, doc["totals"]["successful"].get<uint64_t>()) << read_file(err);
  EXPECT_EQ(fail_sum, doc["totals"]["failures"].get<uint64_t>());
  EXPECT_EQ(read_file(out).find("offered"), std::string::npos) << "progress goes to stderr only";

  // The result document has the same fields without progress.
  FsloadResult quiet = run_against(server, {"--duration", "1"});
  std::set<std::string> with_progress, without;
  for (auto& [k, v] : doc.items()) with_progress.insert(k);
  for (auto& [k, v] : quiet.doc.items()) without.insert(k);
  EXPECT_EQ(with_progress, without);
  FsloadResult off = run_against(server, {"--duration", "1", "--progress-interval-s", "0"});
  EXPECT_EQ(off.log.find("offered"), std::string::npos);
  EXPECT_EQ(run_fsload({"run", "--progress-interval-s", "-1"}).exit_code, 2);
}

TEST(FsloadRun, UsageErrorsExitTwoAndHelpListsExitCodes) {
  EXPECT_EQ(run_fsload({"run", "--connection", "sometimes"}).exit_code, 2);
  EXPECT_EQ(run_fsload({"run", "--ramp", "sideways"}).exit_code, 2);
  EXPECT_EQ(run_fsload({"bogus"}).exit_code, 2);
  FsloadResult help = run_fsload({"run", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.log.find("Exit status"), std::string::npos);
  EXPECT_NE(help.log.find("--max-failures"), std::string::npos);
}

}  // namespace
}  // namespace fsr::test

namespace fsr::test {
namespace {

// Many overlapping reads and writes of a handful of names against a correct
// (linearizable) server: the verifier must raise no false alarm. The rate
// is one a sanitizer build serves beside other tests on two cores, and the
// timeout is long: a late answer is no alarm either, and a request that
// timed out would end the run with a failure that says nothing of the
// verifier.
TEST(FsloadRun, OverlappingOperationsOnFewNamesRaiseNoFalseAlarm) {
  FakeFileServer::Options options;
  options.jitter_ms = 30;
  FakeFileServer server(options);
  FsloadResult r = run_against(server, {"--rate", "400", "--duration", "3", "--timeout", "60", "--max-files", "4",
                                        "--mix", "10:6:3:3", "--threads", "2", "--connection", "keepalive",
                                        "--idle-connections", "8"});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_EQ(total(r, "invalid"), 0u) << r.log;
  EXPECT_EQ(r.exit_code, 0) << r.log;
  EXPECT_GT(total(r, "verified_reads"), 300u);
}

}  // namespace
}  // namespace fsr::test
