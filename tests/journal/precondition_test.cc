// Conditional commits (WritePrecondition): the committer evaluates them
// against the latest committed state, or an earlier record of its batch,
// so of writes conditioned on one state exactly one commits; and entity tags
// (journal/entity_tag.h) round-trip only within their journal.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "journal/entity_tag.h"
#include "journal/journal.h"
#include "tests/journal/journal_test_util.h"
#include "tests/support/process.h"

namespace fsr::journal {
namespace {

using fsr::test::TempDir;
using test::body_files;
using test::must_delete;
using test::must_put;
using test::open_journal;
using test::read_latest;

Options options_for(const TempDir& dir) {
  Options o;
  o.dir = dir / "journal";
  o.inline_body_max = 16;  // bodies above 16 bytes go to files: a refused one must leave none
  return o;
}

std::unique_ptr<BodyWriter> body_of(Journal& journal, const std::string& bytes) {
  auto writer = journal.new_body();
  EXPECT_TRUE(writer->append(bytes.data(), bytes.size()).ok());
  return writer;
}

WritePrecondition if_match(uint64_t seq) {
  WritePrecondition p;
  p.if_match = true;
  p.if_match_seqs = {seq};
  return p;
}

WritePrecondition if_none_match_any() {
  WritePrecondition p;
  p.if_none_match = true;
  p.if_none_match_any = true;
  return p;
}

TEST(WritePrecondition, IfMatchHoldsOnlyForThePresentStateItNames) {
  IndexEntry put;
  put.seq = 7;
  put.op = Op::kPut;
  IndexEntry tombstone = put;
  tombstone.op = Op::kDelete;
  EXPECT_TRUE(if_match(7).holds(&put));
  EXPECT_FALSE(if_match(6).holds(&put));
  EXPECT_FALSE(if_match(7).holds(&tombstone)) << "a deleted name has no state to match";
  EXPECT_FALSE(if_match(7).holds(nullptr));
  WritePrecondition any;
  any.if_match = true;
  any.if_match_any = true;
  EXPECT_TRUE(any.holds(&put));
  EXPECT_FALSE(any.holds(&tombstone));
  EXPECT_FALSE(any.holds(nullptr));
  WritePrecondition none_named;  // If-Match with only tags of another journal
  none_named.if_match = true;
  EXPECT_FALSE(none_named.holds(&put));
}

TEST(WritePrecondition, IfNoneMatchStarHoldsOnlyWithoutAPresentState) {
  IndexEntry put;
  put.seq = 3;
  IndexEntry tombstone = put;
  tombstone.op = Op::kDelete;
  EXPECT_TRUE(if_none_match_any().holds(nullptr));
  EXPECT_TRUE(if_none_match_any().holds(&tombstone));
  EXPECT_FALSE(if_none_match_any().holds(&put));
  WritePrecondition named;
  named.if_none_match = true;
  named.if_none_match_seqs = {3};
  EXPECT_FALSE(named.holds(&put));
  put.seq = 4;
  EXPECT_TRUE(named.holds(&put));
  EXPECT_TRUE(WritePrecondition{}.holds(nullptr));
}

TEST(EntityTag, RoundTripsWithinItsJournalOnly) {
  std::string tag = entity_tag("0123abcd", 42);
  EXPECT_EQ(tag, "\"0123abcd-42\"");
  EXPECT_EQ(entity_tag_seq(tag, "0123abcd"), 42u);
  EXPECT_EQ(entity_tag_seq(tag, "0123abce"), std::nullopt);
  EXPECT_EQ(entity_tag_seq("W/" + tag, "0123abcd"), std::nullopt) << "weak tags never match strongly";
  for (std::string bad : {"0123abcd-42", "\"0123abcd-\"", "\"0123abcd-042\"", "\"0123abcd-4x\"", "\"0123abcd-0\"",
                          "\"0123abcd42\"", "\"\"", "\"0123abcd-99999999999999999999999\""})
    EXPECT_EQ(entity_tag_seq(bad, "0123abcd"), std::nullopt) << bad;
}

TEST(ConditionalCommit, AFailedIfMatchCommitsNothingAndLeavesNoBodyFile) {
  TempDir dir("precondition");
  auto journal = open_journal(options_for(dir));
  ASSERT_TRUE(journal);
  uint64_t first = must_put(*journal, "doc", "the first version, in a file");
  uint64_t second = must_put(*journal, "doc", "the second version, in a file");
  auto files_before = body_files(dir / "journal");
  uint64_t seq = 0;
  Status s = journal->commit_put("doc", body_of(*journal, "a stale writer's version"), &seq, if_match(first));
  EXPECT_EQ(s.code, Status::Code::kPreconditionFailed) << status_code_name(s.code);
  EXPECT_EQ(journal->last_seq(), second) << "no seq was used";
  EXPECT_EQ(read_latest(*journal, "doc"), "the second version, in a file");
  EXPECT_EQ(body_files(dir / "journal"), files_before);
  s = journal->commit_delete("doc", &seq, if_match(first));
  EXPECT_EQ(s.code, Status::Code::kPreconditionFailed);
  EXPECT_EQ(journal->lookup("doc")->seq, second);
  ASSERT_TRUE(journal->commit_put("doc", body_of(*journal, "third"), &seq, if_match(second)).ok());
  EXPECT_GT(seq, second);
  EXPECT_EQ(read_latest(*journal, "doc"), "third");
}

TEST(ConditionalCommit, IfNoneMatchStarCreatesOnlyAnAbsentOrDeletedName) {
  TempDir dir("precondition");
  auto journal = open_journal(options_for(dir));
  ASSERT_TRUE(journal);
  uint64_t seq = 0;
  ASSERT_TRUE(journal->commit_put("new", body_of(*journal, "one"), &seq, if_none_match_any()).ok());
  EXPECT_EQ(journal->commit_put("new", body_of(*journal, "two"), &seq, if_none_match_any()).code,
            Status::Code::kPreconditionFailed);
  must_delete(*journal, "new");
  EXPECT_TRUE(journal->commit_put("new", body_of(*journal, "three"), &seq, if_none_match_any()).ok());
  EXPECT_EQ(read_latest(*journal, "new"), "three");
}

// Many writers queued at once with the same If-Match: they land in one or a
// few group-commit batches, and the check sees the batch's own earlier
// records, so exactly one commits.
TEST(ConditionalCommit, OfManyQueuedWritesWithTheSameIfMatchExactlyOneCommits) {
  TempDir dir("precondition");
  auto journal = open_journal(options_for(dir));
  ASSERT_TRUE(journal);
  uint64_t base = must_put(*journal, "race", "base");
  constexpr int kWriters = 64;
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0;
  std::vector<Status::Code> codes(kWriters);
  std::vector<uint64_t> seqs(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    auto done = [&, i](Status s, uint64_t seq) {
      std::lock_guard<std::mutex> lock(mu);
      codes[i] = s.code;
      seqs[i] = seq;
      ++answered;
      cv.notify_all();
    };
    std::string body = "writer " + std::to_string(i) + " of many, in a body file";
    if (i % 4 == 3) journal->commit_delete_async("race", done, if_match(base));
    else journal->commit_put_async("race", body_of(*journal, body), done, if_match(base));
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return answered == kWriters; }));
  }
  int winners = 0, winner = -1;
  for (int i = 0; i < kWriters; ++i) {
    if (codes[i] == Status::Code::kOk) {
      ++winners;
      winner = i;
    } else {
      EXPECT_EQ(codes[i], Status::Code::kPreconditionFailed) << i;
      EXPECT_EQ(seqs[i], 0u);
    }
  }
  ASSERT_EQ(winners, 1);
  EXPECT_EQ(journal->last_seq(), base + 1) << "only the winner took a seq";
  EXPECT_EQ(journal->lookup("race")->seq, seqs[winner]);
  if (winner % 4 != 3) {
    EXPECT_EQ(read_latest(*journal, "race"), "writer " + std::to_string(winner) + " of many, in a body file");
    EXPECT_EQ(body_files(dir / "journal").size(), 1u) << "the losers' body files are gone";
  } else {
    EXPECT_TRUE(body_files(dir / "journal").empty());
  }
}

}  // namespace
}  // namespace fsr::journal
