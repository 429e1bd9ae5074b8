// Backend permits (router/upstream/backend_pool.h) driven by a ManualClock:
// the cap, abandon holds, slot grace, idle connections and acquire's
// deadline. Nothing connects: a lease's client is opened only when a request
// is sent, and these tests send none.
#include "router/upstream/backend_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

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
  EXPECT_EQ(b->counters().requests.load(), 0u) << "a slot taken is not a request sent (backend_call counts those)";
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

// What acquire_async callbacks received, in order: the waiter's number and
// whether it got a lease (kept, so its permit stays taken).
class AsyncLine {
 public:
  Backend::LeaseCallback waiter(int number) {
    return [this, number](std::optional<BackendLease> lease) {
      std::lock_guard<std::mutex> lock(mu_);
      got_.emplace_back(number, lease.has_value());
      if (lease && !closed_) leases_.push_back(std::move(*lease));  // closed: goes back at once
      cv_.notify_all();
    };
  }
  // Waits (real time, bounded) until n callbacks have run; their record.
  std::vector<std::pair<int, bool>> await(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return got_.size() >= n; });
    return got_;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_.size();
  }
  void release_one() {
    std::lock_guard<std::mutex> lock(mu_);
    leases_.erase(leases_.begin());
  }
  // Gives every lease back, and any handed over from now on at once.
  void close() {
    std::vector<BackendLease> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      held.swap(leases_);
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<int, bool>> got_;
  std::vector<BackendLease> leases_;
  bool closed_ = false;
};

// A backend and the line of its async waiters, torn down in the order that
// keeps both valid: the leases the line holds go back to the backend first
// (and those it hands over meanwhile at once), then the backend goes,
// calling the waiters left in the line.
struct AsyncBackend {
  AsyncBackend(ManualClock& clock, int cap, milliseconds slot_grace = milliseconds(0))
      : b(make_backend(clock, cap, slot_grace)) {}
  ~AsyncBackend() {
    line.close();
    b.reset();
  }
  AsyncLine line;
  std::unique_ptr<Backend> b;
};

int process_threads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

TEST(BackendAsyncPermits, AFreeSlotIsHandedOverAtOnceOnTheCallingThread) {
  ManualClock clock;
  AsyncBackend t(clock, 1);
  Backend* b = t.b.get();
  AsyncLine& line = t.line;
  b->acquire_async(clock.now() + milliseconds(100), line.waiter(0));
  ASSERT_EQ(line.count(), 1u) << "called before acquire_async returned";
  EXPECT_EQ(line.await(1)[0], std::make_pair(0, true));
  EXPECT_EQ(b->in_flight(), 1);
  EXPECT_FALSE(b->try_acquire()) << "the slot is taken";
  b->acquire_async(clock.now(), line.waiter(1));
  EXPECT_EQ(line.await(2)[1], std::make_pair(1, false)) << "no slot and the deadline reached: no lease, at once";
}

TEST(BackendAsyncPermits, WaitersGetReleasedSlotsInArrivalOrderWithoutAThreadEach) {
  ManualClock clock;
  AsyncBackend t(clock, 2);
  Backend* b = t.b.get();
  AsyncLine& line = t.line;
  auto a = b->acquire(clock.now());
  auto c = b->acquire(clock.now());
  ASSERT_TRUE(a && c);
  int threads_before = process_threads();
  const int waiters = 500;
  for (int i = 0; i < waiters; ++i) b->acquire_async(clock.now() + std::chrono::hours(1), line.waiter(i));
  EXPECT_EQ(b->async_waiters(), waiters);
  EXPECT_LE(process_threads(), threads_before + 1) << "one waiter thread for the backend, not one per waiter";
  EXPECT_EQ(line.count(), 0u);
  EXPECT_FALSE(b->try_acquire()) << "no slot";
  a.reset();  // frees a permit at once (no slot grace)
  auto got = line.await(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], std::make_pair(0, true));
  c.reset();
  got = line.await(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], std::make_pair(1, true));
  EXPECT_EQ(b->in_flight(), 2);
  for (int i = 2; i < 6; ++i) {
    line.release_one();
    got = line.await(static_cast<size_t>(i + 1));
    ASSERT_EQ(got.size(), static_cast<size_t>(i + 1));
    EXPECT_EQ(got[i], std::make_pair(i, true)) << "first come, first served";
  }
  EXPECT_EQ(b->async_waiters(), waiters - 6);
  EXPECT_EQ(b->in_flight(), 2) << "never more than the cap";
}

TEST(BackendAsyncPermits, AWaiterGetsTheSlotWhenItsHoldEndsOnTheClock) {
  ManualClock clock;
  AsyncBackend t(clock, 1, kSlotGrace);
  Backend* b = t.b.get();
  AsyncLine& line = t.line;
  auto held = b->acquire(clock.now());
  ASSERT_TRUE(held);
  b->acquire_async(clock.now() + std::chrono::hours(1), line.waiter(0));
  ASSERT_TRUE(clock.await_waiters(1));
  held.reset();  // answered: the permit is held for the slot grace
  ASSERT_TRUE(clock.await_wake_by(clock.now() + kSlotGrace, std::chrono::seconds(5)))
      << "the waiter thread was told of the hold and waits for its end, not for the waiter's deadline";
  EXPECT_EQ(line.count(), 0u);
  clock.advance(kSlotGrace - milliseconds(1));
  ASSERT_TRUE(clock.await_waiters(1));
  EXPECT_EQ(line.count(), 0u) << "still held 1 ms before the grace ends";
  clock.advance(milliseconds(1));
  auto got = line.await(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], std::make_pair(0, true));
}

TEST(BackendAsyncPermits, AWaiterGetsNothingAtItsDeadlineAndTheOthersKeepTheirPlace) {
  ManualClock clock;
  AsyncBackend t(clock, 1);
  Backend* b = t.b.get();
  AsyncLine& line = t.line;
  auto held = b->acquire(clock.now());
  ASSERT_TRUE(held);
  b->acquire_async(clock.now() + milliseconds(500), line.waiter(0));
  b->acquire_async(clock.now() + milliseconds(200), line.waiter(1));
  b->acquire_async(clock.now() + milliseconds(900), line.waiter(2));
  ASSERT_TRUE(clock.await_waiters(1));
  clock.advance(milliseconds(199));
  ASSERT_TRUE(clock.await_waiters(1));
  EXPECT_EQ(line.count(), 0u);
  clock.advance(milliseconds(1));
  auto got = line.await(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], std::make_pair(1, false)) << "the one whose deadline came, and only it";
  EXPECT_EQ(b->async_waiters(), 2);
  held.reset();
  got = line.await(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], std::make_pair(0, true)) << "the earliest still waiting";
  EXPECT_EQ(b->async_waiters(), 1);
}

TEST(BackendAsyncPermits, ABlockingAcquireWaitsInTheSameLineAsAsyncWaiters) {
  ManualClock clock;
  AsyncBackend t(clock, 1);
  Backend* b = t.b.get();
  AsyncLine& line = t.line;
  auto held = b->acquire(clock.now());
  ASSERT_TRUE(held);
  b->acquire_async(clock.now() + std::chrono::hours(1), line.waiter(0));
  b->acquire_async(clock.now() + std::chrono::hours(1), line.waiter(1));
  // The applier's blocking acquire comes third, a read fourth.
  std::optional<BackendLease> sync;
  std::atomic<bool> got_sync{false};
  std::thread applier([&] {
    sync = b->acquire(clock.now() + std::chrono::hours(1));
    got_sync = true;
  });
  auto patience = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (b->async_waiters() < 3 && std::chrono::steady_clock::now() < patience)
    std::this_thread::sleep_for(milliseconds(1));
  ASSERT_EQ(b->async_waiters(), 3) << "the blocking acquire is in the line";
  b->acquire_async(clock.now() + std::chrono::hours(1), line.waiter(3));
  held.reset();
  EXPECT_EQ(line.await(1).back(), std::make_pair(0, true));
  line.release_one();
  EXPECT_EQ(line.await(2).back(), std::make_pair(1, true));
  EXPECT_FALSE(got_sync) << "not ahead of the reads that came first";
  line.release_one();  // its turn: it gets the slot, and before the read behind it
  patience = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!got_sync && std::chrono::steady_clock::now() < patience) std::this_thread::sleep_for(milliseconds(1));
  if (!got_sync) {  // let it go (the backend fails its line) before failing
    line.close();
    t.b.reset();
    applier.join();
    FAIL() << "the blocking acquire never got its turn";
  }
  applier.join();
  ASSERT_TRUE(sync && *sync);
  EXPECT_EQ(line.count(), 2u);
  sync.reset();
  EXPECT_EQ(line.await(3).back(), std::make_pair(3, true));
  EXPECT_EQ(b->in_flight(), 1);
}

TEST(BackendAsyncPermits, AWaiterThatComesBackKeepsItsPlaceByWhenItFirstAsked) {
  ManualClock clock;
  AsyncBackend t(clock, 1);
  Backend* b = t.b.get();
  AsyncLine& line = t.line;
  auto held = b->acquire(clock.now());
  ASSERT_TRUE(held);
  auto first_asked = clock.now();
  clock.advance(milliseconds(300));
  b->acquire_async(clock.now() + std::chrono::hours(1), line.waiter(0));
  b->acquire_async(clock.now() + std::chrono::hours(1), line.waiter(1));
  // A read that asked before both, left a line to look again, and is back.
  b->acquire_async(clock.now() + std::chrono::hours(1), line.waiter(2), first_asked);
  b->acquire_async(clock.now() + std::chrono::hours(1), line.waiter(3), clock.now());
  held.reset();
  EXPECT_EQ(line.await(1).back(), std::make_pair(2, true)) << "the one that asked first";
  line.release_one();
  EXPECT_EQ(line.await(2).back(), std::make_pair(0, true));
  line.release_one();
  EXPECT_EQ(line.await(3).back(), std::make_pair(1, true));
  line.release_one();
  EXPECT_EQ(line.await(4).back(), std::make_pair(3, true)) << "equal times: in arrival order";
}

TEST(BackendAsyncPermits, WaitersLeftWhenTheBackendGoesGetNothing) {
  ManualClock clock;
  AsyncBackend t(clock, 1);
  Backend* b = t.b.get();
  AsyncLine& line = t.line;
  auto held = b->acquire(clock.now());
  ASSERT_TRUE(held);
  held->abandon();  // the permit stays held for the abandon hold, with no lease left
  b->acquire_async(clock.now() + std::chrono::hours(1), line.waiter(0));
  ASSERT_EQ(b->async_waiters(), 1);
  t.b.reset();
  auto got = line.await(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], std::make_pair(0, false));
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
