// Backend permits (router/upstream/backend_pool.h) driven by a ManualClock:
// the cap, abandon holds, slot grace, idle connections and acquire's
// deadline. Nothing connects: a lease's client is opened only when a request
// is sent, and these tests send none.
#include "router/upstream/backend_pool.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/clock.h"

namespace fsr::router {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kAbandonHold{3000};
constexpr milliseconds kSlotGrace{10};

std::unique_ptr<Backend> make_backend(ManualClock& clock, int cap, milliseconds slot_grace = milliseconds(0)) {
  return std::make_unique<Backend>(0, "127.0.0.1", 9, cap, kAbandonHold, slot_grace, clock);
}

// TCP connections the backend may have open: leases out and idle ones.
int open_connections(Backend& b, int leases_out) { return leases_out + b.idle_connections(); }

TEST(BackendPermits, AcquireGivesAtMostCapLeasesAndThenFailsAtItsDeadline) {
  ManualClock clock;
  auto b = make_backend(clock, 3);
  std::vector<BackendLease> leases;
  for (int i = 0; i < 3; ++i) {
    auto lease = b->acquire(clock.now());
    ASSERT_TRUE(lease) << "permit " << i;
    leases.push_back(std::move(*lease));
  }
  EXPECT_EQ(b->in_flight(), 3);
  EXPECT_FALSE(b->acquire(clock.now())) << "a deadline already reached does not wait";
  EXPECT_EQ(b->in_flight(), 3);
  EXPECT_EQ(b->counters().requests.load(), 3u);
}

TEST(BackendPermits, AWaitingAcquireGivesUpWhenTheClockReachesItsDeadline) {
  ManualClock clock;
  auto b = make_backend(clock, 1);
  auto held = b->acquire(clock.now());
  ASSERT_TRUE(held);
  bool got = true;
  std::thread waiter([&] { got = b->acquire(clock.now() + milliseconds(500)).has_value(); });
  ASSERT_TRUE(clock.await_waiters(1));
  clock.advance(milliseconds(499));
  ASSERT_TRUE(clock.await_waiters(1)) << "still waiting 1 ms before its deadline";
  clock.advance(milliseconds(1));
  waiter.join();
  EXPECT_FALSE(got);
}

TEST(BackendPermits, AReleasedPermitGoesToAWaitingAcquire) {
  ManualClock clock;
  auto b = make_backend(clock, 1);
  auto held = b->acquire(clock.now());
  ASSERT_TRUE(held);
  std::optional<BackendLease> got;
  std::thread waiter([&] { got = b->acquire(clock.now() + milliseconds(500)); });
  ASSERT_TRUE(clock.await_waiters(1));
  held.reset();  // answered, no slot grace: the permit is free at once
  waiter.join();  // with the clock standing still
  EXPECT_TRUE(got && *got);
  EXPECT_EQ(b->in_flight(), 1);
}

TEST(BackendPermits, AnAbandonedLeaseKeepsItsPermitForTheAbandonHold) {
  ManualClock clock;
  auto b = make_backend(clock, 1);
  auto lease = b->acquire(clock.now());
  ASSERT_TRUE(lease);
  lease->abandon();
  EXPECT_FALSE(*lease);
  EXPECT_EQ(b->counters().abandoned.load(), 1u);
  EXPECT_EQ(b->in_flight(), 1) << "the backend may still be working on it";
  EXPECT_FALSE(b->acquire(clock.now()));
  clock.advance(kAbandonHold - milliseconds(1));
  EXPECT_EQ(b->in_flight(), 1);
  EXPECT_FALSE(b->acquire(clock.now()));
  clock.advance(milliseconds(1));
  EXPECT_EQ(b->in_flight(), 0);
  EXPECT_TRUE(b->acquire(clock.now()));
}

TEST(BackendPermits, AWaitingAcquireGetsThePermitWhenAnAbandonHoldEnds) {
  ManualClock clock;
  auto b = make_backend(clock, 1);
  b->acquire(clock.now())->abandon();
  std::optional<BackendLease> got;
  std::thread waiter([&] { got = b->acquire(clock.now() + 2 * kAbandonHold); });
  ASSERT_TRUE(clock.await_waiters(1));
  clock.advance(kAbandonHold);
  waiter.join();
  EXPECT_TRUE(got && *got);
}

TEST(BackendPermits, AnAnsweredLeaseKeepsItsPermitForTheSlotGrace) {
  ManualClock clock;
  auto b = make_backend(clock, 1, kSlotGrace);
  {
    auto lease = b->acquire(clock.now());
    ASSERT_TRUE(lease);
  }  // released: answered
  EXPECT_EQ(b->in_flight(), 1) << "the backend counts it out only after it sent the answer";
  EXPECT_FALSE(b->acquire(clock.now()));
  clock.advance(kSlotGrace - milliseconds(1));
  EXPECT_EQ(b->in_flight(), 1);
  clock.advance(milliseconds(1));
  EXPECT_EQ(b->in_flight(), 0);
  EXPECT_TRUE(b->acquire(clock.now()));
}

TEST(BackendPermits, WithoutSlotGraceAnAnsweredLeaseFreesItsPermitAtOnce) {
  ManualClock clock;
  auto b = make_backend(clock, 1);
  b->acquire(clock.now());  // the lease is released at the end of the statement
  EXPECT_EQ(b->in_flight(), 0);
  EXPECT_TRUE(b->acquire(clock.now()));
}

TEST(BackendPermits, ADiscardedLeaseClosesItsConnectionAndHoldsNoAbandonHold) {
  ManualClock clock;
  auto b = make_backend(clock, 1, kSlotGrace);
  auto lease = b->acquire(clock.now());
  ASSERT_TRUE(lease);
  lease->discard();
  EXPECT_EQ(b->idle_connections(), 0);
  clock.advance(kSlotGrace);  // counted out as an answered one, not held for kAbandonHold
  EXPECT_EQ(b->in_flight(), 0);
}

TEST(BackendPermits, WithoutSlotGraceADiscardedLeaseFreesItsPermitAtOnce) {
  ManualClock clock;
  auto b = make_backend(clock, 1);
  b->acquire(clock.now())->discard();
  EXPECT_EQ(b->in_flight(), 0);
  EXPECT_EQ(b->idle_connections(), 0);
}

TEST(BackendPermits, OnlyAnsweredLeasesKeepTheirConnectionForReuse) {
  ManualClock clock;
  auto b = make_backend(clock, 3);
  auto answered = b->acquire(clock.now());
  auto abandoned = b->acquire(clock.now());
  auto discarded = b->acquire(clock.now());
  ASSERT_TRUE(answered && abandoned && discarded);
  httplib::Client* kept = &answered->client();
  answered.reset();
  abandoned->abandon();
  discarded->discard();
  EXPECT_EQ(b->idle_connections(), 1);
  auto reused = b->acquire(clock.now());
  ASSERT_TRUE(reused);
  EXPECT_EQ(&reused->client(), kept) << "the idle connection is taken before a new one is opened";
  EXPECT_EQ(b->idle_connections(), 0);
}

TEST(BackendPermits, AnAnsweredConnectionSitsIdleWhileItsSlotGraceRunsAndIsReusedAfter) {
  ManualClock clock;
  auto b = make_backend(clock, 1, kSlotGrace);
  auto lease = b->acquire(clock.now());
  ASSERT_TRUE(lease);
  httplib::Client* kept = &lease->client();
  lease.reset();
  EXPECT_EQ(b->in_flight(), 1);
  EXPECT_EQ(b->idle_connections(), 1) << "one connection: no lease out, one idle";
  clock.advance(kSlotGrace);
  auto again = b->acquire(clock.now());
  ASSERT_TRUE(again);
  EXPECT_EQ(&again->client(), kept);
}

TEST(BackendPermits, OpenConnectionsNeverExceedTheCap) {
  ManualClock clock;
  const int cap = 4;
  auto b = make_backend(clock, cap, kSlotGrace);
  std::vector<BackendLease> leases;
  auto fill = [&] {
    while (auto lease = b->acquire(clock.now())) leases.push_back(std::move(*lease));
    EXPECT_LE(open_connections(*b, static_cast<int>(leases.size())), cap);
  };
  for (int round = 0; round < 5; ++round) {
    fill();
    EXPECT_EQ(b->in_flight(), cap) << "filled: every permit is out or held";
    // Answer half, abandon one, keep the rest out.
    leases.erase(leases.begin(), leases.begin() + static_cast<long>(leases.size() / 2));
    if (!leases.empty()) {
      leases.back().abandon();
      leases.pop_back();
    }
    EXPECT_LE(open_connections(*b, static_cast<int>(leases.size())), cap);
    EXPECT_LE(b->in_flight(), cap);
    clock.advance(round % 2 ? kSlotGrace : kAbandonHold);
    fill();
  }
}

TEST(BackendPool, RejectsBadConfigurationsWithAReason) {
  std::string error;
  EXPECT_FALSE(BackendPool::create({}, "", 1, kAbandonHold, kSlotGrace, &error));
  EXPECT_NE(error.find("between 1 and 5"), std::string::npos) << error;
  EXPECT_FALSE(BackendPool::create({"a:1", "a:1"}, "", 1, kAbandonHold, kSlotGrace, &error));
  EXPECT_NE(error.find("twice"), std::string::npos) << error;
  EXPECT_FALSE(BackendPool::create({"a:1"}, "b:2", 1, kAbandonHold, kSlotGrace, &error));
  EXPECT_NE(error.find("not one of the backends"), std::string::npos) << error;
  EXPECT_FALSE(BackendPool::create({"a:1"}, "", 0, kAbandonHold, kSlotGrace, &error));
}

TEST(BackendPool, TheNamedPrimaryIsTheDesignatedOneAndEveryBackendSharesTheClock) {
  ManualClock clock;
  std::string error;
  auto pool = BackendPool::create({"a:1", "b:2", "c:3"}, "b:2", 1, kAbandonHold, kSlotGrace, &error, clock);
  ASSERT_TRUE(pool) << error;
  EXPECT_EQ(pool->primary().address(), "b:2");
  EXPECT_EQ(pool->designated_primary(), 1);
  EXPECT_EQ(pool->role_of(*pool->all()[0]), Role::kReplica);
  for (Backend* b : pool->all()) {
    b->acquire(clock.now())->abandon();
    EXPECT_EQ(b->in_flight(), 1);
  }
  clock.advance(kAbandonHold);
  for (Backend* b : pool->all()) EXPECT_EQ(b->in_flight(), 0) << b->address();
}


// Health by progress (ProgressWatch): a backend that answers only 429, or
// holds every slot without finishing any, is stalled once that lasted the
// bound; any other answer is progress.
constexpr milliseconds kBound{10000};

TEST(ProgressWatch, Only429sWhileTheRouterHoldsFewerThanTheCapIsAWedgeOnceItLastsTheBound) {
  ManualClock clock;
  ProgressWatch watch;
  watch.answered(clock.now(), 429, 1, 10);
  EXPECT_EQ(watch.stalled(clock.now(), kBound), Stall::kNone);
  clock.advance(kBound - milliseconds(1));
  watch.answered(clock.now(), 429, 2, 10);
  EXPECT_EQ(watch.stalled(clock.now(), kBound), Stall::kNone) << "1 ms short of the bound";
  clock.advance(milliseconds(1));
  EXPECT_EQ(watch.stalled(clock.now(), kBound), Stall::kWedged);
  EXPECT_STREQ(stall_name(Stall::kWedged), "wedged");
}

TEST(ProgressWatch, AnyAnswerOtherThan429IsProgressAndEndsTheStall) {
  ManualClock clock;
  ProgressWatch watch;
  for (int status : {200, 201, 404, 500}) {
    watch.answered(clock.now(), 429, 1, 10);
    clock.advance(kBound);
    ASSERT_EQ(watch.stalled(clock.now(), kBound), Stall::kWedged);
    watch.answered(clock.now(), status, 1, 10);
    EXPECT_EQ(watch.stalled(clock.now(), kBound), Stall::kNone) << status;
    clock.advance(kBound);
    EXPECT_EQ(watch.stalled(clock.now(), kBound), Stall::kNone) << "no evidence since " << status;
  }
}

TEST(ProgressWatch, EverySlotHeldWithNothingAnsweredIsSaturation) {
  ManualClock clock;
  ProgressWatch watch;
  watch.occupancy(clock.now(), 10, 10);
  clock.advance(kBound / 2);
  watch.occupancy(clock.now(), 10, 10);
  EXPECT_EQ(watch.stalled(clock.now(), kBound), Stall::kNone);
  clock.advance(kBound / 2);
  EXPECT_EQ(watch.stalled(clock.now(), kBound), Stall::kSaturated);
  EXPECT_STREQ(stall_name(Stall::kSaturated), "saturated");
}

TEST(ProgressWatch, SlotsComingBackWithoutAnAnswerDoNotEndTheStall) {
  ManualClock clock;
  ProgressWatch watch;
  watch.occupancy(clock.now(), 10, 10);
  clock.advance(kBound / 2);
  watch.occupancy(clock.now(), 3, 10);  // timeouts and expired holds, no answer
  clock.advance(kBound / 2);
  EXPECT_EQ(watch.stalled(clock.now(), kBound), Stall::kSaturated);
  watch.answered(clock.now(), 429, 3, 10);
  EXPECT_EQ(watch.stalled(clock.now(), kBound), Stall::kWedged) << "the kind is the latest evidence";
}

TEST(ProgressWatch, AFullBackendAnsweringOurOwnLoadIsNeverStalled) {
  ManualClock clock;
  ProgressWatch watch;
  for (int i = 0; i < 100; ++i) {
    watch.occupancy(clock.now(), 10, 10);
    clock.advance(milliseconds(333));
    watch.answered(clock.now(), 201, 10, 10);
    watch.answered(clock.now(), 429, 10, 10);  // a request sent the instant a slot freed: not a wedge
    EXPECT_EQ(watch.stalled(clock.now(), kBound), Stall::kNone) << i;
  }
}

TEST(ProgressWatch, A429WhileEverySlotIsOursIsNoWedge) {
  ManualClock clock;
  ProgressWatch watch;
  watch.answered(clock.now(), 429, 10, 10);
  clock.advance(kBound);
  EXPECT_EQ(watch.stalled(clock.now(), kBound), Stall::kSaturated) << "our own slots: saturation, not a wedge";
}

TEST(BackendProgress, ABackendWhoseSlotsAreAllHeldWithNoAnswerStallsAsSaturated) {
  ManualClock clock;
  auto b = make_backend(clock, 2);
  auto first = b->acquire(clock.now());
  auto second = b->acquire(clock.now());
  ASSERT_TRUE(first && second);
  EXPECT_EQ(b->stall(kBound), Stall::kNone);
  clock.advance(kBound);
  EXPECT_EQ(b->stall(kBound), Stall::kSaturated);
  b->note_answer(201);
  EXPECT_EQ(b->stall(kBound), Stall::kNone) << "an answer is progress";
}

TEST(BackendProgress, A429WithAFreeSlotStallsAsWedged) {
  ManualClock clock;
  auto b = make_backend(clock, 2);
  {
    auto lease = b->acquire(clock.now());
    ASSERT_TRUE(lease);
    b->note_answer(429);
  }
  clock.advance(kBound);
  EXPECT_EQ(b->stall(kBound), Stall::kWedged);
}

}  // namespace
}  // namespace fsr::router
