// Read-through from the backends (design invariant 4): a backend that answers
// 429 is left to rest while another eligible one serves the read; reads
// waiting for a backend slot hold no thread and keep their deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/stack.h"

namespace fsr::test {
namespace {

// Holds every slot of one backend with uploads whose bodies never finish,
// so it answers everything else with 429 at admission. A few more uploads
// than slots: a probe or a test request may hold a slot for a moment, and
// an upload refused then just waits for its release.
class SlotHog {
 public:
  SlotHog(const Stack& stack, int backend, int uploads) {
    for (int i = 0; i < uploads; ++i)
      threads_.emplace_back([this, &stack, backend, i] {
        httplib::Client c("127.0.0.1", stack.backend_port(backend));
        c.set_write_timeout(60, 0);
        c.Put(api("hog-" + std::to_string(i)).c_str(), 1 << 20,
              [this](size_t, size_t, httplib::DataSink&) {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [this] { return released_; });
                return false;  // cut the upload: the backend frees the slot
              },
              "application/octet-stream");
      });
  }
  ~SlotHog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<std::thread> threads_;
};

// Rejections of backend i the router has counted (its probes' included).
int64_t rejected_429(const Stack& stack, int i) { return stack.status()["backends"][i]["rejected_429"].get<int64_t>(); }

TEST(RouterReadRetry, ABackendThatAnswers429RestsWhileAnotherEligibleOneServesTheRead) {
  Stack stack("read-retry");
  stack.start_backends(2, 200);
  // Backend 1 is the primary; backend 0, a replica, comes first in the pool.
  stack.start_router({"--primary", "127.0.0.1:" + std::to_string(stack.backend_port(1)), "--probe-interval-ms", "1000",
                      "--marker-interval-ms", "100", "--read-wait-ms", "3000", "--body-cache-mb", "0"});
  write_file(stack.data_dir() + "/outside", "written beside the router");  // a name the router never wrote
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = stack.status();
        return s.is_object() && s["backends"][0]["confirmed"].get<bool>();
      },
      std::chrono::seconds(20)))
      << stack.logs();

  const int slots = 10, extra = 3;
  SlotHog hog(stack, 0, slots + extra);
  // Once the extra uploads are refused, the others hold every slot.
  ASSERT_TRUE(wait_until([&] { return stack.backend_429_count() >= extra; }, std::chrono::seconds(20)));
  auto refused = httplib::Client("127.0.0.1", stack.backend_port(0)).Get(api("outside").c_str());
  ASSERT_TRUE(refused);
  ASSERT_EQ(refused->status, 429);
  // The applier keeps the primary busier than the refusing replica, so the
  // least-loaded choice keeps falling on the replica.
  for (int i = 0; i < 8; ++i) ASSERT_GT(stack.put("busy-" + std::to_string(i), "x"), 0u) << stack.last_error();
  int64_t refused_before = rejected_429(stack, 0);

  auto r = stack.client()->Get(api("outside").c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << stack.logs();
  EXPECT_EQ(r->body, "written beside the router");
  EXPECT_LE(rejected_429(stack, 0) - refused_before, 4) << "the refusing replica is not tried in a loop";
}

}  // namespace
}  // namespace fsr::test

namespace fsr::test {
namespace {

// A gauge of the router's /metrics (unlabelled), or -1 when absent.
double gauge(const Stack& stack, const std::string& name) {
  httplib::Client c("127.0.0.1", stack.router_admin_port());
  auto r = c.Get("/metrics");
  if (!r || r->status != 200) return -1;
  std::istringstream lines(r->body);
  std::string line;
  while (std::getline(lines, line))
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  return -1;
}

// Reads waiting for a backend slot wait in the backend's line, not on a
// thread: with four threads for blocking work (--threads 4) and two slots,
// two dozen reads through wait at once, and a request that needs one of those
// thread (a digest of a cached body) is answered while they still wait.
// When each waiting read held a thread, the digest waited for every read
// queued before it.
TEST(RouterReadWait, ReadsWaitingForABackendSlotHoldNoThreadOfTheBlockingPool) {
  Stack stack("read-wait");
  stack.start_backends(1, 500);
  stack.start_router({"--backend-cap", "2", "--threads", "4", "--read-wait-ms", "60000"});
  const int reads = 24;
  for (int i = 0; i < reads; ++i)
    write_file(stack.data_dir() + "/outside-" + std::to_string(i), "body " + std::to_string(i));
  ASSERT_GT(stack.put("cached", "in the journal"), 0u) << stack.last_error();

  std::atomic<int> done{0};
  std::vector<int> status(reads, 0);
  std::vector<std::string> body(reads);
  std::vector<std::thread> readers;
  for (int i = 0; i < reads; ++i)
    readers.emplace_back([&, i] {
      auto r = stack.client(120)->Get(api("outside-" + std::to_string(i)).c_str());
      if (r) {
        status[i] = r->status;
        body[i] = r->body;
      }
      ++done;
    });
  // Every read has arrived (running, waiting or done); with two slots and
  // 500 ms each, a dozen take three seconds.
  ASSERT_TRUE(wait_until([&] { return gauge(stack, "fsrouter_reads_through_in_progress") + done.load() >= reads; },
                         std::chrono::seconds(20)))
      << "the reads are under way: " << gauge(stack, "fsrouter_reads_through_in_progress");
  int waiting = 0;
  {
    httplib::Client c("127.0.0.1", stack.router_admin_port());
    auto m = c.Get("/metrics");
    ASSERT_TRUE(m);
    std::smatch match;
    std::regex line(R"(fsrouter_backend_waiting\{[^}]*\} (\d+))");
    if (std::regex_search(m->body, match, line)) waiting = std::stoi(match[1]);
  }
  EXPECT_GT(waiting, 0) << "they wait in the backend's line";

  auto digest = stack.client()->Get(api("cached").c_str(), {{"Want-Repr-Digest", "sha-256=1"}});
  int finished_when_answered = done.load();
  ASSERT_TRUE(digest);
  EXPECT_EQ(digest->status, 200);
  EXPECT_TRUE(digest->has_header("Repr-Digest"));
  EXPECT_LT(finished_when_answered, reads / 2)
      << "the digest waited for the reads queued before it: each held a blocking thread";

  for (auto& t : readers) t.join();
  for (int i = 0; i < reads; ++i) {
    EXPECT_EQ(status[i], 200) << i << "\n" << stack.logs();
    EXPECT_EQ(body[i], "body " + std::to_string(i));
  }
  EXPECT_TRUE(wait_until([&] { return gauge(stack, "fsrouter_reads_through_in_progress") == 0; },
                         std::chrono::seconds(10)))
      << "every read ended";
}

// A read waiting in a backend's line still ends at --read-wait-ms, counted
// from its start, with 503 and Retry-After, while the slots stay taken by
// slower reads; those are answered in full.
TEST(RouterReadWait, AReadWaitingForASlotGets503AtItsDeadline) {
  Stack stack("read-wait-deadline");
  stack.start_backends(1, 1500);
  stack.start_router({"--backend-cap", "2", "--read-wait-ms", "400", "--probe-interval-ms", "60000",
                      "--backend-timeout-ms", "10000"});
  const int reads = 4;
  for (int i = 0; i < reads; ++i)
    write_file(stack.data_dir() + "/slow-" + std::to_string(i), "slow " + std::to_string(i));
  std::mutex mu;
  std::vector<std::pair<int, std::string>> answers;  // in the order they came
  std::vector<std::thread> readers;
  for (int i = 0; i < reads; ++i)
    readers.emplace_back([&, i] {
      auto r = stack.client(60)->Get(api("slow-" + std::to_string(i)).c_str());
      std::lock_guard<std::mutex> lock(mu);
      answers.emplace_back(r ? r->status : -1, r ? r->body + "|" + r->get_header_value("Retry-After") : "");
    });
  for (auto& t : readers) t.join();
  ASSERT_EQ(answers.size(), static_cast<size_t>(reads));
  int unavailable = 0;
  bool served = false;
  for (const auto& [code, text] : answers) {
    if (code == 503) {
      ++unavailable;
      EXPECT_FALSE(served) << "a 503 came after a read the backend served: it waited past its deadline";
      EXPECT_NE(text.find("|1"), std::string::npos) << "Retry-After: 1";
    } else {
      EXPECT_EQ(code, 200) << stack.logs();
      served = true;
    }
  }
  EXPECT_GE(unavailable, reads - 2) << "two slots: the others waited for one";
  EXPECT_NE(read_file(stack.router().log_path()).find("read_unavailable"), std::string::npos);
}

}  // namespace
}  // namespace fsr::test
