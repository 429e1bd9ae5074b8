// Durable acknowledgement (design invariant 1) under injected faults.
//
// A SIGKILL keeps the page cache, so killing the process proves nothing about
// fsync. Instead these tests record which syncs happened before
// commit_put/commit_delete returned, and simulate a power loss by dropping
// everything that was not synced; or they make the disk "full" and check that
// nothing is acknowledged and that the journal carries on once space is back.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <mutex>
#include <set>

#include "common/checksum.h"
#include "journal/journal.h"
#include "tests/journal/fault_file_system.h"
#include "tests/journal/journal_test_util.h"
#include "tests/support/process.h"

namespace fsr::journal {
namespace {

using fsr::test::random_body;
using fsr::test::TempDir;
using test::body_files;
using test::FaultEnv;
using test::FaultFileSystem;
using test::must_put;
using test::open_journal;
using test::read_latest;

constexpr size_t kSmallInline = 4096;

// Test doubles for Options::sync_file and Options::sync_dir. They do not call
// fsync: the power loss is simulated from what they recorded.
struct SyncRecorder {
  std::mutex mu;
  std::map<std::string, uint64_t> synced_size;               // body path -> size at its last sync
  std::map<std::string, std::set<std::string>> durable_names; // directory -> entries at its last sync
  std::vector<std::string> events;                           // "sync_file", "sync_dir", WAL events
  std::atomic<int> file_errno{0};                            // nonzero: sync_file fails with it
  std::atomic<int> dir_errno{0};                             // nonzero: sync_dir fails with it

  void install(Options* o) {
    o->sync_file = [this](int fd, const std::string& path) {
      if (int e = file_errno.load()) {
        errno = e;
        return -1;
      }
      struct stat st {};
      if (::fstat(fd, &st) != 0) return -1;
      std::lock_guard<std::mutex> lock(mu);
      synced_size[path] = static_cast<uint64_t>(st.st_size);
      events.push_back("sync_file");
      return 0;
    };
    o->sync_dir = [this](const std::string& dir) {
      if (int e = dir_errno.load()) {
        errno = e;
        return -1;
      }
      std::set<std::string> names;
      for (const auto& entry : std::filesystem::directory_iterator(dir)) names.insert(entry.path().filename());
      std::lock_guard<std::mutex> lock(mu);
      durable_names[dir] = std::move(names);
      events.push_back("sync_dir");
      return 0;
    };
  }

  void record(const std::string& event) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(event);
  }

  // Power loss for the bodies folder: a file whose directory entry was not
  // synced is gone; a file keeps only the bytes it had at its last sync.
  void lose_unsynced_bodies(const std::string& journal_dir) {
    std::lock_guard<std::mutex> lock(mu);
    std::string bodies = journal_dir + "/bodies";
    const std::set<std::string>& durable = durable_names[bodies];
    for (const std::string& name : body_files(journal_dir)) {
      std::string path = bodies + "/" + name;
      if (!durable.count(name)) {
        std::filesystem::remove(path);
        continue;
      }
      auto synced = synced_size.find(path);
      uint64_t keep = synced == synced_size.end() ? 0 : synced->second;
      if (std::filesystem::file_size(path) > keep) std::filesystem::resize_file(path, keep);
    }
  }
};

Options options_for(const TempDir& dir) {
  Options o;
  o.dir = dir / "journal";
  o.inline_body_max = kSmallInline;
  return o;
}

// ------------------------------------------------------------ sync before ack: bodies

TEST(DurableAck, EveryAcknowledgedBodySurvivesAPowerLossRightAfterItsCommit) {
  TempDir dir;
  SyncRecorder syncs;
  Options o = options_for(dir);
  syncs.install(&o);
  struct Step {
    std::string name;
    std::string body;
  };
  std::vector<Step> steps = {
      {"large", random_body(256 << 10, 1)},
      {"small", random_body(100, 2)},
      {"large", random_body(3 * kSmallInline + 5, 3)},  // overwrite: the older file is freed
      {"other", random_body(kSmallInline + 1, 4)},
      {"small", random_body(2 * kSmallInline, 5)},      // inline name becomes a file
  };
  std::map<std::string, std::string> acknowledged;
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE("after step " + std::to_string(i) + " (" + steps[i].name + ")");
    {
      auto j = open_journal(o);
      ASSERT_TRUE(j);
      must_put(*j, steps[i].name, steps[i].body);
      acknowledged[steps[i].name] = steps[i].body;
    }
    syncs.lose_unsynced_bodies(o.dir);
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    for (const auto& [name, body] : acknowledged) {
      auto entry = j->lookup(name);
      ASSERT_TRUE(entry) << name;
      EXPECT_EQ(entry->size, body.size()) << name;
      EXPECT_EQ(entry->checksum, fsr::checksum_of(body)) << name;
      auto bytes = read_latest(*j, name);
      ASSERT_TRUE(bytes.has_value()) << name << ": acknowledged body lost";
      EXPECT_TRUE(*bytes == body) << name << ": acknowledged body differs";
    }
  }
  std::lock_guard<std::mutex> lock(syncs.mu);
  EXPECT_FALSE(syncs.synced_size.empty()) << "no body file was ever synced";
}

TEST(DurableAck, BodyFileSyncThenDirectorySyncThenSyncedWalWriteThenAck) {
  TempDir dir;
  FaultEnv fault;
  SyncRecorder syncs;
  Options o = options_for(dir);
  o.env = fault.env();
  syncs.install(&o);
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  fault.fs->set_observer([&](const std::string& event) { syncs.record(event); });
  {
    std::lock_guard<std::mutex> lock(syncs.mu);
    syncs.events.clear();
  }
  must_put(*j, "a", random_body(2 * kSmallInline, 6));
  fault.fs->set_observer(nullptr);
  std::vector<std::string> events;
  {
    std::lock_guard<std::mutex> lock(syncs.mu);
    events = syncs.events;
  }
  auto first = [&](const std::string& e) { return std::find(events.begin(), events.end(), e) - events.begin(); };
  ptrdiff_t file_sync = first("sync_file"), dir_sync = first("sync_dir"), wal_append = first("wal_append");
  ptrdiff_t end = static_cast<ptrdiff_t>(events.size());
  ASSERT_LT(file_sync, end);
  ASSERT_LT(dir_sync, end);
  ASSERT_LT(wal_append, end);
  EXPECT_LT(file_sync, dir_sync);
  EXPECT_LT(dir_sync, wal_append) << "the record was written before its body's directory entry was durable";
  EXPECT_EQ(events.back(), "wal_sync") << "the commit returned before its WAL write was synced";
}

// ------------------------------------------------------------ sync before ack: the RocksDB write

TEST(DurableAck, EveryWalByteIsSyncedWhenACommitReturns) {
  TempDir dir;
  FaultEnv fault;
  Options o = options_for(dir);
  o.env = fault.env();
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  auto expect_all_synced = [&](const std::string& after) {
    EXPECT_EQ(fault.fs->unsynced_wal_bytes(), "") << "after " << after;
  };
  must_put(*j, "a", "small");
  expect_all_synced("PUT inline");
  must_put(*j, "b", random_body(2 * kSmallInline, 7));
  expect_all_synced("PUT file");
  uint64_t seq = 0;
  ASSERT_TRUE(j->commit_delete("a", &seq).ok());
  expect_all_synced("DELETE");

  // The tracker does see unsynced bytes: mark_applied and backend states are
  // written without sync by design (losing them only means re-applying).
  j->mark_applied("b", 2);
  j->save_backend_state("h:1", BackendState{"primary", true, 2});
  EXPECT_NE(fault.fs->unsynced_wal_bytes(), "") << "the tracker cannot tell synced from unsynced bytes";
  must_put(*j, "c", "after unsynced writes");
  expect_all_synced("PUT after unsynced writes");

  uint64_t appended = 0;
  for (const auto& [name, f] : fault.fs->wal_files()) appended += f.appended;
  EXPECT_GT(appended, 0u) << "no WAL file went through the tracking file system";
}

// ------------------------------------------------------------ disk full

struct Acknowledged {
  uint64_t last_seq;
  std::optional<IndexEntry> entry;
  std::vector<std::string> files;
  size_t pending;
};

Acknowledged snapshot(const Journal& j, const std::string& name) {
  return {j.last_seq(), j.lookup(name), body_files(j.dir()), j.pending_entries().size()};
}

void expect_unchanged(const Journal& j, const std::string& name, const Acknowledged& before) {
  EXPECT_EQ(j.last_seq(), before.last_seq);
  auto now = j.lookup(name);
  ASSERT_EQ(now.has_value(), before.entry.has_value());
  if (now) {
    EXPECT_EQ(now->seq, before.entry->seq);
    EXPECT_EQ(now->checksum, before.entry->checksum);
    EXPECT_EQ(now->body, before.entry->body);
  }
  EXPECT_EQ(body_files(j.dir()), before.files) << "the failed upload left a body file";
  EXPECT_EQ(j.pending_entries().size(), before.pending);
}

TEST(DiskFull, BodySyncFailureFailsTheCommitWithNoSpaceAndTheNextCommitSucceeds) {
  TempDir dir;
  SyncRecorder syncs;
  Options o = options_for(dir);
  syncs.install(&o);
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  uint64_t first = must_put(*j, "a", "acknowledged");
  auto before = snapshot(*j, "a");

  syncs.file_errno = ENOSPC;
  uint64_t seq = 0;
  Status s = test::put(*j, "a", random_body(2 * kSmallInline, 8), &seq);
  EXPECT_EQ(s.code, Status::Code::kNoSpace) << status_code_name(s.code) << ": " << s.message;
  expect_unchanged(*j, "a", before);
  EXPECT_EQ(read_latest(*j, "a"), "acknowledged");

  syncs.file_errno = 0;
  std::string body = random_body(2 * kSmallInline, 9);
  uint64_t next = must_put(*j, "a", body);
  EXPECT_EQ(next, first + 1) << "a failed commit consumes no sequence number";
  EXPECT_EQ(j->lookup("a")->checksum, fsr::checksum_of(body));
}

TEST(DiskFull, BodiesDirectorySyncFailureFailsTheCommitWithNoSpaceAndTheNextCommitSucceeds) {
  TempDir dir;
  SyncRecorder syncs;
  Options o = options_for(dir);
  syncs.install(&o);
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  uint64_t first = must_put(*j, "a", "acknowledged");
  auto before = snapshot(*j, "a");

  syncs.dir_errno = ENOSPC;
  uint64_t seq = 0;
  Status s = test::put(*j, "a", random_body(2 * kSmallInline, 10), &seq);
  EXPECT_EQ(s.code, Status::Code::kNoSpace) << status_code_name(s.code) << ": " << s.message;
  expect_unchanged(*j, "a", before);
  EXPECT_EQ(read_latest(*j, "a"), "acknowledged");

  syncs.dir_errno = 0;
  std::string body = random_body(2 * kSmallInline, 11);
  EXPECT_EQ(must_put(*j, "a", body), first + 1);
  EXPECT_EQ(j->lookup("a")->checksum, fsr::checksum_of(body));
}

TEST(DiskFull, BodyWriteFailureFailsTheCommitWithNoSpaceAndAcknowledgesNothing) {
  TempDir dir;
  SyncRecorder syncs;  // a regular file with a short write still syncs fine
  Options o = options_for(dir);
  syncs.install(&o);
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  uint64_t first = must_put(*j, "a", "acknowledged");  // body id 1
  auto before = snapshot(*j, "a");

  // The next body (id 2) spills into a "file" on which every write fails
  // with ENOSPC, as on a full disk.
  std::string next_path = o.dir + "/bodies/" + body_file_name(2);
  ASSERT_EQ(::symlink("/dev/full", next_path.c_str()), 0);
  auto writer = j->new_body();
  std::string body = random_body(2 * kSmallInline, 12);
  Status append = writer->append(body.data(), body.size());
  EXPECT_EQ(append.code, Status::Code::kNoSpace) << append.message;
  // Even if the caller goes on to commit, the truncated body is never acknowledged.
  uint64_t seq = 0;
  Status s = j->commit_put("a", std::move(writer), &seq);
  EXPECT_EQ(s.code, Status::Code::kNoSpace) << status_code_name(s.code) << ": " << s.message;
  std::error_code ec;
  std::filesystem::remove(next_path, ec);
  expect_unchanged(*j, "a", before);
  EXPECT_EQ(read_latest(*j, "a"), "acknowledged");

  std::string later = random_body(2 * kSmallInline, 13);
  EXPECT_EQ(must_put(*j, "a", later), first + 1);
  EXPECT_EQ(j->lookup("a")->checksum, fsr::checksum_of(later));
}

// ------------------------------------------------------------ applied marks

// Every pending PUT must keep a body the applier can send.
void expect_every_pending_put_has_its_body(const Journal& j) {
  for (const auto& [name, e] : j.pending_entries()) {
    if (e.op != Op::kPut) continue;
    EXPECT_TRUE(test::read_body(j, e).has_value()) << "pending " << name << " has no body";
  }
}

TEST(AppliedMarkDiskFull, AFailedMarkIsReportedAndTheNameStaysPendingWithItsBodyUntilAMarkSucceeds) {
  TempDir dir;
  FaultEnv fault;
  Options o = options_for(dir);
  o.env = fault.env();
  o.body_cache_bytes = 0;  // every applied body is freed at once
  std::string body = random_body(2 * kSmallInline, 15);
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    uint64_t seq = must_put(*j, "a", body);

    fault.fs->set_wal_fault(FaultFileSystem::WalFault::kAppendNoSpace);
    Status s = j->mark_applied("a", seq);
    EXPECT_EQ(s.code, Status::Code::kNoSpace) << "a failed mark is reported: " << status_code_name(s.code);
    EXPECT_TRUE(j->lookup("a")->pending()) << "a mark that was not written must not settle the name";
    fault.fs->set_wal_fault(FaultFileSystem::WalFault::kNone);

    // The journal carries on (and its body cache runs after each commit).
    uint64_t b = 0;
    s = test::put(*j, "b", "after the disk had room again", &b);
    EXPECT_TRUE(s.ok()) << "a failed mark broke the next commit: " << status_code_name(s.code) << ": " << s.message;
    expect_every_pending_put_has_its_body(*j);
    EXPECT_EQ(read_latest(*j, "a"), body);
  }
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    ASSERT_TRUE(j->lookup("a"));
    EXPECT_TRUE(j->lookup("a")->pending());
    expect_every_pending_put_has_its_body(*j);
    // The retried mark is written and settles the name for good.
    EXPECT_TRUE(j->mark_applied("a", j->lookup("a")->seq).ok());
    EXPECT_FALSE(j->lookup("a")->pending());
  }
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  EXPECT_FALSE(j->lookup("a")->pending());
  expect_every_pending_put_has_its_body(*j);
}

TEST(AppliedMarkDiskFull, AMarkRetriedBeforeTheJournalResumesFailsAgainAndSucceedsAfterTheNextCommit) {
  TempDir dir;
  FaultEnv fault;
  Options o = options_for(dir);
  o.env = fault.env();
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  uint64_t seq = must_put(*j, "a", "x");
  fault.fs->set_wal_fault(FaultFileSystem::WalFault::kAppendNoSpace);
  EXPECT_EQ(j->mark_applied("a", seq).code, Status::Code::kNoSpace);
  fault.fs->set_wal_fault(FaultFileSystem::WalFault::kNone);
  for (int attempt = 0; attempt < 3; ++attempt) {
    EXPECT_FALSE(j->mark_applied("a", seq).ok()) << "attempt " << attempt << ": the database is not resumed yet";
    EXPECT_TRUE(j->lookup("a")->pending());
  }
  EXPECT_EQ(must_put(*j, "b", "resumes the database"), seq + 1);
  EXPECT_TRUE(j->mark_applied("a", seq).ok());
  EXPECT_FALSE(j->lookup("a")->pending());
}

class WalDiskFull : public ::testing::TestWithParam<FaultFileSystem::WalFault> {};

TEST_P(WalDiskFull, FailedWriteIsNotAcknowledgedAndTheJournalResumesWithoutReopen) {
  TempDir dir;
  FaultEnv fault;
  Options o = options_for(dir);
  o.env = fault.env();
  std::string a_body = random_body(2 * kSmallInline, 14);
  {
    auto j = open_journal(o);
    ASSERT_TRUE(j);
    uint64_t first = must_put(*j, "a", a_body);
    auto before = snapshot(*j, "failed");

    fault.fs->set_wal_fault(GetParam());
    uint64_t seq = 0;
    Status s = test::put(*j, "failed", "never acknowledged", &seq);
    EXPECT_EQ(s.code, Status::Code::kNoSpace) << status_code_name(s.code) << ": " << s.message;
    EXPECT_GT(fault.fs->injected_failures(), 0u);
    EXPECT_FALSE(j->lookup("failed").has_value());
    expect_unchanged(*j, "failed", before);

    fault.fs->set_wal_fault(FaultFileSystem::WalFault::kNone);
    uint64_t next = 0;
    s = test::put(*j, "b", "after the disk had room again", &next);
    ASSERT_TRUE(s.ok()) << "the journal did not resume: " << status_code_name(s.code) << ": " << s.message;
    EXPECT_EQ(next, first + 1);
    EXPECT_EQ(must_put(*j, "c", "and again"), first + 2);
    EXPECT_EQ(read_latest(*j, "a"), a_body);
  }
  // After a restart: everything acknowledged, nothing that was refused.
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->last_seq(), 3u);
  EXPECT_EQ(read_latest(*j, "a"), a_body);
  EXPECT_EQ(read_latest(*j, "b"), "after the disk had room again");
  EXPECT_EQ(read_latest(*j, "c"), "and again");
  EXPECT_FALSE(j->lookup("failed").has_value()) << "a refused write came back after restart";
  std::set<uint64_t> seqs;
  for (const char* n : {"a", "b", "c"}) seqs.insert(j->lookup(n)->seq);
  EXPECT_EQ(seqs, (std::set<uint64_t>{1, 2, 3}));
}

INSTANTIATE_TEST_SUITE_P(Faults, WalDiskFull,
                         ::testing::Values(FaultFileSystem::WalFault::kAppendNoSpace,
                                           FaultFileSystem::WalFault::kAppendHalfThenNoSpace,
                                           FaultFileSystem::WalFault::kSyncNoSpace),
                         [](const auto& info) {
                           switch (info.param) {
                             case FaultFileSystem::WalFault::kAppendNoSpace: return std::string("AppendNoSpace");
                             case FaultFileSystem::WalFault::kAppendHalfThenNoSpace: return std::string("AppendHalfThenNoSpace");
                             case FaultFileSystem::WalFault::kSyncNoSpace: return std::string("SyncNoSpace");
                             default: return std::string("None");
                           }
                         });

}  // namespace
}  // namespace fsr::journal
