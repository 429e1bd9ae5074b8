#include "common/clock.h"

#include <algorithm>
#include <thread>

namespace fsr {
namespace {

class SteadyClock : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  std::cv_status wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            time_point until) override {
    return cv.wait_until(lock, until);
  }
  void sleep_until(time_point until) override { std::this_thread::sleep_until(until); }
};

}  // namespace

Clock& real_clock() {
  static SteadyClock clock;
  return clock;
}

ManualClock::ManualClock() : now_(time_point{} + std::chrono::hours(1)) {}

Clock::time_point ManualClock::now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

std::cv_status ManualClock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                                       time_point until) {
  {
    // Registered while the caller still holds its mutex: advance() takes that
    // mutex before notifying, so it cannot slip between this check and the wait.
    std::lock_guard<std::mutex> guard(mu_);
    if (now_ >= until) return std::cv_status::timeout;
    waiters_.push_back({&cv, lock.mutex()});
  }
  waiters_cv_.notify_all();
  cv.wait(lock);
  remove_waiter(&cv);
  return now() >= until ? std::cv_status::timeout : std::cv_status::no_timeout;
}

void ManualClock::remove_waiter(std::condition_variable* cv) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = std::find_if(waiters_.begin(), waiters_.end(), [cv](const Waiter& w) { return w.cv == cv; });
  if (it != waiters_.end()) waiters_.erase(it);
}

void ManualClock::sleep_until(time_point until) {
  std::unique_lock<std::mutex> lock(mu_);
  ++sleepers_;
  waiters_cv_.notify_all();
  sleep_cv_.wait(lock, [&] { return now_ >= until; });
  --sleepers_;
}

void ManualClock::advance(duration d) {
  std::vector<Waiter> waiters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
    waiters = waiters_;
  }
  sleep_cv_.notify_all();
  for (const Waiter& w : waiters) {
    { std::lock_guard<std::mutex> lock(*w.mutex); }
    w.cv->notify_all();
  }
}

int ManualClock::waiters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(waiters_.size()) + sleepers_;
}

bool ManualClock::await_waiters(int n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return waiters_cv_.wait_for(lock, timeout, [&] { return static_cast<int>(waiters_.size()) + sleepers_ >= n; });
}

}  // namespace fsr
