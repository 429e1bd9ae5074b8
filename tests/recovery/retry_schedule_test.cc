// The applier's retry schedule (recovery/retry_schedule.h).
#include "recovery/retry_schedule.h"

#include <gtest/gtest.h>

#include <set>

namespace fsr::recovery {
namespace {

using journal::Op;
using router::BackendResult;
using router::Outcome;
using std::chrono::milliseconds;

BackendResult answer(int status) { return {Outcome::kAnswered, status, ""}; }
BackendResult no_answer(Outcome outcome) { return {outcome, 0, "timeout"}; }

TEST(AppliesRecord, OnlyA201ForAPutAndA200ForADelete) {
  EXPECT_TRUE(applies_record(Op::kPut, answer(201)));
  EXPECT_TRUE(applies_record(Op::kDelete, answer(200)));
  for (int status : {200, 204, 404, 409, 429, 500, 503})
    EXPECT_FALSE(applies_record(Op::kPut, answer(status))) << status;
  for (int status : {201, 204, 404, 429, 500, 503})
    EXPECT_FALSE(applies_record(Op::kDelete, answer(status))) << status;
  EXPECT_FALSE(applies_record(Op::kPut, no_answer(Outcome::kUnknown)));
  EXPECT_FALSE(applies_record(Op::kDelete, no_answer(Outcome::kNotSent)));
}

TEST(AttemptTimeout, DoublesPerFailureUpToTheMaximum) {
  milliseconds t{5000}, max{60000};
  EXPECT_EQ(attempt_timeout(0, t, max), milliseconds(5000));
  EXPECT_EQ(attempt_timeout(1, t, max), milliseconds(10000));
  EXPECT_EQ(attempt_timeout(2, t, max), milliseconds(20000));
  EXPECT_EQ(attempt_timeout(3, t, max), milliseconds(40000));
  EXPECT_EQ(attempt_timeout(4, t, max), milliseconds(60000));
  EXPECT_EQ(attempt_timeout(1000, t, max), milliseconds(60000)) << "no overflow after many failures";
}

TEST(AttemptTimeout, AMaximumBelowTheTimeoutCapsEvenTheFirstAttempt) {
  EXPECT_EQ(attempt_timeout(0, milliseconds(5000), milliseconds(3000)), milliseconds(3000));
}

TEST(RetryBackoff, A429WaitsFiftyMillisecondsPlusJitterWhateverTheFailures) {
  for (int failures : {1, 3, 10}) {
    auto r = retry_backoff(answer(429), failures);
    EXPECT_EQ(r.min, milliseconds(50));
    EXPECT_EQ(r.max, milliseconds(75));
  }
}

TEST(RetryBackoff, OtherAnswersBackOffFromTwoHundredMillisecondsDoublingToFiveSeconds) {
  for (int status : {500, 503, 404, 200}) {
    EXPECT_EQ(retry_backoff(answer(status), 1).min, milliseconds(200)) << status;
    EXPECT_EQ(retry_backoff(answer(status), 1).max, milliseconds(300)) << status;
  }
  EXPECT_EQ(retry_backoff(answer(503), 0).min, milliseconds(100));
  EXPECT_EQ(retry_backoff(answer(503), 0).max, milliseconds(150));
  EXPECT_EQ(retry_backoff(answer(503), 2).min, milliseconds(400));
  EXPECT_EQ(retry_backoff(answer(503), 5).min, milliseconds(3200));
  EXPECT_EQ(retry_backoff(answer(503), 6).min, milliseconds(5000));
  EXPECT_EQ(retry_backoff(answer(503), 6).max, milliseconds(7500));
  EXPECT_EQ(retry_backoff(answer(503), 100).min, milliseconds(5000));
}

TEST(RetryBackoff, NoAnswerBacksOffFromOneHundredMillisecondsDoublingToFiveSeconds) {
  for (Outcome outcome : {Outcome::kNotSent, Outcome::kUnknown}) {
    EXPECT_EQ(retry_backoff(no_answer(outcome), 1).min, milliseconds(100));
    EXPECT_EQ(retry_backoff(no_answer(outcome), 1).max, milliseconds(150));
    EXPECT_EQ(retry_backoff(no_answer(outcome), 4).min, milliseconds(800));
    EXPECT_EQ(retry_backoff(no_answer(outcome), 6).min, milliseconds(3200));
    EXPECT_EQ(retry_backoff(no_answer(outcome), 7).min, milliseconds(3200)) << "the doubling stops at 2^6";
  }
}

TEST(DrawBackoff, StaysInTheRangeAndSpreadsOverIt) {
  std::mt19937_64 rng(7);
  BackoffRange range{milliseconds(200), milliseconds(300)};
  std::set<int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    auto d = draw_backoff(range, rng);
    ASSERT_GE(d, range.min);
    ASSERT_LE(d, range.max);
    seen.insert(d.count());
  }
  EXPECT_TRUE(seen.count(200) && seen.count(300)) << "both ends are drawn";
  EXPECT_GT(seen.size(), 90u) << "retries of many names spread over the range";
}

TEST(MarkRetryBackoff, BacksOffFromTwoHundredMillisecondsDoublingToFiveSeconds) {
  EXPECT_EQ(mark_retry_backoff(1).min, milliseconds(200));
  EXPECT_EQ(mark_retry_backoff(2).min, milliseconds(400));
  EXPECT_EQ(mark_retry_backoff(9).min, milliseconds(5000));
  EXPECT_EQ(mark_retry_backoff(9).max, milliseconds(7500));
}

TEST(GuardRetryAt, ANameIsNeverParkedLongerThanTheRecheckBound) {
  auto now = std::chrono::steady_clock::now();
  EXPECT_EQ(guard_retry_at(std::chrono::steady_clock::time_point::max(), now), now + kGuardRecheck)
      << "a guard that names no time (a DELETE it refuses for good) must not park the name forever";
  EXPECT_EQ(guard_retry_at(now + std::chrono::hours(1), now), now + kGuardRecheck);
  EXPECT_EQ(guard_retry_at(now + milliseconds(20), now), now + milliseconds(20));
  EXPECT_EQ(guard_retry_at(now - milliseconds(5), now), now - milliseconds(5));
}

}  // namespace
}  // namespace fsr::recovery
