// The stand-in's fault control (--fault-control, fileserver/fault_control.h):
// each capability the router's unknown-outcome tests rely on, proven on the
// real program. Held requests are observed through /_fault/held, never by
// waiting a guessed time.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <future>
#include <iostream>

#include "common/names.h"
#include "tests/fileserver/fileserver_harness.h"
#include "tests/support/fault_backend.h"

namespace fsr::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kTooManyRequests[] = "Too many requests. Slow down.";

class FaultControlTest : public ::testing::Test {
 protected:
  std::string data_path(const std::string& name) const { return dir_ / "data" + "/" + name; }

  FileServerProcess& start(bool fault_control = true) {
    FileServerOptions options;
    options.data_dir = dir_ / "data";
    options.log_path = dir_ / "fileserver.log";
    options.latency_ms = 10;
    options.fault_control = fault_control;
    server_ = std::make_unique<FileServerProcess>(options);
    return *server_;
  }

  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "--- fileserver log\n" << server_->log();
  }

  TempDir dir_{"fsr-fault"};
  std::unique_ptr<FileServerProcess> server_;
};

TEST_F(FaultControlTest, ControlRoutesAreAbsentUnlessTheFlagIsGiven) {
  auto& server = start(/*fault_control=*/false);
  auto client = make_client(server.port());
  auto held = client->Get("/_fault/held");
  ASSERT_TRUE(held);
  EXPECT_EQ(held->status, 404);
  auto hold = client->Post("/_fault/hold?method=PUT", "", "text/plain");
  ASSERT_TRUE(hold);
  EXPECT_EQ(hold->status, 404);
}

TEST_F(FaultControlTest, HeldPutStoresItsBodyAfterReleaseEvenThoughItsClientGaveUp) {
  auto& server = start();
  FaultBackend faults(server.port());
  ASSERT_NE(faults.hold("PUT", "x y"), 0u);

  // Larger than the socket buffers: the stand-in must have read it all
  // before the hold, or it would be lost with the connection.
  const std::string body = random_body(3 * 1024 * 1024, 7);
  auto client = make_client(server.port(), seconds(1));
  auto abandoned = client->Put(backend_path("x y"), body, "application/octet-stream");
  EXPECT_FALSE(abandoned) << "the client gives up while the PUT is held";
  client.reset();  // its connection is closed

  auto held = faults.wait_held(1);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].method, "PUT");
  EXPECT_EQ(held[0].name, "x y");
  EXPECT_EQ(held[0].stage, "before");
  EXPECT_FALSE(file_exists(data_path("x y"))) << "a held PUT has not done its work";
  EXPECT_EQ(faults.inflight(), 1) << "a held request keeps its slot";

  ASSERT_EQ(faults.release(held[0].id), 1);
  ASSERT_TRUE(faults.wait_released_finished());
  EXPECT_EQ(read_file(data_path("x y")), body);
  EXPECT_EQ(server.count_log_lines({"method=\"PUT\"", "name=\"x y\"", "status=201"}), 1);
  EXPECT_EQ(faults.inflight(), 0);
}

TEST_F(FaultControlTest, HeldRequestsRunInTheOrderTheyAreReleased) {
  auto& server = start();
  FaultBackend faults(server.port());
  ASSERT_NE(faults.hold("PUT", "n", "before", 2), 0u);
  auto first = std::async(std::launch::async, [&] {
    return make_client(server.port(), seconds(1))->Put(backend_path("n"), "older", "application/octet-stream");
  });
  ASSERT_EQ(faults.wait_held(1).size(), 1u);
  auto second = std::async(std::launch::async, [&] {
    return make_client(server.port(), seconds(1))->Put(backend_path("n"), "newer", "application/octet-stream");
  });
  auto held = faults.wait_held(2);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_FALSE(first.get());
  EXPECT_FALSE(second.get());

  // The newer one first, then the abandoned older one, late.
  ASSERT_EQ(faults.release(held[1].id), 1);
  ASSERT_TRUE(faults.wait_released_finished());
  EXPECT_EQ(read_file(data_path("n")), "newer");
  ASSERT_EQ(faults.release(held[0].id), 1);
  ASSERT_TRUE(faults.wait_released_finished());
  EXPECT_EQ(read_file(data_path("n")), "older");
}

TEST_F(FaultControlTest, ForcedRefusalAnswers429AtOnceWhileEarlierRequestsStillRun) {
  auto& server = start();
  FaultBackend faults(server.port());
  ASSERT_NE(faults.hold("PUT", "slow"), 0u);
  auto earlier = std::async(std::launch::async, [&] {
    return make_client(server.port(), seconds(30))->Put(backend_path("slow"), "body", "application/octet-stream");
  });
  ASSERT_EQ(faults.wait_held(1).size(), 1u);

  ASSERT_TRUE(faults.reject(2, "GET"));
  auto client = make_client(server.port());
  for (int i = 0; i < 2; ++i) {
    auto refused = client->Get(backend_path("slow"));
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 429);
    EXPECT_EQ(refused->body, kTooManyRequests);
  }
  EXPECT_EQ(faults.inflight(), 1) << "the earlier PUT still runs";
  auto put_not_refused = client->Put(backend_path("other"), "o", "application/octet-stream");
  ASSERT_TRUE(put_not_refused);
  EXPECT_EQ(put_not_refused->status, 201) << "only GETs were to be refused";
  auto admitted = client->Get(backend_path("missing"));
  ASSERT_TRUE(admitted);
  EXPECT_EQ(admitted->status, 404) << "the refusals are used up";

  ASSERT_EQ(faults.release_all(), 1);
  auto answer = earlier.get();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 201);
  EXPECT_EQ(read_file(data_path("slow")), "body");
  EXPECT_EQ(server.count_log_lines({"status=429"}), 2);
}

TEST_F(FaultControlTest, PutHoldingItsNameAndDeleteHoldingTheLockWedgeTheProcessOnRelease) {
  auto& server = start();
  const int port = server.port();
  FaultBackend faults(port);
  {
    auto client = make_client(port);
    ASSERT_EQ(client->Put(backend_path("known"), "k", "application/octet-stream")->status, 201);
  }
  // The PUT of X stops holding X; the DELETE of X stops holding the
  // process-wide lock, before it waits for X: the race the real one loses.
  ASSERT_NE(faults.hold("PUT", "X", "inside"), 0u);
  ASSERT_NE(faults.hold("DELETE", "X", "inside"), 0u);
  auto put = std::async(std::launch::async, [&] {
    return make_client(port, seconds(2))->Put(backend_path("X"), "12345", "application/octet-stream");
  });
  ASSERT_EQ(faults.wait_held(1).size(), 1u);
  auto del = std::async(std::launch::async, [&] { return make_client(port, seconds(2))->Delete(backend_path("X")); });
  auto held = faults.wait_held(2);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[1].method, "DELETE");
  EXPECT_EQ(held[1].stage, "inside");
  EXPECT_EQ(faults.deletes_waiting_for_name(), 0) << "the DELETE is held before it waits for X";

  ASSERT_EQ(faults.release_all(), 2);
  EXPECT_FALSE(put.get()) << "the PUT never answers";
  EXPECT_FALSE(del.get()) << "the DELETE never answers";
  // Wedged: a GET of a known name needs the shared side of the lock.
  auto get = make_client(port, seconds(1))->Get(backend_path("known"));
  EXPECT_FALSE(get) << "later requests that need the lock hang too";
  EXPECT_EQ(faults.released_running(), 2) << "neither released request finished";
  EXPECT_EQ(faults.deletes_waiting_for_name(), 1) << "the wedge's signature: the DELETE holds the lock, waits for X";
  EXPECT_EQ(server.count_log_lines({"name=\"X\""}), 0);
  EXPECT_TRUE(server.process().running());
  server.process().stop(SIGKILL);
}

TEST_F(FaultControlTest, HoldRulesMatchMethodAndNameAndAreUsedUp) {
  auto& server = start();
  FaultBackend faults(server.port());
  ASSERT_NE(faults.hold("DELETE", "a"), 0u);
  auto client = make_client(server.port());
  ASSERT_EQ(client->Put(backend_path("a"), "1", "application/octet-stream")->status, 201) << "not a DELETE";
  ASSERT_EQ(client->Delete(backend_path("b"))->status, 200) << "not this name";
  auto del = std::async(std::launch::async, [&] { return make_client(server.port())->Delete(backend_path("a")); });
  ASSERT_EQ(faults.wait_held(1).size(), 1u);
  EXPECT_TRUE(file_exists(data_path("a")));
  ASSERT_EQ(faults.release_all(), 1);
  auto answer = del.get();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_FALSE(file_exists(data_path("a")));
  // The rule held one request: the next DELETE of a is not held.
  ASSERT_EQ(client->Delete(backend_path("a"))->status, 200);
  EXPECT_TRUE(faults.held().empty());

  auto bad = client->Post("/_fault/hold?method=PATCH", "", "text/plain");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

TEST_F(FaultControlTest, RefusalsMatchTheirNameAndCountZeroDisarmsThem) {
  auto& server = start();
  FaultBackend faults(server.port());
  auto client = make_client(server.port());
  ASSERT_TRUE(faults.reject(5, "", "a b"));
  EXPECT_EQ(client->Get(backend_path("other"))->status, 404) << "another name is admitted";
  EXPECT_EQ(client->Put(backend_path("a b"), "x", "application/octet-stream")->status, 429);
  EXPECT_EQ(client->Get(backend_path("a b"))->status, 429);
  ASSERT_TRUE(faults.reject(0));
  EXPECT_EQ(client->Get(backend_path("a b"))->status, 404) << "disarmed";
  EXPECT_EQ(server.count_log_lines({"status=429", "name=\"a b\""}), 2);
}

}  // namespace
}  // namespace fsr::test
