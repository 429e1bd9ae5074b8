// The project's one clock: where timing logic reads the time and waits.
//
// - Time is std::chrono::steady_clock's time_point everywhere, so a piece
//   that takes a Clock hands out and accepts the same deadlines as before.
// - real_clock() is the steady clock; every constructor that takes a Clock
//   defaults to it, so production wiring names no clock at all.
// - ManualClock (tests) stands still until the test advances it. advance()
//   wakes every thread blocked in wait_until on it and returns once each has
//   woken, so a test drives deadlines, holds and backoffs without sleeping.
// - wait_until may return early (a notify, or spuriously), like
//   condition_variable::wait_until: callers re-check their condition and the
//   time in a loop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

namespace fsr {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  // Blocks on cv (lock held, as for cv.wait_until) until notified or until
  // the clock reaches `until`. Returns cv_status::timeout when it has.
  virtual std::cv_status wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                                    time_point until) = 0;
};

// The steady clock (one shared instance).
Clock& real_clock();

// A clock that moves only when told to. Starts at an arbitrary fixed point.
class ManualClock : public Clock {
 public:
  ManualClock();
  time_point now() const override;
  std::cv_status wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            time_point until) override;

  // Moves the time forward, wakes every thread waiting on this clock and
  // returns once each of them has woken (it may be waiting again by then).
  // Call it holding none of the waiters' mutexes.
  void advance(duration d);
  // Threads now blocked in wait_until.
  int waiters() const;
  // Waits, in real time up to `timeout`, until at least n threads are blocked
  // in wait_until; false if they never were. With advance(), a test knows a
  // worker has come back to its wait before it looks at what it did.
  bool await_waiters(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // Waits, in real time up to `timeout`, until some thread is blocked in
  // wait_until with a wake time at or before `t`; false if none ever was.
  // A test knows a worker saw a sooner deadline without advancing to it.
  bool await_wake_by(time_point t, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  struct Waiter {
    uint64_t id;
    std::condition_variable* cv;
    std::mutex* mutex;
    time_point until;
  };

  mutable std::mutex mu_;
  mutable std::condition_variable waiters_cv_;  // a waiter came or went
  time_point now_;
  std::vector<Waiter> waiters_;
  uint64_t next_id_ = 0;
};

}  // namespace fsr
