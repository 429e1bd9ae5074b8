// Crash recovery and durability (design invariants 1, 2 and 7): the router
// killed at random moments, stopped with SIGTERM, its backend down, its
// journal's disk full.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/support/stack.h"

namespace fsr::test {
namespace {

using Clock = std::chrono::steady_clock;

// What clients were told, plus writes whose answer never came (in flight when
// the router died): those may or may not have become durable, but never half.
class Model {
 public:
  void acked(const std::string& name, uint64_t seq, bool present, const std::string& body) {
    std::lock_guard<std::mutex> lock(mu_);
    Acked& a = names_[name];
    if (seq > a.seq) a = Acked{seq, present, body};
  }
  void unanswered(const std::string& name, bool present, const std::string& body) {
    std::lock_guard<std::mutex> lock(mu_);
    in_doubt_[name].insert(present ? "P" + body : "D");
  }
  // Checks a read against the model; an in-doubt write that shows up becomes
  // the acknowledged state from then on.
  bool check_and_settle(const std::string& name, int status, const std::string& body) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find(name);
    bool known = it != names_.end();
    bool matches_acked = known ? (it->second.present ? status == 200 && body == it->second.body : status == 404)
                               : status == 404;
    if (matches_acked) {
      in_doubt_.erase(name);
      return true;
    }
    auto doubt = in_doubt_.find(name);
    if (doubt == in_doubt_.end()) return false;
    std::string key = status == 200 ? "P" + body : "D";
    if (status != 200 && status != 404) return false;
    if (!doubt->second.count(key)) return false;
    Acked& a = names_[name];
    a.present = status == 200;
    a.body = status == 200 ? body : "";
    in_doubt_.erase(doubt);
    return true;
  }
  std::map<std::string, Acked> snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return names_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Acked> names_;
  std::map<std::string, std::set<std::string>> in_doubt_;
};

// Writers that run until told to stop, recording every answer in the model.
void write_until(Stack& stack, Model& model, std::atomic<bool>& stop, int threads, int names, unsigned seed) {
  run_threads(threads, [&](int t) {
    std::mt19937 rng(seed * 1000 + t);
    auto c = stack.client(5);
    int k = 0;
    while (!stop) {
      std::string name = "crash-" + std::to_string(rng() % names);
      bool put = rng() % 4 != 0;
      std::string body = put ? random_body(10 + rng() % (rng() % 8 == 0 ? 200000 : 3000), seed * 100000 + t * 1000 + k++) : "";
      auto r = put ? c->Put(api(name).c_str(), body, "application/octet-stream") : c->Delete(api(name).c_str());
      if (r && (r->status == 201 || r->status == 200)) model.acked(name, seq_of(r), put, body);
      else model.unanswered(name, put, body);
      if (!r) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
}

TEST(RouterRecovery, KilledAtRandomMomentsLosesNothingAcknowledged) {
  Stack stack("kill");
  stack.start_backends(1, 20);
  stack.start_router();
  Model model;
  std::mt19937 rng(42);
  const int rounds = 20, names = 60;
  for (int round = 0; round < rounds; ++round) {
    std::atomic<bool> stop{false};
    std::thread writers([&] { write_until(stack, model, stop, 16, names, round + 1); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 500));
    stack.stop_router(SIGKILL);
    stop = true;
    writers.join();
    stack.start_router();
    auto c = stack.client();
    int wrong = 0;
    for (int i = 0; i < names; ++i) {
      std::string name = "crash-" + std::to_string(i);
      auto r = c->Get(api(name).c_str());
      ASSERT_TRUE(r);
      if (!model.check_and_settle(name, r->status, r->body)) ++wrong;
    }
    ASSERT_EQ(wrong, 0) << "round " << round << ": reads that match neither the last acknowledged write nor "
                        << "a whole unanswered one";
  }
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(60)));
  expect_volume_matches(stack.data_dir(), model.snapshot());
}

TEST(RouterRecovery, SigtermFinishesAcceptedRequestsAndExitsZero) {
  Stack stack("sigterm");
  stack.start_backends(1, 20);
  stack.start_router();
  Model model;
  std::atomic<bool> stop{false};
  std::atomic<int> cut_mid_request{0}, refused{0}, answered{0};
  std::thread writers([&] {
    run_threads(32, [&](int t) {
      std::mt19937 rng(t);
      int k = 0;
      while (!stop) {
        // A new connection per request, so a reset can only come from a request the router accepted.
        httplib::Client c("127.0.0.1", stack.router_port());
        c.set_url_encode(false);
        c.set_keep_alive(false);
        std::string name = "term-" + std::to_string(rng() % 100);
        std::string body = random_body(100 + rng() % 100000, t * 100000 + k++);
        auto r = c.Put(api(name).c_str(), body, "application/octet-stream");
        if (r) {
          answered++;
          if (r->status == 201) model.acked(name, seq_of(r), true, body);
        } else if (r.error() == httplib::Error::Connection) {
          refused++;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } else {
          cut_mid_request++;
        }
      }
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  int status = stack.stop_router(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  writers.join();
  ASSERT_TRUE(WIFEXITED(status)) << "router did not exit on its own";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_GT(answered.load(), 50);
  EXPECT_EQ(cut_mid_request.load(), 0) << "clients saw a request cut after the router accepted it";
  EXPECT_NE(stack.router().read_log().find("event=stopped"), std::string::npos);
  stack.start_router();
  auto c = stack.client();
  int wrong = 0;
  for (const auto& [name, a] : model.snapshot()) {
    auto r = c->Get(api(name).c_str());
    if (!r || r->status != 200 || r->body != a.body) ++wrong;
  }
  EXPECT_EQ(wrong, 0);
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(60)));
  expect_volume_matches(stack.data_dir(), model.snapshot());
}

TEST(RouterRecovery, BackendDownWritesStillAcknowledgedAndBacklogDrainsOnReturn) {
  Stack stack("down");
  stack.start_backends(1, 10);
  stack.kill_backend(0);
  stack.start_router();
  Model model;
  auto c = stack.client();
  for (int i = 0; i < 60; ++i) {
    std::string name = "down-" + std::to_string(i % 40);
    if (i % 5 == 4) {
      auto r = c->Delete(api(name).c_str());
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200);
      model.acked(name, seq_of(r), false, "");
    } else {
      std::string body = random_body(100 + i * 50, i);
      auto r = c->Put(api(name).c_str(), body, "application/octet-stream");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 201);
      model.acked(name, seq_of(r), true, body);
    }
  }
  for (const auto& [name, a] : model.snapshot()) {
    auto r = c->Get(api(name).c_str());
    ASSERT_TRUE(r);
    EXPECT_TRUE(model.check_and_settle(name, r->status, r->body)) << name;
  }
  EXPECT_GT(stack.status()["pending_count"].get<int>(), 0);
  stack.start_backend(0);
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(60)));
  expect_volume_matches(stack.data_dir(), model.snapshot());
}

// The rolling scrub reads every name back and repairs what differs from the
// journal, whoever changed the volume (here: a restore from an old backup
// while the router was stopped). Its first pass starts with the router.
TEST(RouterRecovery, ScrubRepairsFilesTheVolumeLostOrChangedBehindTheRouter) {
  Stack stack("scrub");
  stack.start_backends(1, 10);
  stack.start_router();
  Model model;
  for (int i = 0; i < 6; ++i) {
    std::string name = "scrub-" + std::to_string(i), body = random_body(300 + i, 40 + i);
    uint64_t seq = stack.put(name, body);
    ASSERT_NE(seq, 0u) << stack.last_error();
    model.acked(name, seq, true, body);
  }
  uint64_t deleted = stack.del("scrub-5");
  ASSERT_NE(deleted, 0u);
  model.acked("scrub-5", deleted, false, "");
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(30)));
  stack.stop_router(SIGTERM);
  write_file(stack.data_dir() + "/scrub-0", "stale");
  std::filesystem::remove(stack.data_dir() + "/scrub-1");
  write_file(stack.data_dir() + "/scrub-5", "resurrected");

  stack.start_router({"--scrub-interval-ms", "10"});
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = stack.status();
        return s.is_object() && s["scrub"]["pass"].get<int>() >= 1;
      },
      std::chrono::seconds(30)))
      << stack.status().dump();
  auto scrub = stack.status()["scrub"];
  EXPECT_EQ(scrub["checked"], 6) << scrub.dump();
  EXPECT_EQ(scrub["mismatches"], 3) << scrub.dump();
  EXPECT_EQ(scrub["repaired"], 3) << scrub.dump() << stack.logs();
  expect_volume_matches(stack.data_dir(), model.snapshot());
}

TEST(RouterRecovery, JournalDiskFullAnswers507ThenRecoversWithoutRestart) {
  Stack stack("diskfull");
  std::string journal = stack.journal_dir();
  std::filesystem::create_directories(journal);
  if (::mount("tmpfs", journal.c_str(), "tmpfs", 0, "size=48m") != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs root); the journal's unit tests cover disk-full by "
                    "fault injection";
  struct Unmount {
    std::string dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{journal};
  stack.start_backends(1, 10);
  stack.start_router();
  auto c = stack.client();
  std::string ballast = journal + "/ballast";
  std::string first = random_body(100000, 1);
  ASSERT_EQ(c->Put(api("before").c_str(), first, "application/octet-stream")->status, 201);
  // Fill the disk: the ballast takes what is left.
  {
    FILE* f = std::fopen(ballast.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::string chunk(1 << 20, 'b');
    while (std::fwrite(chunk.data(), 1, chunk.size(), f) == chunk.size()) {
    }
    std::fclose(f);
  }
  int full = 0;
  for (int i = 0; i < 10 && full == 0; ++i) {
    auto r = c->Put(api("big-" + std::to_string(i)).c_str(), random_body(2 << 20, i), "application/octet-stream");
    ASSERT_TRUE(r);
    if (r->status == 507) full = 1;
    else ASSERT_EQ(r->status, 201);
  }
  ASSERT_EQ(full, 1) << "no 507 although the disk is full";
  auto r = c->Get(api("before").c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body == first);
  std::filesystem::remove(ballast);
  auto after = c->Put(api("after").c_str(), "space again", "application/octet-stream");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 201);
  EXPECT_EQ(c->Get(api("after").c_str())->body, "space again");
  stack.stop_router(SIGTERM);
}

}  // namespace
}  // namespace fsr::test
