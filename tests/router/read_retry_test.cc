// Read-through from the backends (design invariant 4): a backend that answers
// 429 is left to rest while another eligible one serves the read.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
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
