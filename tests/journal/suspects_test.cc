// Suspect names: kept across a reopen, their bodies pinned against the body
// cache until cleared, and the index walk the scrub resumes from a name.
// Body pins (Journal::pin_body): the same hold, for as long as a pin lives.
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

// A journal whose body cache keeps nothing it may free.
std::unique_ptr<Journal> open_uncached(const TempDir& dir) {
  Options o = options_for(dir);
  o.body_cache_bytes = 0;
  return open_journal(o);
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
  auto j = open_uncached(dir);
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

TEST(JournalBodyPins, APinnedBodyIsNotFreedUntilItsLastPinGoes) {
  TempDir dir;
  auto j = open_uncached(dir);
  ASSERT_TRUE(j);
  const std::string a = random_body(2 * kSmallInline, 33);
  must_put(*j, "a", a);
  auto first = j->pin_body("a");
  auto second = j->pin_body("a");
  ASSERT_TRUE(j->mark_applied("a", j->lookup("a")->seq).ok());
  let_the_committer_pass(*j);
  EXPECT_EQ(read_latest(*j, "a"), a) << "a pinned body was freed";
  first.release();
  let_the_committer_pass(*j);
  EXPECT_EQ(read_latest(*j, "a"), a) << "freed while a second pin lived";
  Journal::BodyPin moved = std::move(second);
  second.release();  // moved from: holds nothing
  let_the_committer_pass(*j);
  EXPECT_EQ(read_latest(*j, "a"), a) << "freed while the moved pin lived";
  moved.release();
  let_the_committer_pass(*j);
  EXPECT_EQ(j->lookup("a")->body.place, BodyPlace::kNone) << "unpinned: the body cache may free it";
}

TEST(JournalBodyPins, APinWhileSuspectAndASuspicionWhilePinnedKeepTheBodyUntilBothGo) {
  TempDir dir;
  auto j = open_uncached(dir);
  ASSERT_TRUE(j);
  const std::string a = "inline body";
  must_put(*j, "a", a);
  auto pin = j->pin_body("a");  // before it settles: no idle pass of the committer can free it first
  ASSERT_TRUE(j->mark_applied("a", j->lookup("a")->seq).ok());
  ASSERT_TRUE(j->add_suspect("a", "h:1").ok());
  pin.release();
  let_the_committer_pass(*j);
  EXPECT_EQ(read_latest(*j, "a"), a) << "freed while suspect";
  pin = j->pin_body("a");
  ASSERT_TRUE(j->clear_suspect("a", "h:1").ok());
  let_the_committer_pass(*j);
  EXPECT_EQ(read_latest(*j, "a"), a) << "freed while pinned";
  pin.release();
  let_the_committer_pass(*j);
  EXPECT_EQ(j->lookup("a")->body.place, BodyPlace::kNone);
}

// An eviction checks a name when it chooses it and frees the body a
// RocksDB write later: a pin or a suspicion taken in between must win.
TEST(JournalBodyPins, APinOrSuspicionTakenAfterAnEvictionChoseTheNameKeepsTheBody) {
  TempDir dir;
  Options o = options_for(dir);
  o.body_cache_bytes = 0;
  Journal* journal = nullptr;
  std::vector<Journal::BodyPin> pins;
  bool pinned = false, suspected = false;
  o.before_eviction_check = [&](const std::string& name) {  // once each
    if (name == "p" && !std::exchange(pinned, true)) pins.push_back(journal->pin_body(name));
    if (name == "s" && !std::exchange(suspected, true)) {
      ASSERT_TRUE(journal->add_suspect(name, "h:1").ok());
    }
  };
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  journal = j.get();
  const std::string p = random_body(2 * kSmallInline, 34), s = "inline body";
  must_put(*j, "p", p);
  must_put(*j, "s", s);
  ASSERT_TRUE(j->mark_applied("p", j->lookup("p")->seq).ok());
  ASSERT_TRUE(j->mark_applied("s", j->lookup("s")->seq).ok());
  let_the_committer_pass(*j);
  EXPECT_EQ(read_latest(*j, "p"), p) << "pinned after the eviction chose it, and freed";
  EXPECT_EQ(read_latest(*j, "s"), s) << "suspect after the eviction chose it, and freed";
  ASSERT_EQ(pins.size(), 1u);
  pins.clear();
  ASSERT_TRUE(j->clear_suspect("s", "h:1").ok());
  let_the_committer_pass(*j);
  EXPECT_EQ(j->lookup("p")->body.place, BodyPlace::kNone);
  EXPECT_EQ(j->lookup("s")->body.place, BodyPlace::kNone);
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
