// The fileserver stand-in, run as a real process on loopback, against the
// behaviour listed in spec/backend-fileserver.md, hazards and wedge included.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <iostream>
#include <latch>
#include <thread>

#include "common/names.h"
#include "tests/fileserver/fileserver_harness.h"

namespace fsr::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kTooManyRequests[] = "Too many requests. Slow down.";

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

// A raw PUT request head with the given Content-Length.
std::string put_head(const std::string& name, size_t content_length) {
  return "PUT " + backend_path(name) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
         std::to_string(content_length) + "\r\n\r\n";
}

class FileServerTest : public ::testing::Test {
 protected:
  std::string data_dir() const { return dir_ / "data"; }
  std::string data_path(const std::string& name) const { return data_dir() + "/" + name; }

  FileServerProcess& start(int latency_ms, const std::string& data = "") {
    FileServerOptions options;
    options.data_dir = data.empty() ? data_dir() : data;
    options.log_path = dir_ / ("fileserver-" + std::to_string(servers_.size()) + ".log");
    options.latency_ms = latency_ms;
    servers_.push_back(std::make_unique<FileServerProcess>(options));
    return *servers_.back();
  }

  void TearDown() override {
    if (!HasFailure()) return;
    for (auto& server : servers_) std::cerr << "--- fileserver log\n" << server->log();
  }

  TempDir dir_{"fsr-fileserver"};
  std::vector<std::unique_ptr<FileServerProcess>> servers_;
};

struct Outcome {
  int status = -1;  // -1: no answer
  std::string body;
  long long elapsed_ms = 0;
};

// Runs fn on `count` threads released together; returns their outcomes.
std::vector<Outcome> run_together(int count, const std::function<Outcome(int)>& fn) {
  std::vector<std::future<Outcome>> futures;
  std::latch ready(count);
  for (int i = 0; i < count; ++i) {
    futures.push_back(std::async(std::launch::async, [&, i] {
      ready.arrive_and_wait();
      return fn(i);
    }));
  }
  std::vector<Outcome> outcomes;
  for (auto& f : futures) outcomes.push_back(f.get());
  return outcomes;
}

Outcome timed_get(int port, const std::string& name) {
  auto client = make_client(port);
  auto start = Clock::now();
  auto res = client->Get(backend_path(name));
  Outcome out;
  out.elapsed_ms = ms_since(start);
  if (res) {
    out.status = res->status;
    out.body = res->body;
  }
  return out;
}

TEST_F(FileServerTest, EleventhConcurrentRequestIsRefusedAtOnceWithExactBody) {
  // A long latency keeps the first ten in flight while the eleventh arrives.
  const int latency_ms = 1000;
  auto& server = start(latency_ms);
  auto outcomes = run_together(11, [&](int i) { return timed_get(server.port(), "missing-" + std::to_string(i)); });

  int refused = 0, admitted = 0;
  for (const auto& out : outcomes) {
    if (out.status == 429) {
      ++refused;
      EXPECT_EQ(out.body, kTooManyRequests);
      EXPECT_LT(out.elapsed_ms, latency_ms / 2) << "a refusal gets no latency";
    } else {
      ++admitted;
      EXPECT_EQ(out.status, 404);
      EXPECT_GE(out.elapsed_ms, latency_ms);
    }
  }
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(admitted, 10);
  EXPECT_EQ(server.count_log_lines({"status=429"}), 1);
}

TEST_F(FileServerTest, TenConcurrentRequestsUnderTheCapAreAllAdmitted) {
  auto& server = start(300);
  auto outcomes = run_together(10, [&](int i) { return timed_get(server.port(), "missing-" + std::to_string(i)); });
  for (const auto& out : outcomes) {
    EXPECT_EQ(out.status, 404);
    EXPECT_GE(out.elapsed_ms, 300);
  }
  EXPECT_EQ(server.count_log_lines({"status=429"}), 0);
}

TEST_F(FileServerTest, EveryAdmittedRequestTakesAtLeastTheLatency) {
  const int latency_ms = 150;
  auto& server = start(latency_ms);
  auto client = make_client(server.port());
  auto timed = [&](const std::function<httplib::Result()>& call, int expected_status) {
    auto start_time = Clock::now();
    auto res = call();
    long long elapsed = ms_since(start_time);
    EXPECT_TRUE(res);
    if (res) {
      EXPECT_EQ(res->status, expected_status);
    }
    return elapsed;
  };
  EXPECT_GE(timed([&] { return client->Put(backend_path("a"), "body", "application/octet-stream"); }, 201), latency_ms);
  EXPECT_GE(timed([&] { return client->Get(backend_path("a")); }, 200), latency_ms);
  EXPECT_GE(timed([&] { return client->Get(backend_path("missing")); }, 404), latency_ms);
  EXPECT_GE(timed([&] { return client->Delete(backend_path("a")); }, 200), latency_ms);
  EXPECT_GE(timed([&] { return client->Delete(backend_path("a")); }, 200), latency_ms);
  EXPECT_GE(timed([&] { return client->Get("/api/fileserver/"); }, 400), latency_ms);
}

TEST_F(FileServerTest, PutStoresTheBodyAndGetStreamsItBackChunked) {
  auto& server = start(50);
  auto client = make_client(server.port());
  const std::string name = "a b%c?d#e+f";
  const std::string body = random_body(100000, 1);

  auto put = client->Put(backend_path(name), body, "application/octet-stream");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 201);
  EXPECT_EQ(put->body, "");
  EXPECT_EQ(read_file(data_path(name)), body);

  auto get = client->Get(backend_path(name));
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, body);
  EXPECT_EQ(get->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(get->get_header_value("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(get->has_header("Content-Length"));
}

TEST_F(FileServerTest, PutReplacesAnExistingFileAndGetReadsFilesItNeverWrote) {
  auto& server = start(50);
  write_file(data_path("there"), "written by someone else, and long");
  auto client = make_client(server.port());
  auto get = client->Get(backend_path("there"));
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "written by someone else, and long");

  auto put = client->Put(backend_path("there"), "short", "application/octet-stream");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 201);
  EXPECT_EQ(read_file(data_path("there")), "short");
}

TEST_F(FileServerTest, GetOfAMissingNameIs404) {
  auto& server = start(50);
  auto res = make_client(server.port())->Get(backend_path("nothing here"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, "File not found.");
}

TEST_F(FileServerTest, DeleteAnswers200ForPresentAndMissingNames) {
  auto& server = start(50);
  auto client = make_client(server.port());
  ASSERT_EQ(client->Put(backend_path("x"), "data", "application/octet-stream")->status, 201);

  auto present = client->Delete(backend_path("x"));
  ASSERT_TRUE(present);
  EXPECT_EQ(present->status, 200);
  EXPECT_FALSE(file_exists(data_path("x")));

  auto missing = client->Delete(backend_path("x"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 200);
  EXPECT_EQ(missing->body, "File not found. Already deleted.");

  auto get = client->Get(backend_path("x"));
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 404);
}

TEST_F(FileServerTest, EmptyNameIs400AndPathsOutsideOneSegmentAre404) {
  auto& server = start(50);
  auto client = make_client(server.port());
  auto empty = client->Put("/api/fileserver/", "x", "application/octet-stream");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 400);

  for (const char* target : {"/api/fileserver/a%2Fb", "/api/fileserver/a/b", "/api/fileserver/..", "/other", "/"}) {
    auto res = client->Put(target, "x", "application/octet-stream");
    ASSERT_TRUE(res) << target;
    EXPECT_EQ(res->status, 404) << target;
  }
  EXPECT_FALSE(file_exists(dir_ / "a"));
  EXPECT_FALSE(file_exists(data_path("a")));
}

TEST_F(FileServerTest, NameLongerThan255BytesFailsWith500) {
  auto& server = start(50);
  auto res = make_client(server.port())->Put(backend_path(std::string(256, 'n')), "x", "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_NE(res->body.find("file name too long"), std::string::npos) << res->body;
}

TEST_F(FileServerTest, ShortBodyGets500AndRemovesTheFile) {
  auto& server = start(50);
  write_file(data_path("short"), "an earlier version");
  {
    RawConnection conn(server.port());
    ASSERT_TRUE(conn.connected());
    ASSERT_TRUE(conn.send_all(put_head("short", 1000) + "only ten b"));
    // The server learns that the body is short only when the connection
    // ends; by then nobody reads its answer, so the log tells.
  }
  EXPECT_TRUE(wait_until([&] { return server.count_log_lines({"name=\"short\"", "status=500"}) == 1; },
                         std::chrono::seconds(10)));
  EXPECT_FALSE(file_exists(data_path("short")));
}

TEST_F(FileServerTest, ChunkedUploadGets500AndLeavesNoFile) {
  auto& server = start(50);
  RawConnection conn(server.port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.send_all("PUT /api/fileserver/chunked HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  std::string response = conn.read_response(std::chrono::seconds(10));
  EXPECT_EQ(status_of(response), 500) << response;
  EXPECT_FALSE(file_exists(data_path("chunked")));
}

TEST_F(FileServerTest, KnownNameRemovedByAnotherInstanceGives200WithErrorText) {
  auto& a = start(50);
  auto& b = start(50);
  auto client_a = make_client(a.port());
  auto client_b = make_client(b.port());
  const std::string body = "the real content";
  ASSERT_EQ(client_a->Put(backend_path("shared"), body, "application/octet-stream")->status, 201);
  auto first = client_b->Get(backend_path("shared"));  // b now knows the name
  ASSERT_TRUE(first);
  ASSERT_EQ(first->body, body);

  ASSERT_EQ(client_a->Delete(backend_path("shared"))->status, 200);

  auto stale = client_b->Get(backend_path("shared"));
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 200);
  EXPECT_NE(stale->body, body);
  EXPECT_NE(stale->body.find("open " + data_path("shared") + ": no such file or directory"), std::string::npos)
      << stale->body;
  auto fresh = client_a->Get(backend_path("shared"));
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->status, 404);
}

// Sends a PUT of `name` with a 10-byte body, one byte every step; returns
// when the answer came (or after 10 s) with the outcome.
Outcome slow_put(int port, const std::string& name, milliseconds step, Clock::time_point* body_sent = nullptr) {
  RawConnection conn(port);
  Outcome out;
  auto start_time = Clock::now();
  conn.send_all(put_head(name, 10));
  const std::string body = "slow-body!";
  for (size_t i = 0; i < body.size(); ++i) {
    if (i > 0) std::this_thread::sleep_for(step);
    conn.send_all(&body[i], 1);
  }
  if (body_sent) *body_sent = Clock::now();
  std::string response = conn.read_response(std::chrono::seconds(10));
  out.elapsed_ms = ms_since(start_time);
  out.status = status_of(response);
  return out;
}

TEST_F(FileServerTest, OperationsOnOneNameWaitForEachOtherInOneProcess) {
  const int latency_ms = 100;
  auto& server = start(latency_ms);
  Clock::time_point a_body_sent;
  auto slow = std::async(std::launch::async, [&] { return slow_put(server.port(), "one", milliseconds(80), &a_body_sent); });
  // The slow PUT holds the name from the moment it creates the file.
  ASSERT_TRUE(wait_until([&] { return file_exists(data_path("one")); }, std::chrono::seconds(5)));
  auto client = make_client(server.port());
  auto b_start = Clock::now();
  auto res = client->Put(backend_path("one"), "quick", "application/octet-stream");
  auto b_done = Clock::now();
  long long b_elapsed = ms_since(b_start);
  auto a = slow.get();

  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(a.status, 201);
  EXPECT_GE(b_elapsed, 2 * latency_ms) << "the second PUT waited for the first";
  EXPECT_GT(b_done, a_body_sent) << "the second PUT finished only after the first one's body";
  EXPECT_EQ(read_file(data_path("one")), "quick") << "the second PUT ran after the first, not interleaved";
}

TEST_F(FileServerTest, OperationsOnOneNameOverlapAcrossTwoProcesses) {
  const int latency_ms = 100;
  auto& a = start(latency_ms);
  auto& b = start(latency_ms);
  Clock::time_point a_body_sent;
  auto slow = std::async(std::launch::async, [&] { return slow_put(a.port(), "one", milliseconds(80), &a_body_sent); });
  ASSERT_TRUE(wait_until([&] { return file_exists(data_path("one")); }, std::chrono::seconds(5)));
  auto res = make_client(b.port())->Put(backend_path("one"), "quick", "application/octet-stream");
  auto b_done = Clock::now();
  auto out = slow.get();

  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(out.status, 201);
  EXPECT_LT(b_done, a_body_sent) << "nothing coordinates two processes";
}

TEST_F(FileServerTest, DeleteDuringASlowPutOfTheSameNameWedgesTheProcess) {
  const int latency_ms = 100;
  auto& server = start(latency_ms);
  const int port = server.port();
  {
    auto client = make_client(port);
    ASSERT_EQ(client->Put(backend_path("before"), "fine", "application/octet-stream")->status, 201);
    ASSERT_EQ(client->Get(backend_path("before"))->status, 200);
  }

  // A slow PUT of X: head and half of the body, then it holds X.
  RawConnection put(port);
  ASSERT_TRUE(put.send_all(put_head("X", 10) + "12345"));
  ASSERT_TRUE(wait_until([&] { return file_exists(data_path("X")); }, std::chrono::seconds(5)));

  std::atomic<bool> delete_answered{false};
  auto del = std::async(std::launch::async, [&] {
    auto res = make_client(port, std::chrono::seconds(30))->Delete(backend_path("X"));
    delete_answered = static_cast<bool>(res);
  });
  // The DELETE takes the process-wide lock after its latency, then waits for
  // X. Nothing outside the process shows that moment, so the PUT's body
  // keeps coming slowly: its rest only after five latencies.
  std::this_thread::sleep_for(milliseconds(5 * latency_ms));
  ASSERT_TRUE(put.send_all("67890"));

  // Later requests of other names hang as well.
  std::atomic<bool> get_answered{false}, other_put_answered{false};
  auto get = std::async(std::launch::async, [&] {
    get_answered = static_cast<bool>(make_client(port, std::chrono::seconds(30))->Get(backend_path("before")));
  });
  auto other_put = std::async(std::launch::async, [&] {
    other_put_answered = static_cast<bool>(
        make_client(port, std::chrono::seconds(30))->Put(backend_path("other"), "y", "application/octet-stream"));
  });

  EXPECT_FALSE(put.readable_within(std::chrono::seconds(2))) << "the PUT never answers";
  EXPECT_FALSE(delete_answered.load());
  EXPECT_FALSE(get_answered.load());
  EXPECT_FALSE(other_put_answered.load());
  EXPECT_TRUE(server.process().running());
  EXPECT_EQ(server.count_log_lines({"name=\"X\""}), 0);
  EXPECT_EQ(server.count_log_lines({"name=\"other\""}), 0);

  // SIGTERM still ends a wedged process, after its grace period, with 0.
  int status = server.process().stop(SIGTERM, std::chrono::seconds(15));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  del.get();
  get.get();
  other_put.get();
  EXPECT_FALSE(delete_answered.load());
  EXPECT_FALSE(get_answered.load());
  EXPECT_FALSE(other_put_answered.load());
}

TEST_F(FileServerTest, SigtermStopsAnIdleServerWithExitCodeZero) {
  auto& server = start(50);
  ASSERT_EQ(make_client(server.port())->Get(backend_path("missing"))->status, 404);
  auto start_time = Clock::now();
  int status = server.process().stop(SIGTERM, std::chrono::seconds(10));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_LT(ms_since(start_time), 2000) << "an idle server needs no grace period";
}

}  // namespace
}  // namespace fsr::test
