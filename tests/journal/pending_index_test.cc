// The index held on disk: only pending names in memory, settled names read
// from RocksDB, the pending set found at open from the `pending/` keys (or
// from the records when the keys are missing or stale), the background walk
// that counts the totals, and the body cache after a reopen.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <algorithm>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "journal/format.h"
#include "journal/journal.h"
#include "tests/journal/journal_test_util.h"
#include "tests/support/process.h"

namespace fsr::journal {
namespace {

using fsr::test::TempDir;
using test::delete_raw;
using test::must_delete;
using test::must_put;
using test::open_journal;
using test::put_raw;
using test::read_latest;
using test::read_raw;

Options options_for(const TempDir& dir) {
  Options o;
  o.dir = dir / "journal";
  o.inline_body_max = 4096;
  return o;
}

std::vector<std::string> pending_names(const Journal& j) {
  std::vector<std::string> out;
  for (const auto& [name, e] : j.pending_entries()) out.push_back(name);
  return out;
}

// 60 names: n00..n49 settled (n45..n49 deleted), p00..p09 pending, one of them
// a body file; n07 overwritten twice. Returns every name's latest state.
std::map<std::string, IndexEntry> build(Journal& j) {
  for (int i = 0; i < 50; ++i) must_put(j, "n" + std::string(i < 10 ? "0" : "") + std::to_string(i), std::string(100 + i, 'a'));
  must_put(j, "n07", "second");
  must_put(j, "n07", "third");
  for (int i = 45; i < 50; ++i) must_delete(j, "n" + std::to_string(i));
  for (const auto& [name, e] : j.pending_entries()) EXPECT_TRUE(j.mark_applied(name, e.seq).ok());
  for (int i = 0; i < 10; ++i) must_put(j, "p0" + std::to_string(i), i == 3 ? std::string(10000, 'f') : "pending");
  std::map<std::string, IndexEntry> out;
  for (const auto& name : j.names_after("", 1000)) out[name] = *j.lookup(name);
  EXPECT_EQ(out.size(), 60u);
  return out;
}

void expect_same_states(const Journal& j, const std::map<std::string, IndexEntry>& states) {
  for (const auto& [name, e] : states) {
    auto now = j.lookup(name);
    ASSERT_TRUE(now) << name;
    EXPECT_EQ(now->seq, e.seq) << name;
    EXPECT_EQ(now->op, e.op) << name;
    EXPECT_EQ(now->body, e.body) << name;
    EXPECT_EQ(now->checksum, e.checksum) << name;
    EXPECT_EQ(now->applied_seq, e.applied_seq) << name;
  }
}

const std::vector<std::string> kPending = {"p00", "p01", "p02", "p03", "p04", "p05", "p06", "p07", "p08", "p09"};

TEST(PendingIndex, OpenReturnsBeforeTheIndexWalkAndServesEveryName) {
  TempDir dir;
  Options o = options_for(dir);
  std::map<std::string, IndexEntry> states;
  JournalStats closed_stats;
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    states = build(*j);
    closed_stats = j->stats();
  }
  // The walk is held: open, lookups, bodies and commits must not wait for it.
  // (Released at the latest when the test ends, so the close can join it.)
  struct Gate {
    std::promise<void> promise;
    std::shared_future<void> future = promise.get_future().share();
    bool open = false;
    void release() {
      if (!open) promise.set_value();
      open = true;
    }
    ~Gate() { release(); }
  };
  std::unique_ptr<Journal> j;  // closed after the gate opens
  auto gate = std::make_shared<Gate>();
  o.before_index_walk = [future = gate->future] { future.wait_for(std::chrono::seconds(60)); };
  ASSERT_TRUE(Journal::open(o, &j).ok());

  JournalStats s = j->stats();
  EXPECT_FALSE(s.index_walked);
  EXPECT_EQ(s.last_seq, closed_stats.last_seq);
  EXPECT_EQ(s.applied_seq, closed_stats.applied_seq);
  EXPECT_EQ(s.pending_count, 10u);
  EXPECT_EQ(s.pending_bytes, closed_stats.pending_bytes);
  EXPECT_EQ(pending_names(*j), kPending);
  expect_same_states(*j, states);
  EXPECT_EQ(read_latest(*j, "n07"), "third");
  EXPECT_EQ(read_latest(*j, "n20"), std::string(120, 'a'));
  EXPECT_EQ(read_latest(*j, "p03"), std::string(10000, 'f'));

  // Writes meanwhile: a new name, a settled name overwritten, a pending one
  // overwritten, a settled one deleted. Their changes to the totals are
  // counted on top of the walk's.
  must_put(*j, "new", "x");
  must_put(*j, "n10", "overwritten");
  must_put(*j, "p01", "again");
  must_delete(*j, "n11");
  EXPECT_TRUE(j->lookup("n10")->pending());
  EXPECT_GT(j->lookup("n10")->seq, states["n10"].seq);
  EXPECT_EQ(j->lookup("n11")->op, Op::kDelete);
  EXPECT_FALSE(j->stats().index_walked);

  gate->release();
  j->wait_for_index_walk();
  JournalStats walked = j->stats();
  EXPECT_TRUE(walked.index_walked);
  j.reset();
  o.before_index_walk = nullptr;
  gate.reset();
  auto again = open_journal(o);
  ASSERT_TRUE(again);
  JournalStats reopened = again->stats();
  EXPECT_EQ(walked.names, 61u);
  EXPECT_EQ(walked.names, reopened.names);
  EXPECT_EQ(walked.body_bytes, reopened.body_bytes);
  EXPECT_EQ(walked.pending_count, reopened.pending_count);
  EXPECT_EQ(walked.pending_bytes, reopened.pending_bytes);
}

// The meta keys the journal keeps for the pending set.
std::vector<std::string> pending_keys(const std::string& journal_dir) {
  std::vector<std::string> out;
  auto raw = read_raw(journal_dir);
  for (const auto& [key, value] : raw["default"])
    if (seq_of_pending_key(key) || key == kMetaPendingThrough) out.push_back(key);
  return out;
}

// A journal last written by a program that kept no pending keys (or whose
// keys were lost), with or without its applied_seq: the pending set is found
// from the records, and the keys are written back.
TEST(PendingIndex, PendingNamesAreFoundFromTheRecordsWhenTheKeysAreMissing) {
  for (bool keep_applied_seq : {true, false}) {
    SCOPED_TRACE(keep_applied_seq ? "applied_seq kept" : "applied_seq lost");
    TempDir dir;
    Options o = options_for(dir);
    std::map<std::string, IndexEntry> states;
    {
      auto j = open_journal(o);
      ASSERT_TRUE(j);
      states = build(*j);
    }
    auto keys = pending_keys(o.dir);
    ASSERT_EQ(keys.size(), 11u);  // ten names and pending_through
    for (const auto& key : keys) delete_raw(o.dir, "default", key);
    if (!keep_applied_seq) delete_raw(o.dir, "default", kMetaAppliedSeq);
    {
      auto j = open_journal(o);
      ASSERT_TRUE(j);
      EXPECT_EQ(pending_names(*j), kPending);
      expect_same_states(*j, states);
    }
    EXPECT_EQ(pending_keys(o.dir), keys) << "the keys are written back";
  }
}

// Records written past pending_through by a program that kept no keys: the
// walk starts there, not at the first record.
TEST(PendingIndex, RecordsPastPendingThroughAreWalked) {
  TempDir dir;
  Options o = options_for(dir);
  uint64_t through;
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    build(*j);
    through = j->last_seq();
    must_put(*j, "late", "v");
    must_put(*j, "n20", "v2");  // a settled name made pending again
  }
  delete_raw(o.dir, "default", pending_key(through + 1));
  delete_raw(o.dir, "default", pending_key(through + 2));
  put_raw(o.dir, "default", kMetaPendingThrough, encode_seq_key(through));
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  auto names = pending_names(*j);
  std::vector<std::string> expected = kPending;
  expected.push_back("late");
  expected.push_back("n20");
  EXPECT_EQ(names, expected);
}

// A key naming a record that is settled, superseded or unknown changes
// nothing and is removed.
TEST(PendingIndex, StalePendingKeysAreIgnoredAndRemoved) {
  TempDir dir;
  Options o = options_for(dir);
  std::map<std::string, IndexEntry> states;
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    states = build(*j);
  }
  put_raw(o.dir, "default", pending_key(states["n20"].seq), "n20");  // settled
  put_raw(o.dir, "default", pending_key(states["n07"].seq - 1), "n07");  // superseded
  put_raw(o.dir, "default", pending_key(states["n30"].seq), "nobody");  // no such name
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    EXPECT_EQ(pending_names(*j), kPending);
    expect_same_states(*j, states);
  }
  auto keys = pending_keys(o.dir);
  EXPECT_EQ(keys.size(), 11u);
  for (uint64_t seq : {states["n20"].seq, states["n07"].seq - 1, states["n30"].seq})
    EXPECT_EQ(std::count(keys.begin(), keys.end(), pending_key(seq)), 0) << seq;
}

// A pending name whose index entry does not decode fails the open, and its
// key stays: it is never taken for a stale key and dropped, which would
// lose the name's pending record for good.
TEST(PendingIndex, AnUnreadableEntryOfAPendingNameFailsTheOpenAndKeepsItsKey) {
  TempDir dir;
  Options o = options_for(dir);
  std::map<std::string, IndexEntry> states;
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    states = build(*j);
  }
  put_raw(o.dir, "index", "p05", "not an index entry");
  std::unique_ptr<Journal> j;
  Status s = Journal::open(o, &j);
  EXPECT_EQ(s.code, Status::Code::kCorruption) << s.message;
  auto keys = pending_keys(o.dir);
  EXPECT_EQ(std::count(keys.begin(), keys.end(), pending_key(states["p05"].seq)), 1);
}

// A settled name's key goes with the mark that settles it, and a pending
// name's key with the record that supersedes it: the keys stay one per
// pending name.
TEST(PendingIndex, KeysFollowTheMarksAndTheCommits) {
  TempDir dir;
  Options o = options_for(dir);
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    build(*j);
    must_put(*j, "p00", "newer");
    must_delete(*j, "p01");
    auto e = j->lookup("p02");
    ASSERT_TRUE(j->mark_applied("p02", e->seq).ok());
  }
  std::set<std::string> expected;
  auto j = open_journal(o);
  for (const auto& [name, e] : j->pending_entries()) expected.insert(pending_key(e.seq));
  j.reset();
  auto keys = pending_keys(o.dir);
  std::set<std::string> found(keys.begin(), keys.end());
  found.erase(kMetaPendingThrough);
  EXPECT_EQ(found, expected);
  EXPECT_EQ(found.size(), 9u);
}

// Writers, an applier and readers on a few names: a reader never sees a
// state older than one already acknowledged, never a settled state the
// applier did not mark, and never a name go back in time. Half the names
// are written before a reopen, so their first reads come from RocksDB and
// race the commits that change them.
TEST(PendingIndex, LookupIsNeverOlderThanAnAckNorSettledBeforeItsMark) {
  TempDir dir;
  Options o = options_for(dir);
  constexpr int kNames = 1000;
  auto name_of = [](int i) { return "race" + std::to_string(i); };
  std::vector<std::atomic<uint64_t>> acked(kNames), marked(kNames);
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    for (int i = 0; i < kNames; ++i) acked[i] = must_put(*j, name_of(i), "first");
    for (const auto& [name, e] : j->pending_entries()) ASSERT_TRUE(j->mark_applied(name, e.seq).ok());
    for (int i = 0; i < kNames; ++i) marked[i] = acked[i].load();
  }
  auto j = open_journal(o);  // nothing settled is in memory now
  ASSERT_TRUE(j);
  auto raise = [](std::atomic<uint64_t>& a, uint64_t v) {
    uint64_t prev = a.load();
    while (prev < v && !a.compare_exchange_weak(prev, v)) {
    }
  };
  std::atomic<int> position{0};  // the name the writer is at
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    for (int n = 0; n < 2 * kNames; ++n) {
      int i = n % kNames;
      position = i;
      uint64_t seq = n % 7 == 6 ? must_delete(*j, name_of(i)) : must_put(*j, name_of(i), std::to_string(n));
      raise(acked[i], seq);
    }
    stop = true;
  });
  std::thread applier([&] {
    while (!stop) {
      for (const auto& [name, e] : j->pending_entries()) {
        raise(marked[std::stoi(name.substr(4))], e.seq);  // before the mark can take effect
        if (!j->mark_applied(name, e.seq).ok()) ++failures;
      }
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r)
    readers.emplace_back([&, r] {
      std::vector<uint64_t> last_seen(kNames, 0);
      uint64_t n = 0;
      while (!stop) {
        // The name being written and the next few: their first read since
        // the reopen races their commit.
        int i = (position.load() + static_cast<int>(n++ % 4) + r) % kNames;
        uint64_t acked_before = acked[i].load();
        auto e = j->lookup(name_of(i));
        if (!e || e->seq < acked_before || e->seq < last_seen[i]) {
          ++failures;
          continue;
        }
        last_seen[i] = e->seq;
        if (e->applied_seq > marked[i].load()) ++failures;
      }
    });
  writer.join();
  applier.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < kNames; ++i) EXPECT_EQ(j->lookup(name_of(i))->seq, acked[i].load()) << name_of(i);
}

// A lookup that read a settled name from RocksDB just before the body cache
// freed its body does not keep the body in memory: reads would go to a
// missing body, and a later eviction would count its bytes twice.
TEST(PendingIndex, ALookupRacingAnEvictionKeepsNoFreedBody) {
  TempDir dir;
  Options o = options_for(dir);
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    for (int i = 0; i < 10; ++i) must_put(*j, "ev" + std::to_string(i), std::string(1000, 'e'));
    for (const auto& [name, e] : j->pending_entries()) ASSERT_TRUE(j->mark_applied(name, e.seq).ok());
  }
  o.body_cache_bytes = 9000;  // one body over: ev0, first in name order, goes
  std::promise<void> gate;
  std::shared_future<void> walk = gate.get_future().share();
  o.before_index_walk = [walk] { walk.wait_for(std::chrono::seconds(60)); };
  std::atomic<Journal*> journal{nullptr};
  std::atomic<bool> read_done{false};
  o.after_stored_read = [&](const std::string& name) {
    if (name != "ev0" || read_done.exchange(true)) return;
    // The lookup has read ev0 with its body; let the eviction happen now.
    gate.set_value();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (journal.load()->body_cache_counters().evictions < 1 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::open(o, &j).ok());
  journal = j.get();
  auto read = j->lookup("ev0");  // read, then the eviction, then the lookup goes on
  ASSERT_TRUE(read);
  EXPECT_EQ(j->body_cache_counters().evictions, 1u);
  EXPECT_EQ(j->lookup("ev0")->body.place, BodyPlace::kNone) << "the lookup kept the freed body in memory";
  EXPECT_EQ(j->stats().body_bytes, 9000u);
}

// After a reopen the body cache frees bodies nobody has read since (walking
// the index), before the ones read or settled since; pending bodies never.
TEST(PendingIndex, BodyCacheAfterReopenFreesUnreadBodiesFirst) {
  TempDir dir;
  Options o = options_for(dir);
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    for (int i = 0; i < 20; ++i) must_put(*j, "b" + std::to_string(i), std::string(1000, 'a' + i));
    for (const auto& [name, e] : j->pending_entries()) ASSERT_TRUE(j->mark_applied(name, e.seq).ok());
    must_put(*j, "pending1", std::string(1000, 'p'));
    must_put(*j, "pending2", std::string(1000, 'q'));
  }
  o.body_cache_bytes = 5000;
  std::unique_ptr<Journal> j;
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  o.before_index_walk = [opened] { opened.wait_for(std::chrono::seconds(60)); };
  ASSERT_TRUE(Journal::open(o, &j).ok());
  // Read before the walk: it joins the recently used list.
  EXPECT_EQ(read_latest(*j, "b7"), std::string(1000, 'a' + 7));
  j->touch("b7");
  EXPECT_EQ(j->body_cache_counters().evictions, 0u) << "nothing is freed before the walk counted the bytes";
  gate.set_value();
  j->wait_for_index_walk();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (j->stats().body_bytes > 5000 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_LE(j->stats().body_bytes, 5000u);
  EXPECT_EQ(read_latest(*j, "b7"), std::string(1000, 'a' + 7));
  EXPECT_EQ(read_latest(*j, "pending1"), std::string(1000, 'p'));
  EXPECT_EQ(read_latest(*j, "pending2"), std::string(1000, 'q'));
  EXPECT_EQ(j->body_cache_counters().evictions, 17u);  // 22 bodies of 1000 bytes down to 5
}

}  // namespace
}  // namespace fsr::journal
