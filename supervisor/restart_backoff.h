// When to start the next child after one exits.
//
// A child that lived at least stable_after is a success: the next start is
// immediate and the streak of quick exits starts over. Each quick exit in a
// row waits longer: 0, min, 2*min, 4*min, ... capped at max. So a router that
// crashes once is back at once, and one that cannot start does not spin.
#pragma once

#include <chrono>

namespace fsr::supervisor {

class RestartBackoff {
 public:
  RestartBackoff(std::chrono::milliseconds min, std::chrono::milliseconds max,
                 std::chrono::milliseconds stable_after)
      : min_(min), max_(max), stable_after_(stable_after) {}

  // Records an exit after uptime; returns how long to wait before the next start.
  std::chrono::milliseconds after_exit(std::chrono::milliseconds uptime) {
    if (uptime >= stable_after_) quick_exits_ = 0;
    std::chrono::milliseconds delay{0};
    if (quick_exits_ > 0) {
      delay = min_;
      for (int i = 1; i < quick_exits_ && delay < max_; ++i) delay *= 2;
      if (delay > max_) delay = max_;
    }
    ++quick_exits_;
    return delay;
  }

  // Quick exits in a row so far (0 after a stable run).
  int quick_exits() const { return quick_exits_; }

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds stable_after_;
  int quick_exits_ = 0;
};

}  // namespace fsr::supervisor
