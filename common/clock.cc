#include "common/clock.h"

#include <algorithm>

namespace fsr {
namespace {

class SteadyClock : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  std::cv_status wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            time_point until) override {
    return cv.wait_until(lock, until);
  }
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
  uint64_t id;
  {
    // Registered while the caller still holds its mutex: advance() takes that
    // mutex before notifying, so it cannot slip between this check and the wait.
    std::lock_guard<std::mutex> guard(mu_);
    if (now_ >= until) return std::cv_status::timeout;
    id = next_id_++;
    waiters_.push_back({id, &cv, lock.mutex(), until});
  }
  waiters_cv_.notify_all();
  cv.wait(lock);
  {
    std::lock_guard<std::mutex> guard(mu_);
    std::erase_if(waiters_, [id](const Waiter& w) { return w.id == id; });
  }
  waiters_cv_.notify_all();
  return now() >= until ? std::cv_status::timeout : std::cv_status::no_timeout;
}

void ManualClock::advance(duration d) {
  std::vector<Waiter> woken;
  {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
    woken = waiters_;
  }
  for (const Waiter& w : woken) {
    { std::lock_guard<std::mutex> lock(*w.mutex); }
    w.cv->notify_all();
  }
  std::unique_lock<std::mutex> lock(mu_);
  waiters_cv_.wait(lock, [&] {
    return std::none_of(woken.begin(), woken.end(), [&](const Waiter& gone) {
      return std::any_of(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.id == gone.id; });
    });
  });
}

int ManualClock::waiters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(waiters_.size());
}

bool ManualClock::await_wake_by(time_point t, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return waiters_cv_.wait_for(lock, timeout, [&] {
    return std::any_of(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.until <= t; });
  });
}

bool ManualClock::await_waiters(int n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return waiters_cv_.wait_for(lock, timeout, [&] { return static_cast<int>(waiters_.size()) >= n; });
}

}  // namespace fsr
