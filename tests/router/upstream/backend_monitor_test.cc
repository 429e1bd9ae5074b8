// The monitor's decisions (router/upstream/backend_monitor.h): which backend
// takes over the primary role, the marker format, and what a refused or hung
// backend loses. No backend runs: the monitor is told of failures directly.
#include "router/upstream/backend_monitor.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "tests/support/process.h"

namespace fsr::router {
namespace {

using std::chrono::milliseconds;
using fsr::test::TempDir;

PrimaryCandidate healthy(int id, uint64_t watermark, bool confirmed = true) { return {id, true, confirmed, watermark}; }
PrimaryCandidate down(int id, uint64_t watermark = 0) { return {id, false, watermark > 0, watermark}; }

TEST(PrimaryChoice, AHealthyPrimaryKeepsTheRole) {
  EXPECT_EQ(choose_primary({healthy(0, 5), healthy(1, 9), healthy(2, 9)}, 0, 0, false), std::nullopt);
  EXPECT_EQ(choose_primary({healthy(0, 5), healthy(1, 9)}, 0, 0, true), std::nullopt);
}

TEST(PrimaryChoice, AFailedPrimaryGoesToTheHealthyBackendWithTheHighestConfirmedWatermark) {
  auto chosen = choose_primary({down(0, 12), healthy(1, 5), healthy(2, 9), healthy(3, 100, /*confirmed=*/false),
                                down(4, 50)},
                               0, 0, false);
  EXPECT_EQ(chosen, 2) << "3 is not confirmed (maybe another volume); 4 is down";
}

TEST(PrimaryChoice, OnATieTheEarlierBackendTakesOver) {
  EXPECT_EQ(choose_primary({down(0), healthy(1, 7), healthy(2, 7)}, 0, 0, false), 1);
}

TEST(PrimaryChoice, WithoutAHealthyConfirmedBackendTheFailedPrimaryStays) {
  EXPECT_EQ(choose_primary({down(0), healthy(1, 7, false), down(2, 9)}, 0, 0, false), std::nullopt);
  EXPECT_EQ(choose_primary({down(0)}, 0, 0, true), std::nullopt);
}

TEST(PrimaryChoice, TheDesignatedPrimaryTakesTheRoleBackOnlyWithFailback) {
  std::vector<PrimaryCandidate> backends{healthy(0, 3), healthy(1, 9), healthy(2, 9)};
  EXPECT_EQ(choose_primary(backends, 1, 0, /*failback=*/false), std::nullopt);
  EXPECT_EQ(choose_primary(backends, 1, 0, /*failback=*/true), 0);
}

TEST(PrimaryChoice, FailbackWaitsUntilTheDesignatedPrimaryIsHealthyAndConfirmed) {
  EXPECT_EQ(choose_primary({healthy(0, 0, false), healthy(1, 9)}, 1, 0, true), std::nullopt);
  EXPECT_EQ(choose_primary({down(0, 3), healthy(1, 9)}, 1, 0, true), std::nullopt);
}

TEST(PrimaryChoice, WithFailbackAFailedPrimaryStillGoesToTheHighestWatermark) {
  EXPECT_EQ(choose_primary({healthy(0, 3), down(1), healthy(2, 8)}, 1, 0, true), 2);
}

journal::BackendState saved(const std::string& role, uint64_t watermark) { return {role, true, watermark}; }
const std::vector<std::string> kAddresses{"10.0.0.1:1234", "10.0.0.2:1234", "10.0.0.3:1234"};

TEST(PrimaryAtStart, TheBackendSavedAsPrimaryKeepsTheRoleOverTheDesignatedOne) {
  auto start = choose_start_primary(
      kAddresses, {{"10.0.0.1:1234", saved("replica", 0)}, {"10.0.0.3:1234", saved("primary", 40)}}, 0);
  EXPECT_EQ(start.id, 2) << start.reason;
  EXPECT_NE(start.reason.find("saved"), std::string::npos) << start.reason;
}

TEST(PrimaryAtStart, WithNoSavedStateTheDesignatedPrimaryTakesTheRole) {
  auto start = choose_start_primary(kAddresses, {}, 1);
  EXPECT_EQ(start.id, 1);
  EXPECT_NE(start.reason.find("designated"), std::string::npos) << start.reason;
  EXPECT_EQ(choose_start_primary(kAddresses, {{"10.0.0.3:1234", saved("replica", 9)}}, 1).id, 1);
}

TEST(PrimaryAtStart, ASavedPrimaryNoLongerAmongTheBackendsFallsBackToTheDesignatedOne) {
  auto start = choose_start_primary(kAddresses, {{"10.0.0.9:1234", saved("primary", 40)}}, 0);
  EXPECT_EQ(start.id, 0);
  EXPECT_NE(start.reason.find("designated"), std::string::npos) << start.reason;
}

TEST(PrimaryAtStart, OfTwoSavedPrimariesTheHigherSavedWatermarkWins) {
  // A crash between the saves of a failover: the demoted one saved 0.
  auto start = choose_start_primary(
      kAddresses, {{"10.0.0.1:1234", saved("primary", 0)}, {"10.0.0.2:1234", saved("primary", 17)}}, 0);
  EXPECT_EQ(start.id, 1);
  start = choose_start_primary(
      kAddresses, {{"10.0.0.2:1234", saved("primary", 5)}, {"10.0.0.3:1234", saved("primary", 5)}}, 2);
  EXPECT_EQ(start.id, 2) << "a tie goes to the designated one";
}

TEST(Marker, ABodyReadsBackAsItsSequence) {
  EXPECT_EQ(parse_marker(marker_body("j1", 42), "j1"), 42u);
  EXPECT_EQ(parse_marker(marker_body("j1", 0), "j1"), 0u);
  EXPECT_EQ(parse_marker(marker_body("j1", UINT64_MAX), "j1"), UINT64_MAX);
}

TEST(Marker, AnotherJournalsMarkerConfirmsNothing) {
  EXPECT_EQ(parse_marker(marker_body("j2", 42), "j1"), std::nullopt);
}

TEST(Marker, EveryHalfWrittenBodyConfirmsNothing) {
  std::string body = marker_body("j1", 123456);
  for (size_t n = 0; n < body.size(); ++n)
    EXPECT_EQ(parse_marker(body.substr(0, n), "j1"), std::nullopt) << "first " << n << " bytes";
}

TEST(Marker, MalformedBodiesConfirmNothing) {
  for (const char* body : {"", "\n", "fsrouter-marker v1 j1 42 end extra\n", "fsrouter-marker v2 j1 42 end\n",
                           "fsrouter-marker v1 j1 -1 end\n", "fsrouter-marker v1 j1 4x2 end\n",
                           "fsrouter-marker v1 j1 99999999999999999999999 end\n", "other-marker v1 j1 42 end\n",
                           "fsrouter-marker v1 j1 42 fin\n"})
    EXPECT_EQ(parse_marker(body, "j1"), std::nullopt) << body;
}

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    journal::Options options;
    options.dir = dir.path() + "/journal";
    ASSERT_TRUE(journal::Journal::open(options, &journal).ok());
    uint64_t seq = 0;
    ASSERT_TRUE(journal->commit_delete("x", &seq).ok());
    journal->mark_applied("x", seq);
    ASSERT_EQ(journal->applied_seq(), 1u);
    std::string error;
    pool = BackendPool::create({"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}, "", 1, milliseconds(3000),
                               milliseconds(0), &error, clock);
    ASSERT_TRUE(pool) << error;
    monitor = std::make_unique<BackendMonitor>(*journal, *pool, guard, MonitorOptions{}, clock);
  }
  Backend& backend(int id) { return *pool->all()[id]; }
  void confirm(int id, uint64_t watermark) {
    backend(id).confirmed = true;
    backend(id).watermark = watermark;
  }

  TempDir dir;
  ManualClock clock;
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<BackendPool> pool;
  NameGuard guard{milliseconds(3000), clock};
  std::unique_ptr<BackendMonitor> monitor;
};

TEST_F(MonitorTest, ARefusedPrimaryHandsTheRoleToTheMostConfirmedReplica) {
  confirm(1, 3);
  confirm(2, 5);
  monitor->report_refused(backend(0));
  EXPECT_EQ(pool->primary().id(), 2);
  EXPECT_FALSE(backend(0).healthy);
  EXPECT_FALSE(backend(0).confirmed) << "as a replica it must confirm again";
  EXPECT_EQ(backend(0).watermark.load(), 0u);
  EXPECT_TRUE(backend(2).confirmed);
  EXPECT_EQ(backend(2).watermark.load(), journal->applied_seq()) << "the new primary reflects the applied watermark";
}

TEST_F(MonitorTest, APrimaryWithNoConfirmedReplicaKeepsTheRoleWhenRefused) {
  monitor->report_refused(backend(0));
  EXPECT_EQ(pool->primary().id(), 0);
  EXPECT_FALSE(backend(0).healthy);
}

TEST_F(MonitorTest, ARefusedBackendForgetsItsAbandonedOperations) {
  NameGuard::Clock::time_point retry_at;
  auto ticket = guard.try_begin("a", 1, GuardOp::kPut, &retry_at);
  ASSERT_TRUE(ticket);
  guard.end(*ticket, GuardOutcome::kUnknown);
  ASSERT_TRUE(guard.uncertain_on("a", 1));
  monitor->report_refused(backend(1));
  EXPECT_FALSE(guard.uncertain_on("a", 1)) << "its abandoned requests died with the process";
}

TEST_F(MonitorTest, AHungReplicaLosesItsConfirmationButKeepsUncertainNames) {
  confirm(1, 7);
  NameGuard::Clock::time_point retry_at;
  auto ticket = guard.try_begin("a", 1, GuardOp::kPut, &retry_at);
  ASSERT_TRUE(ticket);
  guard.end(*ticket, GuardOutcome::kUnknown);
  monitor->report_hung(backend(1));
  EXPECT_FALSE(backend(1).healthy);
  EXPECT_FALSE(backend(1).confirmed);
  EXPECT_EQ(backend(1).watermark.load(), 0u);
  EXPECT_TRUE(guard.uncertain_on("a", 1)) << "a hung process may still run its requests";
}

TEST_F(MonitorTest, AHungReadOnThePrimaryChangesNothing) {
  confirm(1, 7);
  monitor->report_hung(backend(0));
  EXPECT_TRUE(backend(0).healthy);
  EXPECT_EQ(pool->primary().id(), 0);
}

// The loops themselves, paced by the ManualClock. Nothing listens on the
// pool's ports, so every probe is refused at once.
TEST_F(MonitorTest, EachBackendIsProbedOncePerProbeIntervalOfTheClock) {
  monitor->start();
  ASSERT_TRUE(clock.await_waiters(4)) << "three probe loops and the marker loop, each in its wait";
  for (int id : {0, 1, 2}) EXPECT_EQ(backend(id).counters().requests.load(), 1u) << id;
  EXPECT_FALSE(backend(0).healthy) << "a refused probe marks the backend down";
  clock.advance(MonitorOptions{}.probe_interval - milliseconds(1));
  ASSERT_TRUE(clock.await_waiters(4));
  for (int id : {0, 1, 2}) EXPECT_EQ(backend(id).counters().requests.load(), 1u) << id;
  clock.advance(milliseconds(1));
  ASSERT_TRUE(clock.await_waiters(4));
  for (int id : {0, 1, 2}) EXPECT_EQ(backend(id).counters().requests.load(), 2u) << id;
  monitor->stop();
}

TEST_F(MonitorTest, StopWakesTheLoopsWithoutTheClockMoving) {
  monitor->start();
  ASSERT_TRUE(clock.await_waiters(4));
  auto before = clock.now();
  monitor->stop();
  EXPECT_EQ(clock.waiters(), 0);
  EXPECT_EQ(clock.now(), before);
}

TEST_F(MonitorTest, APrimaryHoldingEverySlotWithNothingFinishingIsFailedOverAsSaturated) {
  MonitorOptions options;
  options.stall_timeout = milliseconds(10000);
  options.probe_timeout = milliseconds(3000);
  monitor = std::make_unique<BackendMonitor>(*journal, *pool, guard, options, clock);
  confirm(1, 1);
  auto held = backend(0).acquire(clock.now());  // the primary's only slot, never answered
  ASSERT_TRUE(held);
  auto probe_with_every_slot_busy = [&] {
    std::thread probe([&] { monitor->probe(backend(0)); });
    ASSERT_TRUE(clock.await_waiters(1));
    clock.advance(options.probe_timeout);  // the probe's acquire gives up
    probe.join();
  };
  probe_with_every_slot_busy();
  EXPECT_TRUE(backend(0).healthy) << "busy for 3 s of a 10 s bound";
  EXPECT_EQ(pool->primary().id(), 0);
  clock.advance(milliseconds(7000));
  probe_with_every_slot_busy();
  EXPECT_FALSE(backend(0).healthy) << "13 s with every slot held and nothing finished";
  EXPECT_EQ(backend(0).down_reason(), "saturated");
  EXPECT_EQ(pool->primary().id(), 1) << "a saturated primary is failed over like a dead one";
}

TEST_F(MonitorTest, APrimaryBusyWithOurOwnAnsweredLoadStaysHealthy) {
  MonitorOptions options;
  options.stall_timeout = milliseconds(10000);
  options.probe_timeout = milliseconds(3000);
  monitor = std::make_unique<BackendMonitor>(*journal, *pool, guard, options, clock);
  confirm(1, 1);
  for (int i = 0; i < 10; ++i) {
    auto held = backend(0).acquire(clock.now());
    ASSERT_TRUE(held);
    std::thread probe([&] { monitor->probe(backend(0)); });
    ASSERT_TRUE(clock.await_waiters(1));
    clock.advance(options.probe_timeout);
    probe.join();
    backend(0).note_answer(201);  // our request finished: progress
  }
  EXPECT_TRUE(backend(0).healthy) << "30 s with every slot ours, answers arriving";
  EXPECT_EQ(pool->primary().id(), 0);
}

// A backend stand-in in process that answers every GET with one status (200:
// the marker of the journal given).
class StatusServer {
 public:
  explicit StatusServer(std::string marker) : marker_(std::move(marker)) {
    server_.Get(".*", [this](const httplib::Request&, httplib::Response& res) {
      received++;
      {
        std::unique_lock<std::mutex> lock(gate_mu_);
        gate_cv_.wait(lock, [this] { return open_; });
      }
      res.status = status.load();
      res.set_content(res.status == 200 ? marker_ : std::string("Too many requests. Slow down."), "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");  // connections queue until the thread accepts
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is a no-op until the server runs: wait for it, or the destructor may hang in join.
    EXPECT_TRUE(fsr::test::wait_until([this] { return server_.is_running(); }, std::chrono::seconds(10)));
  }
  ~StatusServer() {
    set_gate(true);
    server_.stop();
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Requests wait for the gate to open before they are answered.
  void set_gate(bool open) {
    {
      std::lock_guard<std::mutex> lock(gate_mu_);
      open_ = open;
    }
    gate_cv_.notify_all();
  }
  std::atomic<int> status{200};
  std::atomic<int> received{0};

 private:
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool open_ = true;
  std::string marker_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

class ProbeTest : public MonitorTest {
 protected:
  void SetUp() override {
    MonitorTest::SetUp();
    primary_server = std::make_unique<StatusServer>(marker_body(journal->journal_id(), 1));
    replica_server = std::make_unique<StatusServer>(marker_body(journal->journal_id(), 1));
    std::string error;
    pool = BackendPool::create({primary_server->address(), replica_server->address()}, "", 2, milliseconds(3000),
                               milliseconds(0), &error, clock);
    ASSERT_TRUE(pool) << error;
    options.stall_timeout = milliseconds(10000);
    monitor = std::make_unique<BackendMonitor>(*journal, *pool, guard, options, clock);
  }
  void TearDown() override {
    monitor.reset();
    pool.reset();  // closes the kept connections, so the servers stop at once
  }
  MonitorOptions options;
  std::unique_ptr<StatusServer> primary_server;
  std::unique_ptr<StatusServer> replica_server;
};

TEST_F(ProbeTest, AReplicaProbedOnceConfirmsFromTheMarker) {
  monitor->probe(backend(1));
  EXPECT_TRUE(backend(1).healthy);
  EXPECT_TRUE(backend(1).confirmed);
  EXPECT_EQ(backend(1).watermark.load(), 1u);
}

TEST_F(ProbeTest, APrimaryAnsweringOnly429WhileWeHoldNothingIsFailedOverAsWedged) {
  monitor->probe(backend(1));
  ASSERT_TRUE(backend(1).confirmed);
  primary_server->status = 429;  // its slots held by requests that never finish
  monitor->probe(backend(0));
  EXPECT_TRUE(backend(0).healthy) << "one 429 proves nothing";
  clock.advance(milliseconds(9999));
  monitor->probe(backend(0));
  EXPECT_TRUE(backend(0).healthy) << "1 ms short of the bound";
  clock.advance(milliseconds(1));
  monitor->probe(backend(0));
  EXPECT_FALSE(backend(0).healthy) << "only 429s for the whole bound, with our slots free";
  EXPECT_EQ(backend(0).down_reason(), "wedged");
  EXPECT_EQ(pool->primary().id(), 1) << "a wedged primary is failed over like a dead one";
}

TEST_F(ProbeTest, AProbeSentBeforeTheBackendFailedAndWasDemotedNeitherRevivesNorConfirmsIt) {
  monitor->probe(backend(1));
  ASSERT_TRUE(backend(1).confirmed);
  primary_server->set_gate(false);
  std::thread probe([&] { monitor->probe(backend(0)); });  // sent while 0 is the primary
  ASSERT_TRUE(fsr::test::wait_until([&] { return primary_server->received.load() == 1; }, std::chrono::seconds(10)));
  monitor->report_refused(backend(0));  // its process is gone; 1 takes over
  ASSERT_EQ(pool->primary().id(), 1);
  primary_server->set_gate(true);  // the old process's answer arrives late
  probe.join();
  EXPECT_FALSE(backend(0).healthy) << "an answer sent before the refusal says nothing of the new process";
  EXPECT_FALSE(backend(0).confirmed) << "demoted: it confirms only by a marker read made as a replica";
  EXPECT_EQ(backend(0).watermark.load(), 0u);
  monitor->probe(backend(0));
  EXPECT_TRUE(backend(0).healthy);
  EXPECT_TRUE(backend(0).confirmed) << "a probe sent after the demotion read the marker back";
}

TEST_F(ProbeTest, AWedgedBackendIsHealthyAgainOnlyWhenItAnswersAgain) {
  replica_server->status = 429;
  monitor->probe(backend(1));
  clock.advance(options.stall_timeout);
  monitor->probe(backend(1));
  ASSERT_FALSE(backend(1).healthy);
  EXPECT_FALSE(backend(1).confirmed);
  clock.advance(options.stall_timeout);
  monitor->probe(backend(1));
  EXPECT_FALSE(backend(1).healthy) << "still only 429s";
  replica_server->status = 200;
  monitor->probe(backend(1));
  EXPECT_TRUE(backend(1).healthy);
  EXPECT_EQ(backend(1).down_reason(), "");
  EXPECT_TRUE(backend(1).confirmed) << "it read the marker back";
}

}  // namespace
}  // namespace fsr::router
