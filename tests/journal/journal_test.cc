// The journal's behaviour through its public interface: sequence numbers,
// lookups and bodies, coalescing and the applied watermark, recovery of the
// index on reopen, history compaction, and refusing foreign directories.
// Durability under faults is in durability_test.cc.
#include "journal/journal.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "common/checksum.h"
#include "tests/journal/fault_file_system.h"
#include "tests/journal/journal_test_util.h"
#include "tests/support/process.h"

namespace fsr::journal {
namespace {

using fsr::test::random_body;
using fsr::test::TempDir;
using test::body_files;
using test::must_delete;
using test::must_put;
using test::open_journal;
using test::read_body;
using test::read_latest;
using test::read_raw;

constexpr size_t kSmallInline = 4096;  // keeps "large" bodies small enough for fast tests

Options options_for(const TempDir& dir, size_t inline_max = kSmallInline) {
  Options o;
  o.dir = dir / "journal";
  o.inline_body_max = inline_max;
  return o;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ------------------------------------------------------------ sequence numbers

TEST(JournalSequence, CommitsGetStrictlyIncreasingSeqsInCommitOrder) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  EXPECT_EQ(j->last_seq(), 0u);
  uint64_t s1 = must_put(*j, "a", "one");
  uint64_t s2 = must_delete(*j, "a");
  uint64_t s3 = must_put(*j, "b", random_body(3 * kSmallInline, 1));
  uint64_t s4 = must_delete(*j, "never-written");
  EXPECT_EQ(s1, 1u);
  EXPECT_EQ(s2, 2u);
  EXPECT_EQ(s3, 3u);
  EXPECT_EQ(s4, 4u);
  EXPECT_EQ(j->last_seq(), 4u);
  EXPECT_EQ(j->lookup("a")->seq, s2);
  EXPECT_EQ(j->lookup("b")->seq, s3);
}

TEST(JournalSequence, ConcurrentCommittersGetDistinctSeqsEndingAtLastSeq) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  constexpr int kThreads = 64;
  constexpr int kPerThread = 4;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  std::atomic<int> failures{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        std::string name = "n" + std::to_string(t % 16);  // shared names: commits of one name race
        uint64_t seq = 0;
        Status s;
        if (i == 2) s = j->commit_delete(name, &seq);
        else s = test::put(*j, name, random_body(i == 1 ? 2 * kSmallInline : 100, t * 10 + i), &seq);
        if (!s.ok()) ++failures;
        seqs[t].push_back(seq);
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);

  std::set<uint64_t> all;
  for (const auto& per_thread : seqs) {
    // One thread's commits are ordered: each returns before the next starts.
    EXPECT_TRUE(std::is_sorted(per_thread.begin(), per_thread.end()));
    EXPECT_EQ(std::adjacent_find(per_thread.begin(), per_thread.end()), per_thread.end());
    all.insert(per_thread.begin(), per_thread.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread)) << "a seq was handed out twice";
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), j->last_seq());
  EXPECT_EQ(j->last_seq(), static_cast<uint64_t>(kThreads * kPerThread)) << "no failed commit: no gaps";

  // Each name's index entry is its highest seq.
  std::map<std::string, uint64_t> highest;
  for (int t = 0; t < kThreads; ++t)
    for (uint64_t s : seqs[t]) highest["n" + std::to_string(t % 16)] = std::max(highest["n" + std::to_string(t % 16)], s);
  for (const auto& [name, seq] : highest) EXPECT_EQ(j->lookup(name)->seq, seq) << name;
}

// ------------------------------------------------------------ lookup and bodies

TEST(JournalBodies, LookupReturnsCommittedSizeAndChecksumAndInlineBytes) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  std::string body = random_body(1000, 3);
  uint64_t seq = must_put(*j, "small", body);
  auto e = j->lookup("small");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->seq, seq);
  EXPECT_EQ(e->op, Op::kPut);
  EXPECT_EQ(e->size, body.size());
  EXPECT_EQ(e->checksum, fsr::checksum_of(body));
  EXPECT_EQ(e->body.place, BodyPlace::kInline);
  EXPECT_EQ(read_body(*j, *e), body);
  EXPECT_TRUE(body_files(j->dir()).empty()) << "an inline body needs no file";
  EXPECT_FALSE(j->lookup("other").has_value());
}

TEST(JournalBodies, LargeBodyLivesInAFileAndReadsBackByteForByte) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  std::string body = random_body(1 << 20, 4);
  uint64_t seq = must_put(*j, "large", body);
  auto e = j->lookup("large");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->seq, seq);
  EXPECT_EQ(e->size, body.size());
  EXPECT_EQ(e->checksum, fsr::checksum_of(body));
  EXPECT_EQ(e->body.place, BodyPlace::kFile);
  EXPECT_EQ(body_files(j->dir()), std::vector<std::string>{body_file_name(e->body.id)});
  auto bytes = read_body(*j, *e);
  ASSERT_TRUE(bytes.has_value()) << "the committed body file is gone or has the wrong size";
  EXPECT_TRUE(*bytes == body);
}

TEST(JournalBodies, BodyAtTheInlineLimitStaysInlineOneByteMoreSpills) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  std::string at_limit = random_body(kSmallInline, 5), over = random_body(kSmallInline + 1, 6);
  must_put(*j, "at", at_limit);
  must_put(*j, "over", over);
  EXPECT_EQ(j->lookup("at")->body.place, BodyPlace::kInline);
  EXPECT_EQ(j->lookup("over")->body.place, BodyPlace::kFile);
  EXPECT_EQ(read_latest(*j, "at"), at_limit);
  EXPECT_EQ(read_latest(*j, "over"), over);
}

TEST(JournalBodies, EmptyBodyIsAPresentZeroByteFile) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  must_put(*j, "empty", "");
  auto e = j->lookup("empty");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->op, Op::kPut);
  EXPECT_EQ(e->size, 0u);
  EXPECT_EQ(e->checksum, fsr::checksum_of(""));
  EXPECT_EQ(read_body(*j, *e), std::string());
}

TEST(JournalBodies, DeleteMakesLookupATombstoneWithNoBody) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  must_put(*j, "x", random_body(2 * kSmallInline, 7));
  auto before = j->lookup("x");
  uint64_t seq = must_delete(*j, "x");
  auto e = j->lookup("x");
  ASSERT_TRUE(e) << "a deleted name stays in the index";
  EXPECT_EQ(e->op, Op::kDelete);
  EXPECT_EQ(e->seq, seq);
  EXPECT_EQ(e->size, 0u);
  EXPECT_EQ(e->checksum, "");
  EXPECT_EQ(e->body.place, BodyPlace::kNone);
  EXPECT_EQ(j->open_body(*e), nullptr);
  EXPECT_EQ(j->open_body(*before), nullptr) << "the deleted name's body was freed";
  EXPECT_TRUE(body_files(j->dir()).empty());
}

TEST(JournalBodies, OpenBodyStaysReadableAfterTheBodyIsFreed) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  std::string body = random_body(3 * kSmallInline, 8);
  must_put(*j, "x", body);
  auto reader = j->open_body(*j->lookup("x"));
  ASSERT_NE(reader, nullptr);
  must_put(*j, "x", "newer");
  std::string out(body.size(), '\0');
  ASSERT_EQ(reader->read_at(0, out.data(), out.size()), static_cast<long>(body.size()));
  EXPECT_TRUE(out == body);
}

// ------------------------------------------------------------ coalescing and the watermark

TEST(JournalCoalescing, TwoPutsOfOneNameLeaveOnlyTheNewerPending) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  must_put(*j, "a", "first");
  uint64_t newer = must_put(*j, "a", "second");
  auto pending = j->pending_entries();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].first, "a");
  EXPECT_EQ(pending[0].second.seq, newer);
  EXPECT_EQ(read_body(*j, pending[0].second), "second");
  EXPECT_EQ(j->stats().pending_count, 1u);
  EXPECT_EQ(j->stats().pending_bytes, 6u);
}

TEST(JournalCoalescing, MarkingTheNewerSeqAppliedSettlesTheNameAndWatermarkReachesLastSeq) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  must_put(*j, "a", "first");
  uint64_t newer = must_put(*j, "a", "second");
  EXPECT_EQ(j->applied_seq(), 1u) << "record 1 is moot: a newer record of its name exists";
  j->mark_applied("a", newer);
  EXPECT_TRUE(j->pending_entries().empty());
  EXPECT_FALSE(j->lookup("a")->pending());
  EXPECT_EQ(j->lookup("a")->applied_seq, newer);
  EXPECT_EQ(j->applied_seq(), j->last_seq());
  EXPECT_EQ(j->stats().pending_count, 0u);
  EXPECT_EQ(j->stats().pending_bytes, 0u);
}

TEST(JournalCoalescing, ApplyingAnOlderSeqOfANameLeavesItsNewerRecordPending) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  uint64_t older = must_put(*j, "a", "first");
  uint64_t newer = must_put(*j, "a", "second");
  j->mark_applied("a", older);
  ASSERT_EQ(j->pending_entries().size(), 1u);
  EXPECT_EQ(j->pending_entries()[0].second.seq, newer);
  EXPECT_EQ(j->lookup("a")->applied_seq, older);
  // Record 1 is applied, record 2 is not.
  EXPECT_EQ(j->applied_seq(), older);
}

TEST(JournalWatermark, IsTheContiguousAppliedPrefixNotTheHighestApplied) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  uint64_t a = must_put(*j, "A", "a");
  uint64_t b = must_put(*j, "B", "b");
  ASSERT_EQ(a, 1u);
  ASSERT_EQ(b, 2u);
  j->mark_applied("B", b);
  EXPECT_EQ(j->applied_seq(), 0u) << "A (seq 1) is still pending";
  ASSERT_EQ(j->pending_entries().size(), 1u);
  EXPECT_EQ(j->pending_entries()[0].first, "A");
  j->mark_applied("A", a);
  EXPECT_EQ(j->applied_seq(), 2u);
}

TEST(JournalWatermark, PendingEntriesAreListedOldestFirst) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  must_put(*j, "c", "1");
  must_put(*j, "a", "2");
  must_delete(*j, "b");
  must_put(*j, "c", "4");  // c's latest is now the newest
  auto pending = j->pending_entries();
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending[0].first, "a");
  EXPECT_EQ(pending[1].first, "b");
  EXPECT_EQ(pending[2].first, "c");
  EXPECT_EQ(pending[2].second.seq, 4u);
  EXPECT_EQ(j->applied_seq(), 1u) << "record 1 is moot: c was overwritten by 4";
}

TEST(JournalWatermark, MarkAppliedWithALowerSeqIsIgnored) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  uint64_t first = must_put(*j, "a", "1");
  uint64_t second = must_put(*j, "a", "2");
  j->mark_applied("a", second);
  j->mark_applied("a", first);
  EXPECT_EQ(j->lookup("a")->applied_seq, second);
  EXPECT_TRUE(j->pending_entries().empty());
  EXPECT_EQ(j->applied_seq(), second);

  // Also across a reopen: the lower seq must not be what was persisted last.
  std::string path = j->dir();
  j.reset();
  Options o;
  o.dir = path;
  o.inline_body_max = kSmallInline;
  j = open_journal(o);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->lookup("a")->applied_seq, second);
  EXPECT_TRUE(j->pending_entries().empty());
}

TEST(JournalWatermark, MarkAppliedOfAnUnknownNameChangesNothing) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  must_put(*j, "a", "1");
  j->mark_applied("zzz", 1);
  EXPECT_FALSE(j->lookup("zzz").has_value());
  EXPECT_EQ(j->applied_seq(), 0u);
  EXPECT_EQ(j->pending_entries().size(), 1u);
}

TEST(JournalWatermark, ANewCommitOfASettledNameMakesItPendingAgain) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  uint64_t s1 = must_put(*j, "a", "1");
  j->mark_applied("a", s1);
  EXPECT_EQ(j->applied_seq(), 1u);
  uint64_t s2 = must_delete(*j, "a");
  EXPECT_TRUE(j->lookup("a")->pending());
  EXPECT_EQ(j->lookup("a")->applied_seq, s1) << "the name's applied state is kept across its new record";
  EXPECT_EQ(j->applied_seq(), 1u);
  j->mark_applied("a", s2);
  EXPECT_EQ(j->applied_seq(), 2u);
}

TEST(JournalWatermark, MarkAppliedThatLandsDuringACommitOfTheSameNameIsKept) {
  // The applier reports record 1 of "a" applied while the committer is in the
  // middle of writing record 2 of "a" (after it read a's state, before it
  // installs the new entry). The new entry must keep applied_seq 1. (The mark
  // is written before it takes effect, so its write queues behind the
  // commit's: it cannot be waited for here.)
  TempDir dir;
  test::FaultEnv fault;
  Options o = options_for(dir);
  o.env = fault.env();
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  uint64_t s1 = must_put(*j, "a", "1");
  std::atomic<bool> armed{true};
  std::thread applier;
  fault.fs->set_observer([&](const std::string& event) {
    if (event != "wal_sync_start" || !armed.exchange(false)) return;
    applier = std::thread([&] { EXPECT_TRUE(j->mark_applied("a", s1).ok()); });
  });
  uint64_t s2 = must_delete(*j, "a");
  fault.fs->set_observer(nullptr);
  ASSERT_FALSE(armed.load()) << "the commit never synced its WAL write";
  applier.join();
  auto e = j->lookup("a");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->seq, s2);
  EXPECT_EQ(e->applied_seq, s1) << "the applied report was lost: the name's applied_seq went backwards";
}

TEST(JournalCoalescing, OverwriteFreesTheOlderFileBody) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  must_put(*j, "a", random_body(2 * kSmallInline, 9));
  auto old_entry = j->lookup("a");
  ASSERT_EQ(old_entry->body.place, BodyPlace::kFile);
  std::string old_file = body_file_name(old_entry->body.id);
  std::string newer = random_body(3 * kSmallInline, 10);
  must_put(*j, "a", newer);
  auto new_entry = j->lookup("a");
  std::vector<std::string> files = body_files(j->dir());
  EXPECT_EQ(std::count(files.begin(), files.end(), old_file), 0) << "the superseded body file is still there";
  EXPECT_EQ(j->open_body(*old_entry), nullptr);
  EXPECT_EQ(read_body(*j, *new_entry), newer);
  EXPECT_EQ(j->stats().body_bytes, newer.size());
}

TEST(JournalCoalescing, OverwriteFreesTheOlderInlineBody) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  must_put(*j, "a", "older");
  auto old_entry = j->lookup("a");
  ASSERT_EQ(old_entry->body.place, BodyPlace::kInline);
  must_put(*j, "a", "newer!");
  auto new_entry = j->lookup("a");
  EXPECT_EQ(j->open_body(*old_entry), nullptr);
  EXPECT_EQ(read_body(*j, *new_entry), "newer!");
  EXPECT_EQ(j->stats().body_bytes, 6u);

  // On disk (read before any reopen, whose cleanup would hide a leak): only
  // the newer body's key is left in the bodies family.
  std::string path = j->dir();
  j.reset();
  auto raw = read_raw(path);
  ASSERT_EQ(raw["bodies"].size(), 1u);
  EXPECT_EQ(raw["bodies"].begin()->first, encode_seq_key(new_entry->body.id));
  EXPECT_EQ(raw["bodies"].begin()->second, "newer!");
  // The records family keeps both records: history is not coalesced away.
  EXPECT_EQ(raw["records"].size(), 2u);
}

TEST(JournalStats, CountNamesPendingAndRetainedBodyBytes) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  must_put(*j, "a", std::string(10, 'a'));
  must_put(*j, "b", random_body(2 * kSmallInline, 11));
  must_delete(*j, "c");
  auto s = j->stats();
  EXPECT_EQ(s.last_seq, 3u);
  EXPECT_EQ(s.applied_seq, 0u);
  EXPECT_EQ(s.names, 3u);
  EXPECT_EQ(s.pending_count, 3u);
  EXPECT_EQ(s.pending_bytes, 10u + 2 * kSmallInline);
  EXPECT_EQ(s.body_bytes, 10u + 2 * kSmallInline);
  EXPECT_GE(s.oldest_pending_age_ms, 0);
  j->mark_applied("b", 2);
  s = j->stats();
  EXPECT_EQ(s.pending_count, 2u);
  EXPECT_EQ(s.pending_bytes, 10u);
  EXPECT_EQ(s.body_bytes, 10u + 2 * kSmallInline) << "an applied body is kept: it is the latest state";
}

TEST(JournalListener, IsCalledOnceForEachCommitWithItsEntry) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  std::mutex mu;
  std::vector<std::pair<std::string, uint64_t>> seen;
  j->set_commit_listener([&](const std::string& name, const IndexEntry& e) {
    std::lock_guard<std::mutex> lock(mu);
    seen.emplace_back(name, e.seq);
  });
  must_put(*j, "a", "1");
  must_delete(*j, "b");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, uint64_t>>{{"a", 1}, {"b", 2}}));
}

// ------------------------------------------------------------ body cache budget

// Eviction runs on the committer thread after each batch: once the second of
// two commits returns, the pass after the first has finished.
void let_the_committer_pass(Journal& j) {
  uint64_t seq;
  ASSERT_TRUE(j.commit_delete("barrier", &seq).ok());
  ASSERT_TRUE(j.commit_delete("barrier", &seq).ok());
}

TEST(JournalBodyCache, AppliedBodiesOverTheBudgetAreFreedLeastRecentlyReadFirst) {
  TempDir dir;
  Options o = options_for(dir);
  constexpr size_t kBody = 2 * kSmallInline;  // bodies in files
  o.body_cache_bytes = 3 * kBody;
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  std::map<std::string, std::string> bodies;
  for (const char* n : {"a", "b", "c"}) {
    bodies[n] = random_body(kBody, n[0]);
    must_put(*j, n, bodies[n]);
  }
  for (const char* n : {"a", "b", "c"}) j->mark_applied(n, j->lookup(n)->seq);
  j->touch("a");  // read order now b, c, a
  auto b_entry = *j->lookup("b");
  bodies["d"] = random_body(kBody, 'd');
  must_put(*j, "d", bodies["d"]);  // over the budget by one body
  ASSERT_TRUE(fsr::test::wait_until([&] { return j->lookup("b")->body.place == BodyPlace::kNone; },
                                    std::chrono::seconds(5)))
      << "the least recently read applied body was not freed";
  let_the_committer_pass(*j);
  for (const char* n : {"a", "c", "d"}) EXPECT_EQ(read_latest(*j, n), bodies[n]) << n << " was freed too";
  auto b = j->lookup("b");
  EXPECT_EQ(b->op, Op::kPut) << "only the body goes: the name's state stays";
  EXPECT_EQ(b->size, kBody);
  EXPECT_EQ(b->checksum, fsr::checksum_of(bodies["b"]));
  EXPECT_FALSE(b->pending());
  EXPECT_EQ(j->open_body(*b), nullptr);
  std::vector<std::string> files = body_files(j->dir());
  EXPECT_EQ(std::count(files.begin(), files.end(), body_file_name(b_entry.body.id)), 0);
  EXPECT_EQ(j->stats().body_bytes, 3 * kBody);
}

TEST(JournalBodyCache, PendingBodiesAreNeverFreedWhateverTheBudget) {
  TempDir dir;
  Options o = options_for(dir);
  o.body_cache_bytes = 0;
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  std::string a = random_body(2 * kSmallInline, 20), b = "small pending body";
  must_put(*j, "a", a);
  must_put(*j, "b", b);
  let_the_committer_pass(*j);
  EXPECT_EQ(read_latest(*j, "a"), a);
  EXPECT_EQ(read_latest(*j, "b"), b);

  j->mark_applied("a", j->lookup("a")->seq);
  ASSERT_TRUE(fsr::test::wait_until([&] { return j->lookup("a")->body.place == BodyPlace::kNone; },
                                    std::chrono::seconds(5)));
  let_the_committer_pass(*j);
  EXPECT_EQ(read_latest(*j, "b"), b) << "a pending body was freed";
}

TEST(JournalBodyCache, AFreedBodyStaysFreedAfterReopenAndTheNameCanBeWrittenAgain) {
  TempDir dir;
  Options o = options_for(dir);
  o.body_cache_bytes = 0;
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    must_put(*j, "a", random_body(2 * kSmallInline, 21));
    must_put(*j, "s", "inline");
    j->mark_applied("a", 1);
    j->mark_applied("s", 2);
    ASSERT_TRUE(fsr::test::wait_until(
        [&] {
          return j->lookup("a")->body.place == BodyPlace::kNone && j->lookup("s")->body.place == BodyPlace::kNone;
        },
        std::chrono::seconds(5)));
  }
  EXPECT_TRUE(body_files(o.dir).empty());
  EXPECT_TRUE(read_raw(o.dir)["bodies"].empty());
  o.body_cache_bytes = UINT64_MAX;
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  auto a = j->lookup("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->body.place, BodyPlace::kNone);
  EXPECT_FALSE(a->pending());
  EXPECT_EQ(j->stats().body_bytes, 0u);
  std::string again = random_body(2 * kSmallInline, 22);
  must_put(*j, "a", again);
  EXPECT_EQ(read_latest(*j, "a"), again);
}

// ------------------------------------------------------------ recovery

TEST(JournalRecovery, ReopenKeepsTheHigherOfTheIndexEntrysAppliedSeqAndTheAppliedMark) {
  // The body cache frees an applied body with a synced index write that
  // carries the applied seq; the `applied` mark itself is written without
  // sync. A crash that loses the newer mark (leaving an older one) must not
  // bring the name back as pending with no body to send.
  TempDir dir;
  Options o = options_for(dir);
  o.body_cache_bytes = 0;
  uint64_t first = 0;
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    first = must_put(*j, "a", random_body(2 * kSmallInline, 23));
    j->mark_applied("a", first);
    uint64_t second = must_put(*j, "a", random_body(2 * kSmallInline, 24));
    j->mark_applied("a", second);
    ASSERT_TRUE(fsr::test::wait_until([&] { return j->lookup("a")->body.place == BodyPlace::kNone; },
                                      std::chrono::seconds(5)));
  }
  test::put_raw(o.dir, "applied", "a", encode_seq_key(first));
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  auto a = j->lookup("a");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->pending()) << "recovery regressed the applied seq below the index entry's";
  EXPECT_TRUE(j->pending_entries().empty());
  EXPECT_EQ(j->applied_seq(), j->last_seq());
}

TEST(JournalRecovery, ReopenRestoresIndexSeqsAppliedStatePendingAndBackendStates) {
  TempDir dir;
  Options o = options_for(dir);
  std::string large = random_body(5 * kSmallInline, 12);
  std::map<std::string, IndexEntry> before;
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    must_put(*j, "inline", "small body");       // 1
    must_put(*j, "file", large);                // 2
    must_put(*j, "gone", "x");                  // 3
    must_delete(*j, "gone");                    // 4
    must_put(*j, "applied", "done");            // 5
    must_put(*j, "half", "v1");                 // 6
    must_put(*j, "half", "v2");                 // 7
    j->mark_applied("applied", 5);
    j->mark_applied("half", 6);
    j->mark_applied("inline", 1);
    j->save_backend_state("10.0.0.1:9000", BackendState{"primary", true, 5});
    j->save_backend_state("10.0.0.2:9000", BackendState{"replica", false, 0});
    for (const char* n : {"inline", "file", "gone", "applied", "half"}) before[n] = *j->lookup(n);
    EXPECT_EQ(j->applied_seq(), 1u);
  }
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->last_seq(), 7u);
  EXPECT_EQ(j->applied_seq(), 1u);
  for (const auto& [name, e] : before) {
    auto after = j->lookup(name);
    ASSERT_TRUE(after) << name;
    EXPECT_EQ(after->seq, e.seq) << name;
    EXPECT_EQ(after->op, e.op) << name;
    EXPECT_EQ(after->size, e.size) << name;
    EXPECT_EQ(after->checksum, e.checksum) << name;
    EXPECT_EQ(after->body, e.body) << name;
    EXPECT_EQ(after->time_ms, e.time_ms) << name;
    EXPECT_EQ(after->applied_seq, e.applied_seq) << name;
  }
  EXPECT_EQ(read_latest(*j, "inline"), "small body");
  EXPECT_EQ(read_latest(*j, "file"), large);
  EXPECT_EQ(read_latest(*j, "half"), "v2");
  std::vector<std::string> pending_names;
  for (const auto& [name, e] : j->pending_entries()) pending_names.push_back(name);
  EXPECT_EQ(pending_names, (std::vector<std::string>{"file", "gone", "half"}));
  auto states = j->backend_states();
  EXPECT_EQ(states.size(), 2u);
  EXPECT_EQ(states["10.0.0.1:9000"], (BackendState{"primary", true, 5}));
  EXPECT_EQ(states["10.0.0.2:9000"], (BackendState{"replica", false, 0}));
  auto s = j->stats();
  EXPECT_EQ(s.names, 5u);
  EXPECT_EQ(s.pending_count, 3u);
  EXPECT_EQ(s.pending_bytes, large.size() + 2);
  EXPECT_EQ(s.body_bytes, 10 + large.size() + 4 + 2);

  // The next commit continues the sequence.
  EXPECT_EQ(must_put(*j, "next", "n"), 8u);
}

TEST(JournalRecovery, RemovesOrphanBodyFilesAndKeepsLiveOnes) {
  TempDir dir;
  Options o = options_for(dir);
  std::string large = random_body(2 * kSmallInline, 13);
  std::string live_file;
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    must_put(*j, "a", large);
    live_file = body_file_name(j->lookup("a")->body.id);
  }
  // An upload that never committed (the process died mid-upload), and a body
  // superseded just before a crash: files nothing in the index references.
  fsr::test::write_file(o.dir + "/bodies/" + body_file_name(77), "partial upload");
  fsr::test::write_file(o.dir + "/bodies/" + body_file_name(3), "superseded");
  ASSERT_EQ(body_files(o.dir).size(), 3u);
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  EXPECT_EQ(body_files(o.dir), std::vector<std::string>{live_file});
  EXPECT_EQ(read_latest(*j, "a"), large);
  // Ids of removed orphans are not handed out again in this run.
  auto writer = j->new_body();
  std::string big = random_body(2 * kSmallInline, 14);
  ASSERT_TRUE(writer->append(big.data(), big.size()).ok());
  uint64_t seq;
  ASSERT_TRUE(j->commit_put("b", std::move(writer), &seq).ok());
  EXPECT_GT(j->lookup("b")->body.id, 77u);
}

TEST(JournalRecovery, RemovesOrphanInlineBodies) {
  TempDir dir;
  Options o = options_for(dir);
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    must_put(*j, "a", "live");
  }
  {
    // A body key no index entry references.
    rocksdb::DBOptions db_options;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(db_options, o.dir, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(db_options, o.dir, descriptors, &handles, &raw).ok());
    size_t bodies = std::find(names.begin(), names.end(), "bodies") - names.begin();
    ASSERT_LT(bodies, names.size());
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), handles[bodies], encode_seq_key(500), "orphan").ok());
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    EXPECT_EQ(read_latest(*j, "a"), "live");
  }
  auto raw = read_raw(o.dir);
  EXPECT_EQ(raw["bodies"].size(), 1u);
  EXPECT_EQ(raw["bodies"].count(encode_seq_key(500)), 0u);
}

TEST(JournalRecovery, BodyWriterDestroyedWithoutCommitLeavesNoFile) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  {
    auto writer = j->new_body();
    std::string big = random_body(3 * kSmallInline, 15);
    ASSERT_TRUE(writer->append(big.data(), big.size()).ok());
    EXPECT_EQ(body_files(j->dir()).size(), 1u) << "a large upload spills to its file as it arrives";
  }
  EXPECT_TRUE(body_files(j->dir()).empty());
  EXPECT_EQ(j->last_seq(), 0u);
}

TEST(JournalRecovery, SequenceContinuesAfterHistoryIsCompactedAndTheJournalReopened) {
  TempDir dir;
  Options o = options_for(dir);
  o.record_retention_ms = 0;
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    must_put(*j, "a", "1");
    must_put(*j, "b", "2");
    j->mark_applied("a", 1);
    j->mark_applied("b", 2);
    int64_t committed = wall_ms();
    ASSERT_TRUE(fsr::test::wait_until([&] { return wall_ms() > committed; }, std::chrono::seconds(2)));
    j->compact_history();
  }
  ASSERT_TRUE(read_raw(o.dir)["records"].empty());
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->last_seq(), 2u);
  EXPECT_EQ(j->applied_seq(), 2u);
  EXPECT_EQ(must_put(*j, "c", "3"), 3u);
}

TEST(JournalRecovery, BodyIdsAreNeverReusedAcrossReopen) {
  // A record keeps its body reference after the body is freed. If a later
  // body took the same id, that old record would point at someone else's
  // bytes (an inspection tool reading history would show the wrong body).
  TempDir dir;
  Options o = options_for(dir);
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    must_put(*j, "a", random_body(2 * kSmallInline, 16));
    must_put(*j, "b", random_body(2 * kSmallInline, 17));
    must_delete(*j, "b");  // frees b's body, the highest id so far
  }
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    must_put(*j, "c", random_body(2 * kSmallInline, 18));
  }
  auto raw = read_raw(o.dir);
  std::map<uint64_t, uint64_t> seq_by_body_id;
  for (const auto& [key, value] : raw["records"]) {
    auto rec = decode_record(decode_seq_key(key), value);
    ASSERT_TRUE(rec);
    if (rec->op != Op::kPut) continue;
    auto [it, inserted] = seq_by_body_id.emplace(rec->body.id, rec->seq);
    EXPECT_TRUE(inserted) << "records " << it->second << " and " << rec->seq << " both reference body id "
                          << rec->body.id;
  }
  EXPECT_EQ(seq_by_body_id.size(), 3u);
}

// ------------------------------------------------------------ history compaction

TEST(JournalCompaction, RemovesAppliedRecordsPastRetentionButNeverTheIndex) {
  TempDir dir;
  Options o = options_for(dir);
  o.record_retention_ms = 0;
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  must_put(*j, "a", "1");                              // 1
  must_put(*j, "b", random_body(2 * kSmallInline, 19)); // 2
  must_delete(*j, "a");                                // 3
  must_put(*j, "c", "4");                              // 4 stays pending
  must_put(*j, "d", "5");                              // 5 applied, but after the pending 4
  j->mark_applied("a", 3);
  j->mark_applied("b", 2);
  j->mark_applied("d", 5);
  ASSERT_EQ(j->applied_seq(), 3u);
  int64_t committed = wall_ms();
  ASSERT_TRUE(fsr::test::wait_until([&] { return wall_ms() > committed; }, std::chrono::seconds(2)));
  j->compact_history();

  std::map<std::string, IndexEntry> before;
  for (const char* n : {"a", "b", "c", "d"}) before[n] = *j->lookup(n);
  std::string path = j->dir();
  j.reset();
  auto raw = read_raw(path);
  std::vector<uint64_t> kept;
  for (const auto& [key, value] : raw["records"]) kept.push_back(decode_seq_key(key));
  EXPECT_EQ(kept, (std::vector<uint64_t>{4, 5})) << "records at or below the watermark go, the rest stay";
  EXPECT_EQ(raw["index"].size(), 4u);

  j = open_journal(o);
  ASSERT_TRUE(j);
  for (const auto& [name, e] : before) {
    auto after = j->lookup(name);
    ASSERT_TRUE(after) << name;
    EXPECT_EQ(after->seq, e.seq) << name;
    EXPECT_EQ(after->op, e.op) << name;
  }
  EXPECT_EQ(read_latest(*j, "b").value_or("").size(), 2 * kSmallInline);
  EXPECT_EQ(j->last_seq(), 5u);
}

TEST(JournalCompaction, KeepsRecordsYoungerThanTheRetention) {
  TempDir dir;
  Options o = options_for(dir);
  o.record_retention_ms = 3600 * 1000;
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  must_put(*j, "a", "1");
  must_put(*j, "b", "2");
  j->mark_applied("a", 1);
  j->mark_applied("b", 2);
  j->compact_history();
  std::string path = j->dir();
  j.reset();
  EXPECT_EQ(read_raw(path)["records"].size(), 2u);
}

// ------------------------------------------------------------ opening

TEST(JournalOpen, FreshDirectoryIsCreatedWithTheFormatVersion) {
  TempDir dir;
  Options o;
  o.dir = dir / "a/b/journal";
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    EXPECT_EQ(j->last_seq(), 0u);
  }
  EXPECT_TRUE(std::filesystem::is_directory(o.dir + "/bodies"));
  auto raw = read_raw(o.dir);
  EXPECT_EQ(raw["default"]["format_version"], std::to_string(kFormatVersion));
  for (const char* family : {"records", "index", "applied", "bodies"})
    EXPECT_EQ(raw.count(family), 1u) << family;
}

TEST(JournalOpen, NonEmptyDirectoryThatIsNotAJournalFailsWithInvalidAndIsLeftUntouched) {
  TempDir dir;
  std::string path = dir / "data";
  std::filesystem::create_directories(path + "/sub");
  fsr::test::write_file(path + "/notes.txt", "not a journal");
  fsr::test::write_file(path + "/sub/file", "x");
  auto before = test::snapshot_tree(path);
  Options o;
  o.dir = path;
  std::unique_ptr<Journal> j;
  Status s = Journal::open(o, &j);
  EXPECT_EQ(s.code, Status::Code::kInvalid) << s.message;
  EXPECT_EQ(j, nullptr);
  EXPECT_EQ(test::snapshot_tree(path), before);
}

TEST(JournalOpen, PathThatIsAFileFailsWithInvalid) {
  TempDir dir;
  fsr::test::write_file(dir / "file", "x");
  Options o;
  o.dir = dir / "file";
  std::unique_ptr<Journal> j;
  EXPECT_EQ(Journal::open(o, &j).code, Status::Code::kInvalid);
  EXPECT_EQ(fsr::test::read_file(dir / "file"), "x");
}

TEST(JournalOpen, AnotherRocksDBDatabaseFailsWithInvalidAndIsLeftUnchanged) {
  TempDir dir;
  std::string path = dir / "other-db";
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, path, &raw).ok());
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), "their-key", "their-value").ok());
    delete raw;
  }
  auto before = read_raw(path);
  Options o;
  o.dir = path;
  std::unique_ptr<Journal> j;
  Status s = Journal::open(o, &j);
  EXPECT_EQ(s.code, Status::Code::kInvalid) << s.message;
  EXPECT_FALSE(std::filesystem::exists(path + "/bodies")) << "created a bodies folder in someone else's database";
  auto after = read_raw(path);
  std::vector<std::string> families_before, families_after;
  for (const auto& [name, kv] : before) families_before.push_back(name);
  for (const auto& [name, kv] : after) families_after.push_back(name);
  EXPECT_EQ(families_after, families_before) << "added column families to someone else's database";
  EXPECT_EQ(after["default"], before["default"]) << "wrote keys into someone else's database";
}

TEST(JournalOpen, UnreadableFormatVersionIsAStatusNotAnException) {
  // The contract: errors are returned as a Status, never thrown.
  TempDir dir;
  Options o = options_for(dir);
  { ASSERT_TRUE(open_journal(o)); }
  {
    rocksdb::DBOptions db_options;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(db_options, o.dir, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(db_options, o.dir, descriptors, &handles, &raw).ok());
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), handles[0], "format_version", "garbage").ok());
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  std::unique_ptr<Journal> j;
  Status s;
  try {
    s = Journal::open(o, &j);
  } catch (const std::exception& e) {
    FAIL() << "Journal::open threw: " << e.what();
  }
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(j, nullptr);
}

TEST(JournalOpen, JournalOfANewerFormatFailsWithInvalidAndIsLeftUnchanged) {
  TempDir dir;
  Options o = options_for(dir);
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    must_put(*j, "a", "1");
    j->mark_applied("a", 1);
  }
  {
    // What a newer program would have written.
    rocksdb::DBOptions db_options;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(db_options, o.dir, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(db_options, o.dir, descriptors, &handles, &raw).ok());
    rocksdb::WriteOptions wo;
    wo.sync = true;
    ASSERT_TRUE(raw->Put(wo, handles[0], "format_version", std::to_string(kFormatVersion + 1)).ok());
    ASSERT_TRUE(raw->Put(wo, handles[0], "applied_seq", "newer-layout").ok());
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  auto before = read_raw(o.dir);
  std::unique_ptr<Journal> j;
  Status s = Journal::open(o, &j);
  EXPECT_EQ(s.code, Status::Code::kInvalid) << s.message;
  EXPECT_NE(s.message.find("newer"), std::string::npos) << s.message;
  EXPECT_EQ(read_raw(o.dir), before) << "an older program changed a newer journal";
}

}  // namespace
}  // namespace fsr::journal
