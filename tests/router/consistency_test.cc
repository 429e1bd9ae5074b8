// Read-your-writes and per-name order under concurrency (design invariants
// 2, 3 and 5), and backend limits under load past capacity (invariant 4).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "tests/support/stack.h"

namespace fsr::test {
namespace {

using Clock = std::chrono::steady_clock;

TEST(RouterConsistency, ChallengeSequenceOnAThousandNamesConcurrently) {
  Stack stack("consistency");
  stack.start_backends(1, 10);
  stack.start_router();
  std::atomic<int> failures{0};
  run_threads(100, [&](int t) {
    auto c = stack.client();
    for (int k = 0; k < 10; ++k) {
      std::string name = "seq-" + std::to_string(t) + "-" + std::to_string(k);
      std::string body = random_body(100 + (t * 37 + k) % 3000, t * 100 + k);
      auto put = c->Put(api(name).c_str(), body, "application/octet-stream");
      auto get = c->Get(api(name).c_str());
      auto del = c->Delete(api(name).c_str());
      auto gone = c->Get(api(name).c_str());
      bool ok = put && put->status == 201 && get && get->status == 200 && get->body == body && del &&
                del->status == 200 && gone && gone->status == 404;
      if (!ok) failures++;
    }
  });
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(60)));
  EXPECT_TRUE(read_data_dir(stack.data_dir()).empty());
}

struct WriteEvent {
  Clock::time_point start, end;
  uint64_t seq = 0;
  bool is_put = false;
  std::string body;
};
struct ReadEvent {
  Clock::time_point start, end;
  int status = 0;
  std::string body;
};

TEST(RouterConsistency, FiftyWritersRacingOnOneNameNeverReadStaleOrFuture) {
  Stack stack("race");
  stack.start_backends(1, 10);
  stack.start_router();
  const std::string name = "contended";
  std::mutex mu;
  std::vector<WriteEvent> writes;
  std::vector<ReadEvent> reads;
  std::atomic<int> errors{0};
  run_threads(50, [&](int t) {
    auto c = stack.client();
    std::mt19937 rng(t);
    for (int k = 0; k < 12; ++k) {
      int dice = rng() % 10;
      auto start = Clock::now();
      if (dice < 4) {
        std::string body = "writer " + std::to_string(t) + " op " + std::to_string(k) + " " +
                           random_body(rng() % 2000, t * 1000 + k);
        auto r = c->Put(api(name).c_str(), body, "application/octet-stream");
        if (!r || r->status != 201) {
          errors++;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        writes.push_back({start, Clock::now(), seq_of(r), true, body});
      } else if (dice < 6) {
        auto r = c->Delete(api(name).c_str());
        if (!r || r->status != 200) {
          errors++;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        writes.push_back({start, Clock::now(), seq_of(r), false, ""});
      } else {
        auto r = c->Get(api(name).c_str());
        if (!r || (r->status != 200 && r->status != 404)) {
          errors++;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        reads.push_back({start, Clock::now(), r->status, r->body});
      }
    }
  });
  ASSERT_EQ(errors.load(), 0);
  ASSERT_GT(reads.size(), 100u);
  ASSERT_GT(writes.size(), 100u);
  int invalid = 0;
  for (const auto& g : reads) {
    uint64_t floor = 0;  // the highest seq acknowledged before this read began
    for (const auto& w : writes)
      if (w.end < g.start) floor = std::max(floor, w.seq);
    bool explained = floor == 0 && g.status == 404;
    for (const auto& w : writes) {
      if (w.seq < floor || w.start > g.end) continue;  // stale, or from the future
      if (g.status == 404 && !w.is_put) explained = true;
      if (g.status == 200 && w.is_put && w.body == g.body) explained = true;
    }
    if (!explained) ++invalid;
  }
  EXPECT_EQ(invalid, 0) << "reads that no acknowledged or in-flight write explains";

  const WriteEvent* last = &writes[0];
  for (const auto& w : writes)
    if (w.seq > last->seq) last = &w;
  auto c = stack.client();
  auto final_read = c->Get(api(name).c_str());
  ASSERT_TRUE(final_read);
  EXPECT_EQ(final_read->status, last->is_put ? 200 : 404);
  if (last->is_put) {
    EXPECT_TRUE(final_read->body == last->body);
  }
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(60)));
  EXPECT_EQ(file_exists(stack.data_dir() + "/" + name), last->is_put);
  if (last->is_put) {
    EXPECT_TRUE(read_file(stack.data_dir() + "/" + name) == last->body);
  }
}

// A model of what clients were told: per name, the acknowledged write with
// the highest sequence.
class AckedModel {
 public:
  void record(const std::string& name, uint64_t seq, bool present, const std::string& body) {
    std::lock_guard<std::mutex> lock(mu_);
    Acked& a = names_[name];
    if (seq > a.seq) a = Acked{seq, present, body};
  }
  std::map<std::string, Acked> snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return names_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Acked> names_;
};

TEST(RouterLoad, PastBackendCapacityNo429AnywhereAndVolumeEndsExact) {
  Stack stack("load");
  stack.start_backends(1, 30);
  stack.start_router();
  AckedModel model;
  std::atomic<int> bad_status{0}, ops{0};
  auto started = Clock::now();
  run_threads(200, [&](int t) {
    auto c = stack.client();
    std::mt19937 rng(t);
    for (int k = 0; k < 30; ++k) {
      std::string name = "load-" + std::to_string(rng() % 400);
      int dice = rng() % 10;
      ops++;
      if (dice < 4) {
        std::string body = random_body(50 + rng() % 4000, t * 10000 + k);
        auto r = c->Put(api(name).c_str(), body, "application/octet-stream");
        if (!r || r->status != 201) bad_status++;
        else model.record(name, seq_of(r), true, body);
      } else if (dice < 5) {
        auto r = c->Delete(api(name).c_str());
        if (!r || r->status != 200) bad_status++;
        else model.record(name, seq_of(r), false, "");
      } else {
        auto r = c->Get(api(name).c_str());
        if (!r || (r->status != 200 && r->status != 404)) bad_status++;
      }
    }
  });
  auto seconds = std::chrono::duration<double>(Clock::now() - started).count();
  EXPECT_EQ(bad_status.load(), 0);
  // The offered rate must exceed what one backend can do (cap / latency).
  double backend_capacity = 10 / 0.030;
  std::cout << "load: " << ops.load() << " requests in " << seconds << " s (" << ops.load() / seconds
            << "/s) against a backend capacity of " << backend_capacity << "/s\n";
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(120)));
  EXPECT_EQ(stack.backend_429_count(), 0) << "the router exceeded the backend's cap";
  auto status = stack.status();
  EXPECT_EQ(status["backends"][0]["rejected_429"], 0);
  expect_volume_matches(stack.data_dir(), model.snapshot());
}

TEST(RouterLoad, BackendSlowerThanTheTimeoutNeverWedgesAndVolumeEndsExact) {
  Stack stack("abandon");
  stack.start_backends(1, 333);
  // Every first attempt times out and is abandoned while the backend still runs it.
  stack.start_router({"--backend-timeout-ms", "250", "--abandon-settle-ms", "700"});
  AckedModel model;
  std::atomic<int> bad_status{0};
  run_threads(20, [&](int t) {
    auto c = stack.client();
    std::mt19937 rng(t);
    for (int k = 0; k < 8; ++k) {
      std::string name = "slow-" + std::to_string(rng() % 12);
      if (rng() % 3 == 0) {
        auto r = c->Delete(api(name).c_str());
        if (!r || r->status != 200) bad_status++;
        else model.record(name, seq_of(r), false, "");
      } else {
        std::string body = random_body(100 + rng() % 1000, t * 100 + k);
        auto r = c->Put(api(name).c_str(), body, "application/octet-stream");
        if (!r || r->status != 201) bad_status++;
        else model.record(name, seq_of(r), true, body);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 200));
    }
  });
  EXPECT_EQ(bad_status.load(), 0);
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(180))) << stack.status().dump();
  EXPECT_GT(stack.status()["backends"][0]["abandoned"].get<int>(), 0) << "no request was abandoned: test is void";
  expect_volume_matches(stack.data_dir(), model.snapshot());
  // Not wedged: the backend still answers a request of its own.
  httplib::Client direct("127.0.0.1", stack.backend_port(0));
  direct.set_read_timeout(5, 0);
  auto r = direct.Get("/api/fileserver/wedge-probe");
  ASSERT_TRUE(r) << "the backend no longer answers: wedged";
  EXPECT_EQ(r->status, 404);
}

}  // namespace
}  // namespace fsr::test
