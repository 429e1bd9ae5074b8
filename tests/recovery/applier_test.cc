// The Applier (recovery/applier.h) against a real journal, with the backend's
// answers scripted through ApplierOptions::send and time on a ManualClock:
// marked applied only on 201/200, retries with backoff, unknown outcomes
// retried after the settle time with a doubled timeout, and coalescing.
#include "recovery/applier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <functional>
#include <thread>
#include <utility>

#include "tests/journal/fault_file_system.h"
#include "tests/support/process.h"

namespace fsr::recovery {
namespace {

using router::BackendResult;
using router::Outcome;
using std::chrono::milliseconds;

constexpr milliseconds kSettle{3000};
constexpr milliseconds kTimeout{5000};
constexpr milliseconds kTimeoutMax{15000};

// What the applier sent, as the scripted backend saw it.
struct Sent {
  ApplyRequest::Kind kind;
  std::string name;
  std::string body;
  milliseconds timeout;
  Clock::time_point at;
};

// A backend that answers from a script (then with success), and records
// every request. It treats the lease as the backend calls would.
class ScriptedBackend {
 public:
  explicit ScriptedBackend(Clock& clock) : clock_(clock) {}

  void script(std::deque<BackendResult> answers) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_ = std::move(answers);
  }
  // Runs once, inside the first request (before it is answered).
  void during_first_request(std::function<void()> f) { during_first_ = std::move(f); }
  BackendResult send(router::BackendLease lease, const ApplyRequest& request) {
    Sent sent{request.kind, request.name, "", request.timeout, clock_.now()};
    if (request.kind == ApplyRequest::Kind::kPut) {
      sent.body.resize(request.size);
      for (uint64_t at = 0; at < request.size;) {
        long n = (*request.body)(at, sent.body.data() + at, request.size - at);
        if (n <= 0) break;
        at += static_cast<uint64_t>(n);
      }
    }
    if (during_first_) std::exchange(during_first_, nullptr)();
    BackendResult result{Outcome::kAnswered, request.kind == ApplyRequest::Kind::kPut ? 201 : 200, ""};
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!answers_.empty()) {
        result = answers_.front();
        answers_.pop_front();
      }
      sent_.push_back(sent);
    }
    if (result.outcome == Outcome::kNotSent) lease.discard();
    if (result.outcome == Outcome::kUnknown) lease.abandon();
    return result;
  }
  std::vector<Sent> sent() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  size_t count() { return sent().size(); }

 private:
  Clock& clock_;
  std::mutex mu_;
  std::deque<BackendResult> answers_;
  std::vector<Sent> sent_;
  std::function<void()> during_first_;  // the worker's thread only
};

BackendResult answer(int status) { return {Outcome::kAnswered, status, ""}; }
BackendResult unknown() { return {Outcome::kUnknown, 0, "Read timed out"}; }

class ApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    journal::Options options;
    options.dir = dir.path() + "/journal";
    options.env = fault.env();  // forwards to the real file system until a test injects a fault
    ASSERT_TRUE(journal::Journal::open(options, &journal).ok());
    std::string error;
    pool = router::BackendPool::create({"127.0.0.1:1"}, "", 4, milliseconds(3000), milliseconds(0), &error, clock);
    ASSERT_TRUE(pool) << error;
  }
  void TearDown() override {
    if (applier) applier->stop();
  }
  // One worker by default, so every retry goes through one clock wait.
  void start(int workers = 1) {
    ApplierOptions options;
    options.workers = workers;
    options.timeout = kTimeout;
    options.timeout_max = kTimeoutMax;
    options.send = [this](router::BackendLease lease, const ApplyRequest& request) {
      return backend.send(std::move(lease), request);
    };
    applier = std::make_unique<Applier>(*journal, *pool, guard, options, clock);
    applier->start();
  }
  uint64_t put(const std::string& name, const std::string& body) {
    auto writer = journal->new_body();
    EXPECT_TRUE(writer->append(body.data(), body.size()).ok());
    uint64_t seq = 0;
    EXPECT_TRUE(journal->commit_put(name, std::move(writer), &seq).ok());
    return seq;
  }
  uint64_t del(const std::string& name) {
    uint64_t seq = 0;
    EXPECT_TRUE(journal->commit_delete(name, &seq).ok());
    return seq;
  }
  bool applied(const std::string& name, uint64_t seq) {
    auto e = journal->lookup(name);
    return e && e->applied_seq >= seq;
  }
  // Waits (real time, bounded) for the worker to have sent n requests.
  bool sent_count_reaches(size_t n) {
    return test::wait_until([&] { return backend.count() >= n; }, std::chrono::seconds(10));
  }
  // Advances the clock to a time before the worker's next attempt is due:
  // returns once the worker is back in its wait, having sent nothing (a
  // worker that did send would have been applied and left the clock).
  void advance_short_of_retry(milliseconds d) {
    clock.advance(d);
    ASSERT_TRUE(clock.await_waiters(1));
  }

  test::TempDir dir;
  journal::test::FaultEnv fault;
  ManualClock clock;
  ScriptedBackend backend{clock};
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<router::BackendPool> pool;
  router::NameGuard guard{kSettle, clock};
  std::unique_ptr<Applier> applier;
};

TEST_F(ApplierTest, APutIsMarkedAppliedOnlyWhenTheBackendAnswers201) {
  backend.script({answer(200), answer(201)});
  uint64_t seq = put("a", "hello");
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1)) << "the retry waits on the clock";
  EXPECT_FALSE(applied("a", seq)) << "a 200 is not a PUT's success";
  clock.advance(milliseconds(300));  // the longest backoff after one answered failure
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  EXPECT_EQ(backend.count(), 2u);
  EXPECT_EQ(backend.sent()[1].body, "hello");
}

TEST_F(ApplierTest, ADeleteIsMarkedAppliedOnlyWhenTheBackendAnswers200) {
  backend.script({answer(204), answer(200)});
  uint64_t seq = del("a");
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1));
  EXPECT_FALSE(applied("a", seq));
  clock.advance(milliseconds(300));
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  EXPECT_EQ(backend.sent()[1].kind, ApplyRequest::Kind::kDelete);
}

TEST_F(ApplierTest, A429IsRetriedAfterItsBackoffAndNotBefore) {
  backend.script({answer(429)});
  uint64_t seq = put("a", "x");
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1));
  advance_short_of_retry(milliseconds(49));
  EXPECT_EQ(backend.count(), 1u) << "the backoff after a 429 is at least 50 ms";
  clock.advance(milliseconds(26));  // 75 ms: the longest backoff after a 429
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_GE(sent[1].at - sent[0].at, milliseconds(50));
  EXPECT_EQ(sent[1].timeout, 2 * kTimeout) << "every failed attempt doubles the next one's timeout";
}

TEST_F(ApplierTest, ServerErrorsAreRetriedWithGrowingBackoff) {
  backend.script({answer(503), answer(503), answer(503)});
  uint64_t seq = put("a", "x");
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1));
  advance_short_of_retry(milliseconds(199));
  EXPECT_EQ(backend.count(), 1u) << "the first backoff after a 5XX is at least 200 ms";
  clock.advance(milliseconds(101));
  ASSERT_TRUE(sent_count_reaches(2));
  ASSERT_TRUE(clock.await_waiters(1));
  advance_short_of_retry(milliseconds(399));
  EXPECT_EQ(backend.count(), 2u) << "the second is at least 400 ms";
  clock.advance(milliseconds(201));
  ASSERT_TRUE(sent_count_reaches(3));
  ASSERT_TRUE(clock.await_waiters(1));
  clock.advance(milliseconds(1200));
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[1].timeout, 2 * kTimeout);
  EXPECT_EQ(sent[2].timeout, kTimeoutMax) << "the timeout doubles up to timeout_max (20 s capped)";
  EXPECT_EQ(sent[3].timeout, kTimeoutMax);
}

TEST_F(ApplierTest, AnUnknownOutcomeIsRetriedAfterTheSettleTimeWithADoubledTimeout) {
  backend.script({unknown()});
  uint64_t seq = put("a", "x");
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1));
  EXPECT_TRUE(guard.uncertain_on("a", 0));
  EXPECT_EQ(pool->primary().in_flight(), 1) << "the abandoned request keeps its permit";
  advance_short_of_retry(kSettle - milliseconds(1));
  EXPECT_EQ(backend.count(), 1u) << "the backend may still run the first PUT: not before the settle time";
  clock.advance(milliseconds(1));
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].timeout, kTimeout);
  EXPECT_EQ(sent[1].timeout, 2 * kTimeout);
  EXPECT_GE(sent[1].at - sent[0].at, kSettle);
  EXPECT_FALSE(guard.uncertain_on("a", 0)) << "the answered PUT, sent after the settle time, ends the doubt";
}

TEST_F(ApplierTest, AnUnknownOutcomeMakesTheNameSuspectThereAndTheLaterSuccessDoesNotClearIt) {
  backend.script({unknown()});
  uint64_t seq = put("a", "x");
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1));
  std::vector<journal::Journal::Suspect> expected = {{"a", pool->primary().address()}};
  EXPECT_EQ(journal->suspects(), expected) << "the abandoned PUT may land at any time";
  clock.advance(kSettle);
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  EXPECT_EQ(journal->suspects(), expected)
      << "an answer to a later request does not prove the abandoned one ran: only a read-back after a restart does";
}

TEST_F(ApplierTest, ADeleteAfterAnAbandonedPutIsOrderedByAGetSentAfterTheSettleTime) {
  backend.script({unknown()});
  put("a", "x");
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1));
  uint64_t seq = del("a");  // the worker has "a" queued for its retry already
  advance_short_of_retry(kSettle - milliseconds(1));
  EXPECT_EQ(backend.count(), 1u) << "nothing goes to the backend before the settle time";
  clock.advance(milliseconds(1));
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[1].kind, ApplyRequest::Kind::kBarrierGet) << "a DELETE could wedge against the abandoned PUT";
  EXPECT_EQ(sent[2].kind, ApplyRequest::Kind::kDelete);
  EXPECT_GE(sent[1].at - sent[0].at, kSettle);
}

TEST_F(ApplierTest, ARefusedConnectionIsReportedAndRetriedAfterItsBackoff) {
  std::atomic<int> refused{0};
  pool->set_refused_handler([&](router::Backend&) { ++refused; });
  backend.script({{Outcome::kNotSent, 0, "Connection"}});
  uint64_t seq = put("a", "x");
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1));
  EXPECT_EQ(refused.load(), 1) << "the monitor hears of it";
  EXPECT_EQ(pool->primary().in_flight(), 0) << "a refused request holds no permit";
  EXPECT_FALSE(guard.uncertain_on("a", 0)) << "the backend never saw it";
  advance_short_of_retry(milliseconds(99));
  EXPECT_EQ(backend.count(), 1u) << "the backoff after no answer is at least 100 ms";
  clock.advance(milliseconds(51));
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
}

TEST_F(ApplierTest, OnlyTheLatestStateOfANameIsSent) {
  uint64_t first = put("a", "old");
  uint64_t second = put("a", "new");
  uint64_t deleted = del("b");
  uint64_t last = put("b", "back");
  start();
  ASSERT_TRUE(test::wait_until([&] { return applied("a", second) && applied("b", last); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  ASSERT_EQ(sent.size(), 2u) << "the older record of each name is moot";
  for (const Sent& s : sent) {
    EXPECT_EQ(s.kind, ApplyRequest::Kind::kPut);
    EXPECT_EQ(s.body, s.name == "a" ? "new" : "back");
  }
  EXPECT_EQ(journal->applied_seq(), journal->last_seq());
  (void)first;
  (void)deleted;
}

TEST_F(ApplierTest, ARecordCommittedWhileAnOlderOneIsSentIsSentNext) {
  uint64_t first = put("a", "old");
  std::atomic<uint64_t> second{0};
  backend.during_first_request([&] { second = put("a", "new"); });
  start();
  ASSERT_TRUE(test::wait_until([&] { return second > 0 && applied("a", second); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].body, "old");
  EXPECT_EQ(sent[1].body, "new");
  EXPECT_TRUE(applied("a", first));
}

TEST_F(ApplierTest, WaitAppliedGivesUpWhenTheClockReachesItsDeadline) {
  backend.script({answer(503)});
  uint64_t seq = put("a", "x");
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1));
  EXPECT_FALSE(applier->wait_applied("a", seq, clock.now())) << "a deadline already reached does not wait";
  bool result = true;
  std::thread waiter([&] { result = applier->wait_applied("a", seq, clock.now() + milliseconds(100)); });
  ASSERT_TRUE(clock.await_waiters(2));
  clock.advance(milliseconds(100));  // before the retry is due (200 ms at least)
  waiter.join();
  EXPECT_FALSE(result);
  EXPECT_EQ(backend.count(), 1u);
}

// The barrier GET that orders an abandoned PUT before a DELETE gets 429: it
// was refused at admission and ordered nothing, so the DELETE must wait for a
// barrier that went through the backend's per-name exclusion.
TEST_F(ApplierTest, ABarrierGetAnswered429IsRetriedAndTheDeleteWaitsForItsAnswer) {
  backend.script({unknown(), answer(429)});
  put("a", "x");
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1));
  uint64_t seq = del("a");
  clock.advance(kSettle);
  ASSERT_TRUE(sent_count_reaches(2));
  clock.await_waiters(1, std::chrono::seconds(2));  // the backoff after the 429 (a worker that sent nothing more)
  clock.advance(milliseconds(75));                  // the longest backoff after a 429
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[1].kind, ApplyRequest::Kind::kBarrierGet);
  EXPECT_EQ(sent[2].kind, ApplyRequest::Kind::kBarrierGet) << "a DELETE beside the abandoned PUT could wedge";
  EXPECT_EQ(sent[3].kind, ApplyRequest::Kind::kDelete);
}

// The backend's DELETE takes its process-wide lock before the name, a PUT
// the name first: after an abandoned DELETE, the newer PUT goes only behind
// a DELETE (both queue on the lock) sent after the settle time.
TEST_F(ApplierTest, APutAfterAnAbandonedDeleteIsOrderedByADeleteSentAfterTheSettleTime) {
  backend.script({unknown()});
  del("a");
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1));
  uint64_t seq = put("a", "new");
  clock.advance(kSettle);
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].kind, ApplyRequest::Kind::kDelete);
  EXPECT_EQ(sent[1].kind, ApplyRequest::Kind::kDelete) << "a PUT beside the abandoned DELETE could wedge";
  EXPECT_EQ(sent[2].kind, ApplyRequest::Kind::kPut);
  EXPECT_EQ(sent[2].body, "new");
  EXPECT_GE(sent[1].at - sent[0].at, kSettle);
  EXPECT_FALSE(guard.uncertain_on("a", 0));
}

// A client read abandoned on the primary changes nothing on the volume: the
// name's PUT goes at once, and only a DELETE waits for a barrier GET.
TEST_F(ApplierTest, AClientReadAbandonedOnThePrimaryHoldsUpNoPut) {
  router::NameGuard::Clock::time_point retry_at;
  auto read = guard.try_begin("a", 0, router::GuardOp::kRead, &retry_at);
  ASSERT_TRUE(read);
  guard.end(*read, router::GuardOutcome::kUnknown);
  uint64_t seq = put("a", "x");
  start();
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)))
      << "the PUT waited for the abandoned read";
  uint64_t deleted = del("a");
  applier->enqueue("a");
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1));
  clock.advance(kSettle);
  ASSERT_TRUE(test::wait_until([&] { return applied("a", deleted); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[1].kind, ApplyRequest::Kind::kBarrierGet) << "a DELETE beside a first GET could wedge";
  EXPECT_EQ(sent[2].kind, ApplyRequest::Kind::kDelete);
}

// After a router restart (router/server.cc marks every pending name so), a
// name whose previous process may have left any request running goes out
// behind a DELETE sent after the settle time, never beside it.
TEST_F(ApplierTest, APendingNameLeftByAPreviousProcessIsReplayedBehindADeleteAfterTheSettleTime) {
  uint64_t seq = put("a", "x");
  guard.abandoned_before_start("a", 0);
  start();
  ASSERT_TRUE(clock.await_waiters(1));
  advance_short_of_retry(kSettle - milliseconds(1));
  EXPECT_EQ(backend.count(), 0u) << "nothing goes to the backend before the settle time";
  clock.advance(milliseconds(1));
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].kind, ApplyRequest::Kind::kDelete) << "only a DELETE is safe beside an unknown request";
  EXPECT_EQ(sent[1].kind, ApplyRequest::Kind::kPut);
  EXPECT_FALSE(guard.uncertain_on("a", 0));
}

// ------------------------------------------------------------ one worker per name, the latest state

TEST_F(ApplierTest, ANameEnqueuedWhileItsWorkerSendsIsTakenAgainByThatWorkerAloneRightAfter) {
  put("a", "old");
  std::atomic<uint64_t> second{0};
  std::atomic<bool> another_worker_waited{false};
  backend.during_first_request([&] {
    second = put("a", "new");
    applier->enqueue("a");
    // Every chance for a second worker to take the name meanwhile: it would
    // find the name busy and park it on the clock.
    another_worker_waited = clock.await_waiters(1, milliseconds(500));
  });
  start(2);
  // The clock never moves: the newer record goes out as soon as the first is done.
  ASSERT_TRUE(test::wait_until([&] { return second > 0 && applied("a", second); }, std::chrono::seconds(10)));
  EXPECT_FALSE(another_worker_waited) << "a second worker took the name while its first one was sending";
  auto sent = backend.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].body, "old");
  EXPECT_EQ(sent[1].body, "new");
}

TEST_F(ApplierTest, AWorkerThatWaitedForASlotSendsTheNamesLatestStateNotTheOneItLookedUp) {
  std::vector<router::BackendLease> held;
  for (int i = 0; i < 4; ++i) {
    auto lease = pool->primary().acquire(clock.now());
    ASSERT_TRUE(lease);
    held.push_back(std::move(*lease));
  }
  del("a");
  start();
  ASSERT_TRUE(clock.await_waiters(1)) << "the worker waits for a slot of the full backend";
  uint64_t seq = put("a", "newer");
  applier->enqueue("a");
  held.pop_back();  // a slot frees up
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  for (const Sent& s : sent)
    EXPECT_NE(s.kind, ApplyRequest::Kind::kDelete) << "an older DELETE went out after the newer PUT was committed";
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.back().kind, ApplyRequest::Kind::kPut);
  EXPECT_EQ(sent.back().body, "newer");
}

TEST_F(ApplierTest, AMootDeleteWaitsForTheNamesRunningOperationAndOrdersItIfItIsAbandoned) {
  uint64_t first = del("a");
  start();
  ASSERT_TRUE(test::wait_until([&] { return applied("a", first); }, std::chrono::seconds(10)));
  ASSERT_EQ(backend.count(), 1u);  // the volume does not hold "a" now
  Clock::time_point retry_at;
  auto ticket = guard.try_begin("a", 0, router::GuardOp::kRead, &retry_at);  // a client's read of "a" runs
  ASSERT_TRUE(ticket);
  uint64_t seq = del("a");
  applier->enqueue("a");
  ASSERT_TRUE(clock.await_waiters(1)) << "the worker waits for the name";
  EXPECT_FALSE(applied("a", seq)) << "marked moot while an operation on the name was running";
  guard.end(*ticket, router::GuardOutcome::kUnknown);  // the read is abandoned: the backend may still run it
  clock.advance(kSettle);
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq); }, std::chrono::seconds(10)));
  auto sent = backend.sent();
  ASSERT_GE(sent.size(), 2u);
  EXPECT_EQ(sent[1].kind, ApplyRequest::Kind::kBarrierGet) << "the abandoned read is ordered first";
}

// ------------------------------------------------------------ the journal refuses the applied mark

TEST_F(ApplierTest, AnAppliedMarkTheJournalFailsToWriteLeavesTheNamePendingAndIsRetried) {
  uint64_t seq = put("a", "x");
  fault.fs->set_wal_fault(journal::test::FaultFileSystem::WalFault::kAppendNoSpace);
  start();
  ASSERT_TRUE(sent_count_reaches(1));
  ASSERT_TRUE(clock.await_waiters(1)) << "the failed mark is retried after a backoff";
  EXPECT_FALSE(applied("a", seq)) << "the journal could not write the mark: the name must stay pending";
  fault.fs->set_wal_fault(journal::test::FaultFileSystem::WalFault::kNone);
  uint64_t next = put("b", "y");  // the next commit resumes the journal's database
  applier->enqueue("b");
  clock.advance(milliseconds(5000));
  ASSERT_TRUE(test::wait_until([&] { return applied("a", seq) && applied("b", next); }, std::chrono::seconds(10)));
}

}  // namespace
}  // namespace fsr::recovery
