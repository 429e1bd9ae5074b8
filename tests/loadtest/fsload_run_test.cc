// `fsload run` against deliberately wrong servers: each fault must be counted
// exactly, and a correct server must yield no invalid data and exit 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

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
// (linearizable) server: the verifier must raise no false alarm.
TEST(FsloadRun, OverlappingOperationsOnFewNamesRaiseNoFalseAlarm) {
  FakeFileServer::Options options;
  options.jitter_ms = 30;
  FakeFileServer server(options);
  FsloadResult r = run_against(server, {"--rate", "800", "--max-files", "4", "--mix", "10:6:3:3", "--threads", "2",
                                        "--connection", "keepalive", "--idle-connections", "8"});
  ASSERT_FALSE(r.doc.is_null());
  EXPECT_EQ(total(r, "invalid"), 0u) << r.log;
  EXPECT_EQ(r.exit_code, 0) << r.log;
  EXPECT_GT(total(r, "verified_reads"), 300u);
}

}  // namespace
}  // namespace fsr::test
