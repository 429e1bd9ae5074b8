// Queued commits (commit_put_async / commit_delete_async): the callback runs
// exactly once, on a journal thread, after the write is durable and
// visible; failures reach the callback with nothing indexed; a journal being
// destroyed still completes what was queued.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/checksum.h"
#include "journal/journal.h"
#include "tests/journal/journal_test_util.h"
#include "tests/support/process.h"

namespace fsr::journal {
namespace {

using fsr::test::random_body;
using fsr::test::TempDir;
using test::body_files;
using test::open_journal;
using test::read_latest;

constexpr size_t kSmallInline = 4096;
constexpr auto kDeadline = std::chrono::seconds(30);

Options options_for(const TempDir& dir) {
  Options o;
  o.dir = dir / "journal";
  o.inline_body_max = kSmallInline;
  return o;
}

std::unique_ptr<BodyWriter> body_of(Journal& journal, const std::string& bytes) {
  auto writer = journal.new_body();
  EXPECT_TRUE(writer->append(bytes.data(), bytes.size()).ok());
  return writer;
}

// What each callback saw, by submission index.
struct Outcome {
  int calls = 0;
  Status status;
  uint64_t seq = 0;
  std::thread::id thread;
};

class Outcomes {
 public:
  explicit Outcomes(size_t n) : outcomes_(n) {}

  CommitCallback callback(size_t i) {
    return [this, i](Status s, uint64_t seq) {
      std::lock_guard<std::mutex> lock(mu_);
      Outcome& o = outcomes_[i];
      ++o.calls;
      o.status = std::move(s);
      o.seq = seq;
      o.thread = std::this_thread::get_id();
      ++called_;
      cv_.notify_all();
    };
  }

  // Polls until every submission has been answered at least once.
  bool wait_all() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kDeadline, [this] { return called_ >= outcomes_.size(); });
  }

  std::vector<Outcome> snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return outcomes_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Outcome> outcomes_;
  size_t called_ = 0;
};

// A one-shot gate a test holds the committer thread at.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, released = false;

  void enter_and_wait() {
    std::unique_lock<std::mutex> lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, kDeadline, [this] { return released; });
  }
  bool wait_entered() {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, kDeadline, [this] { return entered; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
};

TEST(AsyncCommit, SeqsIncreaseInSubmissionOrderAndEachCallbackRunsOnceOnOneJournalThread) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  const size_t n = 300;
  Outcomes outcomes(n);
  std::map<std::string, size_t> last_of_name;
  for (size_t i = 0; i < n; ++i) {
    std::string name = "name-" + std::to_string(i % 7);
    if (i % 5 == 4) {
      j->commit_delete_async(name, outcomes.callback(i));
    } else {
      // Every third body spills to a file the committer must fsync.
      size_t size = i % 3 == 0 ? 2 * kSmallInline : 100;
      j->commit_put_async(name, body_of(*j, random_body(size, static_cast<unsigned>(i))), outcomes.callback(i));
    }
    last_of_name[name] = i;
  }
  ASSERT_TRUE(outcomes.wait_all());
  uint64_t last_seq = j->last_seq();
  j.reset();  // joins the committer and the completer: no callback can still be on its way

  auto seen = outcomes.snapshot();
  std::set<std::thread::id> threads;
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(seen[i].calls, 1) << "submission " << i;
    EXPECT_TRUE(seen[i].status.ok()) << i << ": " << seen[i].status.message;
    if (i > 0) {
      EXPECT_GT(seen[i].seq, seen[i - 1].seq) << "submission " << i << " committed out of order";
    }
    threads.insert(seen[i].thread);
  }
  EXPECT_EQ(seen[n - 1].seq, last_seq);
  EXPECT_EQ(threads.size(), 1u) << "callbacks ran on more than one thread";
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u) << "a callback ran on the submitting thread";

  // The index after a reopen holds each name's last submission.
  j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  for (const auto& [name, i] : last_of_name) {
    auto e = j->lookup(name);
    ASSERT_TRUE(e) << name;
    EXPECT_EQ(e->seq, seen[i].seq) << name;
    EXPECT_EQ(e->op, i % 5 == 4 ? Op::kDelete : Op::kPut) << name;
  }
}

TEST(AsyncCommit, TheIndexAndTheCommitListenerHoldTheWriteBeforeTheCallbackRuns) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  std::mutex mu;
  std::map<std::string, uint64_t> listened;  // name -> seq the listener was told
  j->set_commit_listener([&](const std::string& name, const IndexEntry& e) {
    std::lock_guard<std::mutex> lock(mu);
    listened[name] = e.seq;
  });
  const size_t n = 50;
  Outcomes outcomes(n);
  std::vector<std::string> problems;
  for (size_t i = 0; i < n; ++i) {
    std::string name = "n" + std::to_string(i);
    std::string bytes = random_body(i % 2 ? 3 * kSmallInline : 10, static_cast<unsigned>(i));
    CommitCallback record = outcomes.callback(i);
    j->commit_put_async(name, body_of(*j, bytes), [&, name, bytes, record](Status s, uint64_t seq) {
      // What a reader sees at the moment the writer hears success.
      auto e = j->lookup(name);
      auto body = read_latest(*j, name);
      uint64_t told;
      {
        std::lock_guard<std::mutex> lock(mu);
        told = listened.count(name) ? listened[name] : 0;
        if (!e || e->seq != seq) problems.push_back(name + ": index does not hold the seq yet");
        if (body != bytes) problems.push_back(name + ": body not readable yet");
        if (told != seq) problems.push_back(name + ": listener not told yet");
      }
      record(std::move(s), seq);
    });
  }
  ASSERT_TRUE(outcomes.wait_all());
  j.reset();
  for (const auto& o : outcomes.snapshot()) EXPECT_TRUE(o.status.ok()) << o.status.message;
  EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST(AsyncCommit, ABodyFileSyncFailureReachesTheCallbackAsNoSpaceWithNothingIndexed) {
  TempDir dir;
  std::atomic<int> sync_errno{0};
  Options o = options_for(dir);
  o.sync_file = [&](int fd, const std::string&) {
    if (int e = sync_errno.load()) {
      errno = e;
      return -1;
    }
    return 0;
  };
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  uint64_t first = test::must_put(*j, "kept", "acknowledged");

  sync_errno = ENOSPC;
  Outcomes outcomes(3);
  // Left to the committer to fsync; finish()ed (and failed) by the caller;
  // no body at all.
  j->commit_put_async("spilled", body_of(*j, random_body(2 * kSmallInline, 1)), outcomes.callback(0));
  auto finished = body_of(*j, random_body(2 * kSmallInline, 2));
  EXPECT_EQ(finished->finish().code, Status::Code::kNoSpace);
  EXPECT_EQ(finished->finish().code, Status::Code::kNoSpace) << "a failed finish must stick";
  j->commit_put_async("kept", std::move(finished), outcomes.callback(1));
  j->commit_put_async("none", nullptr, outcomes.callback(2));
  ASSERT_TRUE(outcomes.wait_all());
  auto seen = outcomes.snapshot();
  EXPECT_EQ(seen[0].status.code, Status::Code::kNoSpace) << seen[0].status.message;
  EXPECT_EQ(seen[1].status.code, Status::Code::kNoSpace) << seen[1].status.message;
  EXPECT_EQ(seen[2].status.code, Status::Code::kInvalid) << seen[2].status.message;
  for (const auto& s : seen) {
    EXPECT_EQ(s.seq, 0u);
    EXPECT_NE(s.thread, std::this_thread::get_id()) << "a failure is reported on the committer thread too";
  }
  EXPECT_FALSE(j->lookup("spilled"));
  EXPECT_FALSE(j->lookup("none"));
  EXPECT_EQ(j->lookup("kept")->seq, first);
  EXPECT_EQ(read_latest(*j, "kept"), "acknowledged");
  EXPECT_EQ(j->last_seq(), first);
  EXPECT_TRUE(body_files(o.dir).empty()) << "a failed body's file is removed before its callback";

  sync_errno = 0;
  EXPECT_EQ(test::must_put(*j, "spilled", random_body(2 * kSmallInline, 3)), first + 1)
      << "a failed commit consumes no sequence number";
}

// Commits to the journal being destroyed on another thread until one is
// refused: closing has begun then (the refused callback runs at once on the
// submitting thread). The commits accepted before it are queued, and each
// must still be answered once.
struct ClosingProbes {
  struct Probe {
    std::atomic<int> calls{0};
    Status status;
  };
  std::vector<std::unique_ptr<Probe>> accepted;
  Status refused;
};

ClosingProbes probe_until_refused(Journal& journal) {
  ClosingProbes out;
  auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    auto probe = std::make_unique<ClosingProbes::Probe>();
    ClosingProbes::Probe* p = probe.get();
    journal.commit_delete_async("probe", [p](Status s, uint64_t) {
      p->status = std::move(s);
      p->calls.fetch_add(1);
    });
    if (p->calls.load() == 1) {
      out.refused = p->status;
      break;
    }
    out.accepted.push_back(std::move(probe));
    // Paces the probes (the condition is polled, not waited for by time).
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return out;
}

// After the journal closed: each queued commit ("q<i>") and each probe
// accepted before closing was answered once, Ok, and every acknowledged
// name (those of `acknowledged` too) is durable at its seq after reopening.
void expect_answered_and_durable(const Options& options, const std::vector<Outcome>& queued,
                                 const ClosingProbes& probes, std::map<std::string, uint64_t> acknowledged) {
  for (size_t i = 0; i < queued.size(); ++i) {
    EXPECT_EQ(queued[i].calls, 1) << "queued commit " << i << " was never answered";
    EXPECT_TRUE(queued[i].status.ok()) << i << ": " << queued[i].status.message;
    acknowledged["q" + std::to_string(i)] = queued[i].seq;
  }
  for (const auto& p : probes.accepted) {
    EXPECT_EQ(p->calls.load(), 1) << "a probe accepted before closing was never answered";
    EXPECT_TRUE(p->status.ok()) << p->status.message;
  }
  auto j = open_journal(options);
  ASSERT_TRUE(j);
  for (const auto& [name, seq] : acknowledged) {
    auto e = j->lookup(name);
    ASSERT_TRUE(e) << name << " was acknowledged but is not durable";
    EXPECT_EQ(e->seq, seq) << name;
  }
}

TEST(AsyncCommit, DestroyingTheJournalCompletesQueuedCommitsAndRefusesNewOnesWithClosed) {
  TempDir dir;
  auto j = open_journal(options_for(dir));
  ASSERT_TRUE(j);
  Journal* journal = j.get();

  // Hold the completer (the thread that runs the answers) inside the first
  // callback, so the rest wait: committed and waiting for it, or queued.
  Gate gate;
  journal->commit_delete_async("first", [&](Status, uint64_t) { gate.enter_and_wait(); });
  ASSERT_TRUE(gate.wait_entered());
  const size_t n = 20;
  Outcomes queued(n);
  for (size_t i = 0; i < n; ++i) {
    std::string name = "q" + std::to_string(i);
    journal->commit_put_async(name, body_of(*journal, random_body(i % 2 ? 2 * kSmallInline : 50, i)),
                              queued.callback(i));
  }

  std::thread destroyer([&] { j.reset(); });
  ClosingProbes probes = probe_until_refused(*journal);
  EXPECT_EQ(probes.refused.code, Status::Code::kClosed) << "no commit was refused while closing";
  gate.release();
  destroyer.join();

  expect_answered_and_durable(options_for(dir), queued.snapshot(), probes, {});
}

// As above, but the committer itself is held, inside its first batch (in
// the bodies directory's fsync), so that the commits queued meanwhile and
// the probes accepted while closing begins are still in the committer's
// queue, not yet taken: closing must commit them, not drop them.
TEST(AsyncCommit, DestroyingTheJournalCommitsWhatTheCommitterHadNotTakenYet) {
  TempDir dir;
  Options o = options_for(dir);
  Gate gate;
  std::atomic<bool> hold{false};
  o.sync_dir = [&](const std::string& path) {
    if (hold.exchange(false)) gate.enter_and_wait();
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = ::fsync(fd);
    ::close(fd);
    return r;
  };
  auto j = open_journal(o);
  ASSERT_TRUE(j);
  Journal* journal = j.get();

  hold = true;
  Outcomes first(1);
  journal->commit_put_async("first", body_of(*journal, random_body(2 * kSmallInline, 1)), first.callback(0));
  ASSERT_TRUE(gate.wait_entered()) << "the committer never reached the bodies directory's fsync";
  const size_t n = 20;
  Outcomes queued(n);
  for (size_t i = 0; i < n; ++i) {
    std::string name = "q" + std::to_string(i);
    journal->commit_put_async(name, body_of(*journal, random_body(i % 2 ? 2 * kSmallInline : 50, i + 2)),
                              queued.callback(i));
  }

  std::thread destroyer([&] { j.reset(); });
  ClosingProbes probes = probe_until_refused(*journal);
  EXPECT_EQ(probes.refused.code, Status::Code::kClosed) << "no commit was refused while closing";
  // Nothing queued behind the held batch can have been answered yet.
  for (const auto& outcome : queued.snapshot()) EXPECT_EQ(outcome.calls, 0);
  gate.release();
  destroyer.join();

  EXPECT_EQ(first.snapshot()[0].calls, 1);
  EXPECT_TRUE(first.snapshot()[0].status.ok());
  expect_answered_and_durable(options_for(dir), queued.snapshot(), probes, {{"first", first.snapshot()[0].seq}});
}

}  // namespace
}  // namespace fsr::journal
