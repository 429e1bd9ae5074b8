// The Repairer (recovery/repairer.h) against a real journal, with the volume
// scripted through RepairerOptions::send and time on a ManualClock: suspect
// names read back and repaired, kept suspect (re-read with a growing backoff)
// until their backend is seen restarted before a clean read-back, and the
// rolling scrub's walk. The steps are called directly: no threads, no sleeps.
#include "recovery/repairer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <mutex>
#include <optional>

#include "common/checksum.h"
#include "tests/support/process.h"

namespace fsr::recovery {
namespace {

using router::BackendResult;
using router::Outcome;
using std::chrono::milliseconds;

constexpr milliseconds kRecheckMin{250};
constexpr milliseconds kRecheckMax{2000};

// The shared volume as the backends show it: name -> bytes. Records what was sent.
class ScriptedVolume {
 public:
  BackendResult send(router::BackendLease lease, const ApplyRequest& request) {
    if (during_next_) std::exchange(during_next_, nullptr)();
    std::lock_guard<std::mutex> lock(mu_);
    sent_.push_back(request.kind);
    if (request.kind == ApplyRequest::Kind::kReadBack) read_names_.push_back(request.name);
    if (sent_.size() == unknown_at_) {
      lease.abandon();
      return {Outcome::kUnknown, 0, "Read timed out"};
    }
    switch (request.kind) {
      case ApplyRequest::Kind::kReadBack: {
        auto it = files_.find(request.name);
        if (it == files_.end()) return {Outcome::kAnswered, 404, ""};
        (*request.sink)(it->second.data(), it->second.size());
        return {Outcome::kAnswered, 200, ""};
      }
      case ApplyRequest::Kind::kPut: {
        std::string body(request.size, '\0');
        for (uint64_t at = 0; at < request.size;) {
          long n = (*request.body)(at, body.data() + at, request.size - at);
          if (n <= 0) break;
          at += static_cast<uint64_t>(n);
        }
        files_[request.name] = body;
        return {Outcome::kAnswered, 201, ""};
      }
      case ApplyRequest::Kind::kDelete:
        files_.erase(request.name);
        return {Outcome::kAnswered, 200, ""};
      case ApplyRequest::Kind::kBarrierGet:
        break;
    }
    return {Outcome::kAnswered, 200, ""};
  }
  // What an abandoned request does when it lands late.
  void land(const std::string& name, std::optional<std::string> bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    if (bytes) files_[name] = *bytes;
    else files_.erase(name);
  }
  std::optional<std::string> file(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(name);
    if (it == files_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<ApplyRequest::Kind> sent() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  void clear_sent() {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.clear();
    read_names_.clear();
  }
  std::vector<std::string> read_names() {
    std::lock_guard<std::mutex> lock(mu_);
    return read_names_;
  }
  // The n-th request sent (1: the first) gets no answer.
  void unknown_at(size_t n) { unknown_at_ = n; }
  void during_next(std::function<void()> f) { during_next_ = std::move(f); }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> files_;
  std::vector<ApplyRequest::Kind> sent_;
  std::vector<std::string> read_names_;
  size_t unknown_at_ = 0;
  std::function<void()> during_next_;
};

using Kind = ApplyRequest::Kind;

class RepairerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    pool = router::BackendPool::create({"127.0.0.1:1"}, "", 4, milliseconds(3000), milliseconds(0), &error, clock);
    ASSERT_TRUE(pool) << error;
    start();
  }
  // (Re)opens the journal with a body cache of body_cache_bytes and makes
  // the repairer over it.
  void start(uint64_t body_cache_bytes = UINT64_MAX) {
    repairer.reset();
    journal.reset();
    journal::Options options;
    options.dir = dir.path() + "/journal";
    options.body_cache_bytes = body_cache_bytes;
    ASSERT_TRUE(journal::Journal::open(options, &journal).ok());
    RepairerOptions o;
    o.recheck_min = kRecheckMin;
    o.recheck_max = kRecheckMax;
    o.send = [this](router::BackendLease lease, const ApplyRequest& request) {
      return volume.send(std::move(lease), request);
    };
    repairer = std::make_unique<Repairer>(*journal, *pool, guard, o, clock);
  }
  // A PUT the applier applied: the volume holds it.
  uint64_t applied_put(const std::string& name, const std::string& body) {
    auto writer = journal->new_body();
    EXPECT_TRUE(writer->append(body.data(), body.size()).ok());
    uint64_t seq = 0;
    EXPECT_TRUE(journal->commit_put(name, std::move(writer), &seq).ok());
    EXPECT_TRUE(journal->mark_applied(name, seq).ok());
    volume.land(name, body);
    return seq;
  }
  uint64_t applied_delete(const std::string& name) {
    uint64_t seq = 0;
    EXPECT_TRUE(journal->commit_delete(name, &seq).ok());
    EXPECT_TRUE(journal->mark_applied(name, seq).ok());
    volume.land(name, std::nullopt);
    return seq;
  }
  const std::string& primary() { return pool->primary().address(); }

  test::TempDir dir;
  ManualClock clock;
  ScriptedVolume volume;
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<router::BackendPool> pool;
  router::NameGuard guard{milliseconds(100), clock};
  std::unique_ptr<Repairer> repairer;
};

TEST(CompareRead, ATombstoneWants404AndAPutWants200WithItsSizeAndChecksum) {
  journal::IndexEntry put;
  put.op = journal::Op::kPut;
  put.size = 5;
  put.checksum = checksum_of("hello");
  journal::IndexEntry tombstone;
  tombstone.op = journal::Op::kDelete;
  BackendResult ok{Outcome::kAnswered, 200, ""}, missing{Outcome::kAnswered, 404, ""},
      refused{Outcome::kAnswered, 429, ""}, lost{Outcome::kUnknown, 0, "timeout"};
  EXPECT_EQ(compare_read(put, ok, 5, checksum_of("hello")), Verdict::kClean);
  EXPECT_EQ(compare_read(put, ok, 5, checksum_of("world")), Verdict::kMismatch);
  EXPECT_EQ(compare_read(put, ok, 4, checksum_of("hell")), Verdict::kMismatch);
  EXPECT_EQ(compare_read(put, missing, 0, checksum_of("")), Verdict::kMismatch);
  EXPECT_EQ(compare_read(put, refused, 0, ""), Verdict::kUnreadable) << "a 429 says nothing of the volume";
  EXPECT_EQ(compare_read(put, lost, 0, ""), Verdict::kUnreadable);
  EXPECT_EQ(compare_read(tombstone, missing, 0, ""), Verdict::kClean);
  EXPECT_EQ(compare_read(tombstone, ok, 3, checksum_of("old")), Verdict::kMismatch);
  EXPECT_EQ(compare_read(tombstone, BackendResult{Outcome::kAnswered, 500, ""}, 0, ""), Verdict::kUnreadable);
}

TEST_F(RepairerTest, ASuspectNameTheVolumeHoldsWrongIsSentItsLatestStateAgain) {
  applied_put("x", "newer");
  ASSERT_TRUE(journal->add_suspect("x", primary()).ok());
  volume.land("x", std::string("older"));  // the abandoned PUT ran late
  repairer->check_due_suspects();
  EXPECT_EQ(volume.sent(), (std::vector<Kind>{Kind::kReadBack, Kind::kPut}));
  EXPECT_EQ(volume.file("x"), "newer");
  auto c = repairer->suspect_counters();
  EXPECT_EQ(c.checked, 1u);
  EXPECT_EQ(c.mismatches, 1u);
  EXPECT_EQ(c.repaired, 1u);
  EXPECT_TRUE(journal->is_suspect("x")) << "the backend may still run another abandoned request";
}

TEST_F(RepairerTest, ATombstoneFoundOnTheVolumeIsDeletedAgain) {
  applied_put("x", "body");
  applied_delete("x");
  ASSERT_TRUE(journal->add_suspect("x", primary()).ok());
  volume.land("x", std::string("body"));
  repairer->check_due_suspects();
  EXPECT_EQ(volume.sent(), (std::vector<Kind>{Kind::kReadBack, Kind::kDelete}));
  EXPECT_FALSE(volume.file("x"));
}

TEST_F(RepairerTest, ACleanSuspectStaysSuspectAndIsReadAgainWithADoublingBackoffUpToItsCap) {
  applied_put("x", "body");
  ASSERT_TRUE(journal->add_suspect("x", primary()).ok());
  auto start = clock.now();
  auto next = repairer->check_due_suspects();
  EXPECT_EQ(next - start, kRecheckMin);
  EXPECT_TRUE(journal->is_suspect("x")) << "a clean read proves nothing while the backend may still run it";
  std::vector<milliseconds> gaps;
  for (int i = 0; i < 6; ++i) {
    clock.advance(next - clock.now());
    auto now = clock.now();
    next = repairer->check_due_suspects();
    gaps.push_back(std::chrono::duration_cast<milliseconds>(next - now));
  }
  EXPECT_EQ(gaps, (std::vector<milliseconds>{milliseconds(500), milliseconds(1000), kRecheckMax, kRecheckMax,
                                             kRecheckMax, kRecheckMax}));
  EXPECT_EQ(volume.sent().size(), 7u) << "one read-back per check, never a write while the volume is right";
  EXPECT_TRUE(journal->is_suspect("x"));
}

TEST_F(RepairerTest, AnAbandonedPutThatLandsAfterCleanReadBacksIsRepairedAtTheNextOne) {
  applied_put("x", "newer");
  ASSERT_TRUE(journal->add_suspect("x", primary()).ok());
  auto next = repairer->check_due_suspects();
  clock.advance(next - clock.now());
  next = repairer->check_due_suspects();
  volume.land("x", std::string("older"));
  clock.advance(next - clock.now());
  repairer->check_due_suspects();
  EXPECT_EQ(volume.file("x"), "newer");
  EXPECT_EQ(repairer->suspect_counters().repaired, 1u);
}

TEST_F(RepairerTest, ACleanReadBackSentAfterTheBackendWasSeenRestartedClearsTheSuspect) {
  applied_put("x", "body");
  ASSERT_TRUE(journal->add_suspect("x", primary()).ok());
  repairer->check_due_suspects();
  ASSERT_TRUE(journal->is_suspect("x"));
  guard.backend_restarted(pool->primary().id());  // a refused connection: the process ended
  clock.advance(kRecheckMin);
  repairer->check_due_suspects();
  EXPECT_FALSE(journal->is_suspect("x"));
  EXPECT_EQ(journal->suspect_count(), 0u);
}

TEST_F(RepairerTest, ARestartSeenOnlyWhileTheReadBackRanDoesNotClearTheSuspectYet) {
  applied_put("x", "body");
  ASSERT_TRUE(journal->add_suspect("x", primary()).ok());
  // The read may have been answered before the old process ran its last request.
  volume.during_next([&] { guard.backend_restarted(pool->primary().id()); });
  auto next = repairer->check_due_suspects();
  EXPECT_TRUE(journal->is_suspect("x"));
  clock.advance(next - clock.now());
  repairer->check_due_suspects();
  EXPECT_FALSE(journal->is_suspect("x")) << "the next read-back was sent after the restart was seen";
}

TEST_F(RepairerTest, AMismatchIsNotClearedEvenAfterARestartUntilAReadBackIsClean) {
  applied_put("x", "newer");
  ASSERT_TRUE(journal->add_suspect("x", primary()).ok());
  auto next = repairer->check_due_suspects();
  guard.backend_restarted(pool->primary().id());
  volume.land("x", std::string("older"));  // it ran before the process ended
  clock.advance(next - clock.now());
  next = repairer->check_due_suspects();
  EXPECT_TRUE(journal->is_suspect("x")) << "repaired, but not yet read back clean";
  EXPECT_EQ(volume.file("x"), "newer");
  clock.advance(next - clock.now());
  repairer->check_due_suspects();
  EXPECT_FALSE(journal->is_suspect("x"));
  EXPECT_EQ(volume.file("x"), "newer");
}

TEST_F(RepairerTest, APendingSuspectNameIsNotReadUntilItsLatestStateIsApplied) {
  auto writer = journal->new_body();
  ASSERT_TRUE(writer->append("new", 3).ok());
  uint64_t seq = 0;
  ASSERT_TRUE(journal->commit_put("x", std::move(writer), &seq).ok());
  ASSERT_TRUE(journal->add_suspect("x", primary()).ok());
  auto now = clock.now();
  EXPECT_EQ(repairer->check_due_suspects() - now, kRecheckMin);
  EXPECT_TRUE(volume.sent().empty()) << "the applier is on it: there is nothing to compare yet";
}

TEST_F(RepairerTest, ARepairWhoseOutcomeIsUnknownMakesTheNameSuspectOnThePrimary) {
  std::string error;
  pool = router::BackendPool::create({"127.0.0.1:1", "127.0.0.1:2"}, "127.0.0.1:2", 4, milliseconds(3000),
                                     milliseconds(0), &error, clock);
  ASSERT_TRUE(pool) << error;
  RepairerOptions o;
  o.send = [this](router::BackendLease lease, const ApplyRequest& request) {
    return volume.send(std::move(lease), request);
  };
  repairer = std::make_unique<Repairer>(*journal, *pool, guard, o, clock);
  applied_put("x", "newer");
  ASSERT_TRUE(journal->add_suspect("x", "127.0.0.1:1").ok());
  volume.land("x", std::string("older"));
  volume.unknown_at(2);  // the read-back answers, the repair is lost
  // The read goes to the primary: the other backend is not confirmed.
  repairer->check_due_suspects();
  EXPECT_EQ(journal->suspects(), (std::vector<journal::Journal::Suspect>{{"x", "127.0.0.1:1"}, {"x", "127.0.0.1:2"}}));
}

TEST_F(RepairerTest, ANewSuspectIsReadBeforeABacklogOfSuspectsAlreadyReadCleanAndARoundReadsAtMostEight) {
  for (int i = 0; i < 12; ++i) {
    std::string name = "old" + std::to_string(i);
    applied_put(name, "body");
    ASSERT_TRUE(journal->add_suspect(name, primary()).ok());
  }
  // Every old suspect is read clean once, in two rounds.
  EXPECT_LE(repairer->check_due_suspects(), clock.now()) << "more are due than one round reads";
  EXPECT_EQ(volume.read_names().size(), 8u);
  EXPECT_GT(repairer->check_due_suspects(), clock.now());
  EXPECT_EQ(volume.read_names().size(), 12u);
  clock.advance(kRecheckMax);  // all of them due again
  applied_put("young", "body");  // after every old one in byte order
  ASSERT_TRUE(journal->add_suspect("young", primary()).ok());
  volume.clear_sent();
  EXPECT_LE(repairer->check_due_suspects(), clock.now()) << "more are due than one round reads";
  auto read = volume.read_names();
  ASSERT_EQ(read.size(), 8u);
  EXPECT_EQ(read[0], "young") << "the suspect never read yet goes first";
}

TEST_F(RepairerTest, TheScrubWalksEveryNameRepairsWhatDiffersAndCountsAPass) {
  applied_put("a", "alpha");
  applied_put("b", "beta");
  applied_put("c", "gamma");
  applied_delete("d");
  volume.land("b", std::string("stale"));
  volume.land("c", std::nullopt);
  volume.land("d", std::string("back"));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(repairer->scrub_step()) << i;
  EXPECT_FALSE(repairer->scrub_step()) << "the pass ends after the last name";
  auto c = repairer->scrub_counters();
  EXPECT_EQ(c.checked, 4u);
  EXPECT_EQ(c.mismatches, 3u);
  EXPECT_EQ(c.repaired, 3u);
  EXPECT_EQ(volume.file("b"), "beta");
  EXPECT_EQ(volume.file("c"), "gamma");
  EXPECT_FALSE(volume.file("d"));
  nlohmann::json status;
  repairer->add_status_fields(&status);
  EXPECT_EQ(status["scrub"]["pass"], 1);
  EXPECT_EQ(status["scrub"]["checked"], 4);
  EXPECT_EQ(status["scrub"]["repaired"], 3);
  EXPECT_EQ(status["scrub"]["position"], "");
  EXPECT_EQ(status["suspect_names"], 0);
  EXPECT_TRUE(repairer->scrub_step()) << "the next pass starts at the first name";
  EXPECT_EQ(repairer->scrub_counters().checked, 5u);
}

TEST_F(RepairerTest, AScrubRepairThatCannotGoNowIsTriedAgainByTheNextStepsBeforeTheWalkGoesOn) {
  applied_delete("a");
  applied_put("b", "beta");
  volume.land("a", std::string("resurrected"));
  guard.restarted();  // no DELETE goes out before the settle time
  EXPECT_TRUE(repairer->scrub_step());
  EXPECT_TRUE(repairer->scrub_step());
  EXPECT_EQ(volume.read_names(), (std::vector<std::string>{"a", "a"})) << "the walk waits for the repair";
  EXPECT_TRUE(volume.file("a"));
  clock.advance(milliseconds(100));
  EXPECT_TRUE(repairer->scrub_step());
  EXPECT_FALSE(volume.file("a"));
  EXPECT_TRUE(repairer->scrub_step());
  EXPECT_EQ(volume.read_names(), (std::vector<std::string>{"a", "a", "a", "b"}));
  auto c = repairer->scrub_counters();
  EXPECT_EQ(c.checked, 2u) << "a name counts once however many looks its repair took";
  EXPECT_EQ(c.mismatches, 1u);
  EXPECT_EQ(c.repaired, 1u);
}

TEST_F(RepairerTest, TheScrubGivesUpARepairThatCannotGoForThirtySecondsAndWalksOn) {
  applied_delete("a");
  applied_put("b", "beta");
  volume.land("a", std::string("resurrected"));
  std::string error;
  pool = router::BackendPool::create({"127.0.0.1:1"}, "", 4, milliseconds(3000), milliseconds(0), &error, clock);
  router::NameGuard long_settle(std::chrono::minutes(5), clock);
  RepairerOptions o;
  o.send = [this](router::BackendLease lease, const ApplyRequest& request) {
    return volume.send(std::move(lease), request);
  };
  repairer = std::make_unique<Repairer>(*journal, *pool, long_settle, o, clock);
  long_settle.restarted();
  EXPECT_TRUE(repairer->scrub_step());
  clock.advance(std::chrono::seconds(29));
  EXPECT_TRUE(repairer->scrub_step());
  clock.advance(std::chrono::seconds(1));
  EXPECT_TRUE(repairer->scrub_step());
  EXPECT_EQ(volume.read_names(), (std::vector<std::string>{"a", "a", "b"}));
  EXPECT_EQ(repairer->scrub_counters().repaired, 0u);
}

TEST_F(RepairerTest, TheScrubLeavesSuspectAndPendingNamesToTheOthers) {
  applied_put("a", "alpha");
  ASSERT_TRUE(journal->add_suspect("a", primary()).ok());
  uint64_t seq = 0;
  ASSERT_TRUE(journal->commit_delete("b", &seq).ok());
  EXPECT_TRUE(repairer->scrub_step());
  EXPECT_TRUE(repairer->scrub_step());
  EXPECT_TRUE(volume.sent().empty());
  EXPECT_EQ(repairer->scrub_counters().checked, 0u);
}

// A scrub repair sends the journal's body of a settled name, which the body
// cache may free at any time. If the body went while the repair was on its
// way and the repair's outcome is unknown, the name turns suspect with no
// body left to send again: a late, cut PUT would stay on the volume for good.
TEST_F(RepairerTest, ABodyARepairIsSendingIsNotFreedSoALostRepairCanBeSentAgain) {
  start(/*body_cache_bytes=*/8);
  journal->wait_for_index_walk();
  applied_put("a", "alpha");
  volume.land("a", std::string("stale"));
  // Send 1 is the read-back, send 2 the repair: while it is on its way,
  // another write takes the cache over its budget. The commit after it
  // returns only once the committer's eviction pass that followed is done.
  volume.during_next([this] {
    volume.during_next([this] {
      auto writer = journal->new_body();
      ASSERT_TRUE(writer->append("0123456789", 10).ok());
      uint64_t seq = 0;
      ASSERT_TRUE(journal->commit_put("b", std::move(writer), &seq).ok());
      ASSERT_TRUE(journal->commit_delete("c", &seq).ok());
    });
  });
  volume.unknown_at(2);
  EXPECT_TRUE(repairer->scrub_step());
  ASSERT_TRUE(journal->is_suspect("a"));
  auto latest = journal->lookup("a");
  ASSERT_TRUE(latest);
  EXPECT_TRUE(journal->open_body(*latest)) << "the body of a name whose repair is lost was freed";
  volume.land("a", std::string("alp"));  // the lost repair, cut short, lands late
  // The abandoned request's barrier goes first, then the repair.
  for (int i = 0; i < 5 && volume.file("a") != "alpha"; ++i) {
    auto next = repairer->check_due_suspects();
    if (next > clock.now()) clock.advance(next - clock.now());
  }
  EXPECT_EQ(volume.file("a"), "alpha");
}

}  // namespace
}  // namespace fsr::recovery
