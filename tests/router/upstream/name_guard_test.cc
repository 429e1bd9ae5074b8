// NameGuard (router/upstream/name_guard.h) driven by a ManualClock: one
// operation per name, abandoned operations, the settle rule, only PUT/GET
// after an abandoned operation, and a restarted backend.
#include "router/upstream/name_guard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/clock.h"

namespace fsr::router {
namespace {

using std::chrono::milliseconds;
using TimePoint = NameGuard::Clock::time_point;

constexpr milliseconds kSettle{3000};

class NameGuardTest : public ::testing::Test {
 protected:
  ManualClock clock;
  NameGuard guard{kSettle, clock};

  NameGuard::Ticket must_begin(const std::string& name, int backend, GuardOp op) {
    TimePoint retry_at{};
    auto ticket = guard.try_begin(name, backend, op, &retry_at);
    EXPECT_TRUE(ticket) << name << " on backend " << backend;
    return ticket ? *ticket : NameGuard::Ticket{};
  }
  // The try_begin refusal's retry time, or nullopt when it was allowed (and
  // then ended again at once, answered).
  std::optional<TimePoint> refused_until(const std::string& name, int backend, GuardOp op) {
    TimePoint retry_at{};
    auto ticket = guard.try_begin(name, backend, op, &retry_at);
    if (!ticket) return retry_at;
    guard.cancel(*ticket);
    return std::nullopt;
  }
  // Begins and abandons one operation; returns when it was sent.
  TimePoint abandon(const std::string& name, int backend, GuardOp op) {
    auto ticket = must_begin(name, backend, op);
    guard.end(ticket, /*answered=*/false);
    return ticket.sent_at;
  }
};

TEST_F(NameGuardTest, TicketCarriesTheClocksTimeAsSentAt) {
  auto ticket = must_begin("a", 0, GuardOp::kPut);
  EXPECT_EQ(ticket.sent_at, clock.now());
  EXPECT_EQ(ticket.name, "a");
  EXPECT_EQ(ticket.backend, 0);
}

TEST_F(NameGuardTest, OneOperationPerNameAtATimeAcrossAllBackends) {
  auto put = must_begin("a", 0, GuardOp::kPut);
  for (int backend : {0, 1, 2})
    for (GuardOp op : {GuardOp::kRead, GuardOp::kPut, GuardOp::kDelete}) {
      auto retry_at = refused_until("a", backend, op);
      ASSERT_TRUE(retry_at) << "backend " << backend;
      EXPECT_GT(*retry_at, clock.now()) << "a busy name is retried later, not at once";
    }
  EXPECT_FALSE(refused_until("b", 1, GuardOp::kDelete)) << "another name is not held";
  guard.end(put, /*answered=*/true);
  EXPECT_FALSE(refused_until("a", 1, GuardOp::kDelete));
}

TEST_F(NameGuardTest, CancelledOperationFreesTheNameAndLeavesNothingUncertain) {
  auto put = must_begin("a", 0, GuardOp::kPut);
  guard.cancel(put);
  EXPECT_FALSE(guard.uncertain_anywhere("a"));
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kDelete));
}

TEST_F(NameGuardTest, AnsweredOperationLeavesTheNameCertain) {
  guard.end(must_begin("a", 0, GuardOp::kPut), /*answered=*/true);
  EXPECT_FALSE(guard.uncertain_anywhere("a"));
  EXPECT_EQ(guard.uncertain_count(), 0u);
}

TEST_F(NameGuardTest, AbandonedOperationMakesTheNameUncertainOnItsBackendOnly) {
  abandon("a", 1, GuardOp::kPut);
  EXPECT_TRUE(guard.uncertain_on("a", 1));
  EXPECT_FALSE(guard.uncertain_on("a", 0));
  EXPECT_FALSE(guard.uncertain_on("b", 1));
  EXPECT_TRUE(guard.uncertain_anywhere("a"));
  EXPECT_EQ(guard.uncertain_count(), 1u);
  // Other backends take any operation on the name at once.
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kDelete));
}

TEST_F(NameGuardTest, AfterAnAbandonedOperationPutAndGetWaitOutTheSettleTime) {
  TimePoint sent_at = abandon("a", 0, GuardOp::kPut);
  for (GuardOp op : {GuardOp::kRead, GuardOp::kPut}) {
    auto retry_at = refused_until("a", 0, op);
    ASSERT_TRUE(retry_at);
    EXPECT_EQ(*retry_at, sent_at + kSettle);
  }
  clock.advance(kSettle - milliseconds(1));
  EXPECT_TRUE(refused_until("a", 0, GuardOp::kRead)) << "1 ms before the settle time ends";
  clock.advance(milliseconds(1));
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kRead));
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kPut));
}

TEST_F(NameGuardTest, AfterAnAbandonedOperationDeleteIsRefusedUntilAPutOrGetIsAnswered) {
  abandon("a", 0, GuardOp::kPut);
  clock.advance(kSettle * 100);
  auto retry_at = refused_until("a", 0, GuardOp::kDelete);
  ASSERT_TRUE(retry_at) << "a DELETE could wedge against the abandoned PUT";
  EXPECT_EQ(*retry_at, TimePoint::max()) << "time alone never allows it";
  guard.end(must_begin("a", 0, GuardOp::kRead), /*answered=*/true);
  EXPECT_FALSE(guard.uncertain_on("a", 0));
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kDelete));
}

TEST_F(NameGuardTest, AnAbandonedOperationAfterTheSettleKeepsTheNameUncertain) {
  abandon("a", 0, GuardOp::kPut);
  clock.advance(kSettle);
  TimePoint second = abandon("a", 0, GuardOp::kRead);
  EXPECT_TRUE(guard.uncertain_on("a", 0));
  auto retry_at = refused_until("a", 0, GuardOp::kPut);
  ASSERT_TRUE(retry_at);
  EXPECT_EQ(*retry_at, second + kSettle) << "the later abandoned operation sets the settle time";
}

TEST_F(NameGuardTest, AnAnswerSentAfterTheSettleClearsTheAbandonedOperation) {
  abandon("a", 0, GuardOp::kPut);
  clock.advance(kSettle);
  auto get = must_begin("a", 0, GuardOp::kRead);  // sent `settle` after the PUT: the backend ran it after
  EXPECT_TRUE(guard.uncertain_on("a", 0)) << "uncertain until the later operation is answered";
  guard.end(get, /*answered=*/true);
  EXPECT_FALSE(guard.uncertain_on("a", 0));
  EXPECT_EQ(guard.uncertain_count(), 0u);
}

TEST_F(NameGuardTest, AnAnswerOnAnotherBackendLeavesTheNameUncertainWhereItWasAbandoned) {
  abandon("a", 1, GuardOp::kPut);
  clock.advance(kSettle);
  guard.end(must_begin("a", 0, GuardOp::kPut), /*answered=*/true);
  EXPECT_TRUE(guard.uncertain_on("a", 1));
  EXPECT_FALSE(guard.uncertain_on("a", 0));
}

TEST_F(NameGuardTest, RestartedBackendForgetsItsAbandonedOperations) {
  abandon("a", 1, GuardOp::kPut);
  abandon("b", 1, GuardOp::kRead);
  abandon("a", 2, GuardOp::kPut);
  guard.backend_restarted(1);
  EXPECT_FALSE(guard.uncertain_on("a", 1));
  EXPECT_FALSE(guard.uncertain_on("b", 1));
  EXPECT_TRUE(guard.uncertain_on("a", 2)) << "only the restarted backend forgets";
  EXPECT_EQ(guard.uncertain_count(), 1u);
  EXPECT_FALSE(refused_until("a", 1, GuardOp::kDelete)) << "no settle wait, DELETE allowed at once";
}

TEST_F(NameGuardTest, RestartDoesNotFreeANameWithAnOperationRunning) {
  auto put = must_begin("a", 1, GuardOp::kPut);
  guard.backend_restarted(1);
  EXPECT_TRUE(refused_until("a", 0, GuardOp::kRead)) << "the running operation still holds the name";
  guard.end(put, /*answered=*/true);
}

TEST_F(NameGuardTest, BeginWithADeadlineAlreadyReachedDoesNotWait) {
  auto put = must_begin("a", 0, GuardOp::kPut);
  EXPECT_FALSE(guard.begin("a", 0, GuardOp::kRead, clock.now()));
  guard.end(put, /*answered=*/true);
}

TEST_F(NameGuardTest, BeginGivesUpAtOnceWhenTheSettleTimeEndsAfterTheDeadline) {
  abandon("a", 0, GuardOp::kPut);
  EXPECT_FALSE(guard.begin("a", 0, GuardOp::kRead, clock.now() + kSettle - milliseconds(1)));
  EXPECT_EQ(clock.waiters(), 0);
}

TEST_F(NameGuardTest, BeginWaitsOutTheSettleTimeThenStarts) {
  TimePoint sent_at = abandon("a", 0, GuardOp::kPut);
  std::atomic<bool> done{false};
  std::optional<NameGuard::Ticket> ticket;
  std::thread reader([&] {
    ticket = guard.begin("a", 0, GuardOp::kRead, clock.now() + 2 * kSettle);
    done = true;
  });
  ASSERT_TRUE(clock.await_waiters(1)) << "begin should be waiting for the settle time";
  EXPECT_FALSE(done);
  clock.advance(kSettle + milliseconds(200));
  reader.join();
  ASSERT_TRUE(ticket);
  EXPECT_GE(ticket->sent_at, sent_at + kSettle);
  guard.end(*ticket, /*answered=*/true);
  EXPECT_FALSE(guard.uncertain_on("a", 0));
}

TEST_F(NameGuardTest, BeginStartsWhenTheRunningOperationEnds) {
  auto put = must_begin("a", 0, GuardOp::kPut);
  std::optional<NameGuard::Ticket> ticket;
  std::thread reader([&] { ticket = guard.begin("a", 1, GuardOp::kRead, clock.now() + milliseconds(1000)); });
  ASSERT_TRUE(clock.await_waiters(1));
  guard.end(put, /*answered=*/true);
  reader.join();  // woken by end(), with the clock standing still
  ASSERT_TRUE(ticket);
  EXPECT_EQ(ticket->backend, 1);
  guard.cancel(*ticket);
}

TEST_F(NameGuardTest, BeginGivesUpAtItsDeadline) {
  auto put = must_begin("a", 0, GuardOp::kPut);
  bool got = true;
  std::thread reader([&] { got = guard.begin("a", 1, GuardOp::kRead, clock.now() + milliseconds(100)).has_value(); });
  ASSERT_TRUE(clock.await_waiters(1));
  clock.advance(milliseconds(100));
  reader.join();
  EXPECT_FALSE(got);
  guard.end(put, /*answered=*/true);
}

}  // namespace
}  // namespace fsr::router
