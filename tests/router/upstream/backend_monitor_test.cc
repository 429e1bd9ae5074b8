// The monitor's decisions (router/upstream/backend_monitor.h): which backend
// takes over the primary role, the marker format, and what a refused or hung
// backend loses. No backend runs: the monitor is told of failures directly.
#include "router/upstream/backend_monitor.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace fsr::router
