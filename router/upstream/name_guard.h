// Per-name exclusion of backend operations (design invariant 5).
//
// At most one backend operation on a name runs at a time, across all
// backends: a write never overlaps a read of the same name, and no operation
// goes to a backend that may still be running an earlier one on that name
// (a DELETE beside a PUT or a first GET of the same name wedges the backend).
//
// An operation the router gave up on ("abandoned": timeout, cut connection)
// may still be running on its backend. Until a later operation on the same
// name and backend is answered, and that later one was sent at least
// `settle` after the abandoned one (so the backend's own per-name exclusion
// orders the two), the name stays "uncertain" on that backend:
// - only a PUT or a GET may be sent there (never a DELETE, which could wedge
//   against an abandoned PUT or first GET);
// - it is sent no earlier than `settle` after the abandoned one.
// A backend that restarted forgets everything, so its uncertainty is cleared.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"

namespace fsr::router {

enum class GuardOp { kRead, kPut, kDelete };

class NameGuard {
 public:
  using Clock = std::chrono::steady_clock;
  // sent_at and the settle time are read from `clock` (tests pass a ManualClock).
  explicit NameGuard(std::chrono::milliseconds settle, fsr::Clock& clock = fsr::real_clock())
      : settle_(settle), clock_(clock) {}

  struct Ticket {
    std::string name;
    int backend = -1;
    Clock::time_point sent_at;
  };

  // Starts an operation now if allowed. Otherwise returns nullopt and sets
  // *retry_at to when it may be allowed (a guess when another op runs).
  std::optional<Ticket> try_begin(const std::string& name, int backend, GuardOp op, Clock::time_point* retry_at);
  // Blocking variant for reads: waits up to the deadline.
  std::optional<Ticket> begin(const std::string& name, int backend, GuardOp op, Clock::time_point deadline);
  // answered: the backend answered this op. Otherwise the op is abandoned.
  void end(const Ticket& ticket, bool answered);
  // The operation was never sent (no backend slot): as if it never began.
  void cancel(const Ticket& ticket);

  bool uncertain_on(const std::string& name, int backend);
  bool uncertain_anywhere(const std::string& name);
  void backend_restarted(int backend);
  size_t uncertain_count();

 private:
  struct State {
    bool busy = false;
    std::vector<std::pair<int, Clock::time_point>> abandoned;  // (backend, sent_at)
  };
  std::chrono::milliseconds settle_;
  fsr::Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, State> names_;
};

}  // namespace fsr::router
