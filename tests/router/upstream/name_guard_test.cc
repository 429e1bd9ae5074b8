// NameGuard (router/upstream/name_guard.h) driven by a ManualClock: one
// operation per name, abandoned operations, the settle rule, only PUT/GET
// after an abandoned operation, and a restarted backend.
#include "router/upstream/name_guard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/clock.h"
#include "router/upstream/backend_call.h"

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
  // Ends an operation as the callers do with the backend's result.
  void end_with(const NameGuard::Ticket& ticket, const BackendResult& result) {
    guard.end(ticket, guard_outcome(result));
  }
  // Begins and abandons one operation; returns when it was sent.
  TimePoint abandon(const std::string& name, int backend, GuardOp op) {
    auto ticket = must_begin(name, backend, op);
    guard.end(ticket, GuardOutcome::kUnknown);
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
  guard.end(put, GuardOutcome::kDone);
  EXPECT_FALSE(refused_until("a", 1, GuardOp::kDelete));
}

TEST_F(NameGuardTest, CancelledOperationFreesTheNameAndLeavesNothingUncertain) {
  auto put = must_begin("a", 0, GuardOp::kPut);
  guard.cancel(put);
  EXPECT_FALSE(guard.uncertain_anywhere("a"));
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kDelete));
}

TEST_F(NameGuardTest, AnsweredOperationLeavesTheNameCertain) {
  guard.end(must_begin("a", 0, GuardOp::kPut), GuardOutcome::kDone);
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
  guard.end(must_begin("a", 0, GuardOp::kRead), GuardOutcome::kDone);
  EXPECT_FALSE(guard.uncertain_on("a", 0));
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kDelete));
}

TEST_F(NameGuardTest, AnAbandonedOperationAfterTheSettleKeepsTheNameUncertain) {
  abandon("a", 0, GuardOp::kPut);
  clock.advance(kSettle);
  TimePoint second = abandon("a", 0, GuardOp::kPut);
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
  guard.end(get, GuardOutcome::kDone);
  EXPECT_FALSE(guard.uncertain_on("a", 0));
  EXPECT_EQ(guard.uncertain_count(), 0u);
}

TEST_F(NameGuardTest, AnAnswerOnAnotherBackendLeavesTheNameUncertainWhereItWasAbandoned) {
  abandon("a", 1, GuardOp::kPut);
  clock.advance(kSettle);
  guard.end(must_begin("a", 0, GuardOp::kPut), GuardOutcome::kDone);
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

TEST_F(NameGuardTest, RestartsAreCountedPerBackend) {
  EXPECT_EQ(guard.restarts(1), 0u);
  guard.backend_restarted(1);
  guard.backend_restarted(1);
  EXPECT_EQ(guard.restarts(1), 2u);
  EXPECT_EQ(guard.restarts(2), 0u) << "only the restarted backend's count moves";
}

TEST_F(NameGuardTest, RestartDoesNotFreeANameWithAnOperationRunning) {
  auto put = must_begin("a", 1, GuardOp::kPut);
  guard.backend_restarted(1);
  EXPECT_TRUE(refused_until("a", 0, GuardOp::kRead)) << "the running operation still holds the name";
  guard.end(put, GuardOutcome::kDone);
}

TEST_F(NameGuardTest, BeginWithADeadlineAlreadyReachedDoesNotWait) {
  auto put = must_begin("a", 0, GuardOp::kPut);
  EXPECT_FALSE(guard.begin("a", 0, GuardOp::kRead, clock.now()));
  guard.end(put, GuardOutcome::kDone);
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
  guard.end(*ticket, GuardOutcome::kDone);
  EXPECT_FALSE(guard.uncertain_on("a", 0));
}

TEST_F(NameGuardTest, BeginStartsWhenTheRunningOperationEnds) {
  auto put = must_begin("a", 0, GuardOp::kPut);
  std::optional<NameGuard::Ticket> ticket;
  std::thread reader([&] { ticket = guard.begin("a", 1, GuardOp::kRead, clock.now() + milliseconds(1000)); });
  ASSERT_TRUE(clock.await_waiters(1));
  guard.end(put, GuardOutcome::kDone);
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
  guard.end(put, GuardOutcome::kDone);
}

BackendResult answered(int status) { return {Outcome::kAnswered, status, ""}; }

// Hole: a 429 is sent at admission, before the backend's per-name exclusion,
// so it says nothing about an abandoned operation on the name there.
TEST_F(NameGuardTest, A429LeavesAnAbandonedPutUncertainAndADeleteOffThatBackend) {
  abandon("a", 0, GuardOp::kPut);
  clock.advance(kSettle);
  end_with(must_begin("a", 0, GuardOp::kRead), answered(429));
  EXPECT_TRUE(guard.uncertain_on("a", 0)) << "the abandoned PUT may still be running";
  EXPECT_TRUE(refused_until("a", 0, GuardOp::kDelete)) << "a DELETE beside it would wedge the backend";
}

TEST_F(NameGuardTest, ARequestNeverSentLeavesAnAbandonedPutUncertain) {
  abandon("a", 0, GuardOp::kPut);
  clock.advance(kSettle);
  end_with(must_begin("a", 0, GuardOp::kRead), {Outcome::kNotSent, 0, "Connection"});
  EXPECT_TRUE(guard.uncertain_on("a", 0));
}

TEST_F(NameGuardTest, AnAnswerOtherThan429SentAfterTheSettleClearsAnAbandonedPut) {
  abandon("a", 0, GuardOp::kPut);
  clock.advance(kSettle);
  end_with(must_begin("a", 0, GuardOp::kRead), answered(404));
  EXPECT_FALSE(guard.uncertain_on("a", 0)) << "it went through the name's exclusion after the PUT";
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kDelete));
}

// Hole: the backend's DELETE takes the process-wide lock before the name; a
// GET or PUT takes the name first. After an abandoned DELETE only another
// DELETE may follow on that backend (both queue on the lock first).
TEST_F(NameGuardTest, AfterAnAbandonedDeleteAPutOrGetIsRefusedOnThatBackendWhateverTheTime) {
  abandon("a", 0, GuardOp::kDelete);
  clock.advance(kSettle * 100);
  for (GuardOp op : {GuardOp::kRead, GuardOp::kPut}) {
    auto retry_at = refused_until("a", 0, op);
    ASSERT_TRUE(retry_at) << "it could wedge against the abandoned DELETE";
    EXPECT_EQ(*retry_at, TimePoint::max()) << "time alone never allows it";
  }
  EXPECT_FALSE(refused_until("a", 1, GuardOp::kPut)) << "another backend takes it";
}

TEST_F(NameGuardTest, AfterAnAbandonedDeleteADeleteWaitsOutTheSettleTimeAndItsAnswerClearsIt) {
  TimePoint sent_at = abandon("a", 0, GuardOp::kDelete);
  auto retry_at = refused_until("a", 0, GuardOp::kDelete);
  ASSERT_TRUE(retry_at);
  EXPECT_EQ(*retry_at, sent_at + kSettle);
  clock.advance(kSettle);
  end_with(must_begin("a", 0, GuardOp::kDelete), answered(200));
  EXPECT_FALSE(guard.uncertain_on("a", 0));
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kPut));
}

// Hole: a GET changes nothing on the volume; an abandoned one must not hold
// up writes nor count as an uncertain name (which holds the applier).
TEST_F(NameGuardTest, AnAbandonedReadDoesNotHoldUpAPutAnywhere) {
  abandon("a", 0, GuardOp::kRead);
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kPut)) << "no settle wait on the same backend";
  EXPECT_FALSE(refused_until("a", 1, GuardOp::kPut));
}

TEST_F(NameGuardTest, AnAbandonedReadLeavesNoNameUncertain) {
  abandon("a", 0, GuardOp::kRead);
  EXPECT_FALSE(guard.uncertain_on("a", 0));
  EXPECT_FALSE(guard.uncertain_anywhere("a"));
  EXPECT_EQ(guard.uncertain_count(), 0u);
}

TEST_F(NameGuardTest, AnAbandonedReadStillKeepsADeleteOffThatBackendUntilAReadIsAnswered) {
  abandon("a", 0, GuardOp::kRead);
  auto retry_at = refused_until("a", 0, GuardOp::kDelete);
  ASSERT_TRUE(retry_at) << "a first GET takes the process-wide lock under the name";
  EXPECT_EQ(*retry_at, TimePoint::max());
  EXPECT_FALSE(refused_until("a", 1, GuardOp::kDelete));
  clock.advance(kSettle);
  end_with(must_begin("a", 0, GuardOp::kRead), answered(200));
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kDelete));
}

TEST(GuardOutcome, OnlyAnAnswerThatWentThroughTheNamesExclusionIsDone) {
  EXPECT_EQ(guard_outcome({Outcome::kAnswered, 201, ""}), GuardOutcome::kDone);
  EXPECT_EQ(guard_outcome({Outcome::kAnswered, 404, ""}), GuardOutcome::kDone);
  EXPECT_EQ(guard_outcome({Outcome::kAnswered, 500, ""}), GuardOutcome::kDone);
  EXPECT_EQ(guard_outcome({Outcome::kAnswered, 429, ""}), GuardOutcome::kRefused);
  EXPECT_EQ(guard_outcome({Outcome::kNotSent, 0, "Connection"}), GuardOutcome::kRefused);
  EXPECT_EQ(guard_outcome({Outcome::kUnknown, 0, "Read"}), GuardOutcome::kUnknown);
}

TEST_F(NameGuardTest, BarrierForNamesTheOperationThatMayOrderARefusedOne) {
  abandon("put", 0, GuardOp::kPut);
  abandon("get", 0, GuardOp::kRead);
  abandon("del", 0, GuardOp::kDelete);
  EXPECT_EQ(guard.barrier_for("put", 0, GuardOp::kDelete), GuardOp::kRead);
  EXPECT_EQ(guard.barrier_for("get", 0, GuardOp::kDelete), GuardOp::kRead);
  EXPECT_EQ(guard.barrier_for("del", 0, GuardOp::kPut), GuardOp::kDelete);
  EXPECT_EQ(guard.barrier_for("del", 0, GuardOp::kRead), GuardOp::kDelete);
  EXPECT_FALSE(guard.barrier_for("put", 0, GuardOp::kPut)) << "it only waits out the settle time";
  EXPECT_FALSE(guard.barrier_for("del", 0, GuardOp::kDelete));
  EXPECT_FALSE(guard.barrier_for("del", 1, GuardOp::kPut)) << "nothing abandoned on that backend";
  EXPECT_EQ(guard.drain_op("put", 0), GuardOp::kRead);
  EXPECT_EQ(guard.drain_op("del", 0), GuardOp::kDelete);
}

// Hole: a restarted router replayed pending names at once, while requests the
// previous process left on the backends may still run.
TEST_F(NameGuardTest, APendingNameAtStartIsUncertainOnEveryBackendUntilADeleteAfterTheSettleOrARestart) {
  TimePoint start = clock.now();
  for (int backend : {0, 1}) guard.abandoned_before_start("a", backend);
  for (int backend : {0, 1}) {
    EXPECT_TRUE(guard.uncertain_on("a", backend));
    for (GuardOp op : {GuardOp::kRead, GuardOp::kPut}) {
      auto retry_at = refused_until("a", backend, op);
      ASSERT_TRUE(retry_at) << "the previous process may have left a DELETE running";
      EXPECT_EQ(*retry_at, TimePoint::max());
    }
    EXPECT_EQ(guard.barrier_for("a", backend, GuardOp::kPut), GuardOp::kDelete);
    EXPECT_EQ(guard.drain_op("a", backend), GuardOp::kDelete);
    EXPECT_EQ(refused_until("a", backend, GuardOp::kDelete), start + kSettle);
  }
  clock.advance(kSettle);
  end_with(must_begin("a", 0, GuardOp::kDelete), answered(429));
  EXPECT_TRUE(guard.uncertain_on("a", 0)) << "a 429 orders nothing";
  end_with(must_begin("a", 0, GuardOp::kDelete), answered(200));
  EXPECT_FALSE(guard.uncertain_on("a", 0));
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kPut));
  EXPECT_TRUE(guard.uncertain_on("a", 1));
  guard.backend_restarted(1);
  EXPECT_FALSE(guard.uncertain_anywhere("a"));
  EXPECT_FALSE(refused_until("a", 1, GuardOp::kPut));
}

TEST_F(NameGuardTest, AnAbandonedReadDelaysAnotherReadThereByTheSettleTime) {
  TimePoint sent_at = abandon("a", 0, GuardOp::kRead);
  auto retry_at = refused_until("a", 0, GuardOp::kRead);
  ASSERT_TRUE(retry_at) << "a read sent sooner would not order the abandoned one, so it could not clear it";
  EXPECT_EQ(*retry_at, sent_at + kSettle);
  EXPECT_FALSE(refused_until("a", 1, GuardOp::kRead));
}

// A previous router process may have left a PUT or a first GET of a name no
// pending record names (a client's read; an applied record's abandoned
// attempt): after restarted(), no DELETE of any name goes anywhere until the
// settle time has passed, while PUTs and GETs go at once.
TEST_F(NameGuardTest, AfterARestartNoDeleteOfAnyNameGoesOutBeforeTheSettleTime) {
  guard.restarted();
  auto until = refused_until("never-seen", 0, GuardOp::kDelete);
  ASSERT_TRUE(until) << "a DELETE beside a dead router's first GET of the name wedges the backend";
  EXPECT_EQ(*until, clock.now() + kSettle);
  EXPECT_FALSE(refused_until("never-seen", 0, GuardOp::kPut));
  EXPECT_FALSE(refused_until("never-seen", 1, GuardOp::kRead));
  clock.advance(kSettle - milliseconds(1));
  EXPECT_TRUE(refused_until("other", 1, GuardOp::kDelete));
  clock.advance(milliseconds(1));
  EXPECT_FALSE(refused_until("never-seen", 0, GuardOp::kDelete));
  EXPECT_FALSE(refused_until("other", 1, GuardOp::kDelete));
}

// The settle time of an abandoned operation counts from when it was sent,
// not from try_begin: a caller may wait seconds for a backend slot between
// the two, and an operation sent `settle` after try_begin but not after the
// abandoned one really went out could run beside it.
TEST_F(NameGuardTest, TheSettleTimeCountsFromWhenTheAbandonedOperationWasSent) {
  auto ticket = must_begin("a", 0, GuardOp::kPut);
  clock.advance(milliseconds(1000));  // waiting for a backend slot
  guard.sending(ticket);
  EXPECT_EQ(ticket.sent_at, clock.now());
  guard.end(ticket, GuardOutcome::kUnknown);
  clock.advance(kSettle - milliseconds(1000));  // settle after try_begin, not after the send
  auto until = refused_until("a", 0, GuardOp::kPut);
  ASSERT_TRUE(until) << "sent less than the settle time after the abandoned PUT really went out";
  EXPECT_EQ(*until, ticket.sent_at + kSettle);
  clock.advance(milliseconds(1000));
  EXPECT_FALSE(refused_until("a", 0, GuardOp::kPut));
}

}  // namespace
}  // namespace fsr::router
