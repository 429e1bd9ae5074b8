// Suspect names: kept across a reopen, their bodies pinned against the body
// cache until cleared, and the index walk the scrub resumes from a name.
#include <gtest/gtest.h>

#include "journal/format.h"
#include "journal/journal.h"
#include "tests/journal/journal_test_util.h"
#include "tests/support/process.h"

namespace fsr::journal {
namespace {

using fsr::test::random_body;
using fsr::test::TempDir;
using test::must_put;
using test::open_journal;
using test::read_latest;

constexpr size_t kSmallInline = 4096;

Options options_for(const TempDir& dir) {
  Options o;
  o.dir = dir / "journal";
  o.inline_body_max = kSmallInline;
  return o;
}

// The committer frees bodies over the budget after a batch: commit two.
void let_the_committer_pass(Journal& j) {
  uint64_t seq;
  ASSERT_TRUE(j.commit_delete("barrier", &seq).ok());
  ASSERT_TRUE(j.commit_delete("barrier", &seq).ok());
}

TEST(SuspectFormat, KeyNamesTheBackendAndTheNameAndReadsBack) {
  std::string key = suspect_key("127.0.0.1:9001", "a/b c");
  EXPECT_EQ(key, "suspect/127.0.0.1:9001/a/b c");
  auto back = suspect_of_key(key);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->first, "127.0.0.1:9001");
  EXPECT_EQ(back->second, "a/b c");
  EXPECT_FALSE(suspect_of_key("backend/127.0.0.1:9001"));
  EXPECT_FALSE(suspect_of_key("suspect/127.0.0.1:9001/"));
  EXPECT_FALSE(suspect_of_key("suspect//x"));
}

TEST(JournalSuspects, AddedSuspectsSurviveAReopenAndClearedOnesDoNot) {
  TempDir dir;
  Options o = options_for(dir);
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    must_put(*j, "x", "one");
    must_put(*j, "y", "two");
    ASSERT_TRUE(j->add_suspect("x", "h:1").ok());
    ASSERT_TRUE(j->add_suspect("x", "h:2").ok());
    ASSERT_TRUE(j->add_suspect("x", "h:2").ok());  // idempotent
    ASSERT_TRUE(j->add_suspect("y", "h:1").ok());
    ASSERT_TRUE(j->clear_suspect("y", "h:1").ok());
    EXPECT_EQ(j->suspect_count(), 1u);
  }
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  std::vector<Journal::Suspect> expected = {{"x", "h:1"}, {"x", "h:2"}};
  EXPECT_EQ(j->suspects(), expected);
  EXPECT_TRUE(j->is_suspect("x"));
  EXPECT_FALSE(j->is_suspect("y"));
  EXPECT_EQ(j->suspect_count(), 1u);
  ASSERT_TRUE(j->clear_suspect("x", "h:1").ok());
  EXPECT_TRUE(j->is_suspect("x")) << "still suspect on the other backend";
  ASSERT_TRUE(j->clear_suspect("x", "h:2").ok());
  EXPECT_FALSE(j->is_suspect("x"));
  EXPECT_EQ(j->suspect_count(), 0u);
}

TEST(JournalSuspects, ASuspectNamesAppliedBodyIsNotFreedUntilItIsCleared) {
  TempDir dir;
  Options o = options_for(dir);
  o.body_cache_bytes = 0;
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  const std::string a = random_body(2 * kSmallInline, 31), s = "inline body";
  must_put(*j, "a", a);
  must_put(*j, "s", s);
  ASSERT_TRUE(j->add_suspect("a", "h:1").ok());
  ASSERT_TRUE(j->add_suspect("s", "h:1").ok());
  ASSERT_TRUE(j->mark_applied("a", j->lookup("a")->seq).ok());
  ASSERT_TRUE(j->mark_applied("s", j->lookup("s")->seq).ok());
  let_the_committer_pass(*j);
  EXPECT_EQ(read_latest(*j, "a"), a) << "a suspect name's body was freed";
  EXPECT_EQ(read_latest(*j, "s"), s) << "a suspect name's body was freed";

  ASSERT_TRUE(j->clear_suspect("a", "h:1").ok());
  let_the_committer_pass(*j);
  EXPECT_EQ(j->lookup("a")->body.place, BodyPlace::kNone) << "cleared: the body cache may free it again";
  EXPECT_EQ(read_latest(*j, "s"), s);
}

TEST(JournalSuspects, ABodyPinnedWhenReopenedStaysPinned) {
  TempDir dir;
  Options o = options_for(dir);
  const std::string a = random_body(2 * kSmallInline, 32);
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    must_put(*j, "a", a);
    ASSERT_TRUE(j->add_suspect("a", "h:1").ok());
    ASSERT_TRUE(j->mark_applied("a", j->lookup("a")->seq).ok());
  }
  o.body_cache_bytes = 0;
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  let_the_committer_pass(*j);
  EXPECT_EQ(read_latest(*j, "a"), a) << "a suspect name's body was freed after a reopen";
}

TEST(JournalSuspects, NamesAfterWalksTheIndexInByteOrderFromAName) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  for (const char* n : {"c", "a", "d", "b"}) must_put(*j, n, n);
  EXPECT_EQ(j->names_after("", 2), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(j->names_after("b", 10), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(j->names_after("bb", 10), (std::vector<std::string>{"c", "d"}));
  EXPECT_TRUE(j->names_after("d", 10).empty());
}

}  // namespace
}  // namespace fsr::journal
