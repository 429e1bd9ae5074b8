// Per-name exclusion of backend operations (design invariant 5).
//
// At most one backend operation on a name runs at a time, across all
// backends: a write never overlaps a read of the same name, and no operation
// goes to a backend that may still be running an earlier one on that name in
// a way that can wedge it. On one backend process, a DELETE takes the
// process-wide lock before the name, while a PUT or a (first) GET takes the
// name first and the lock under it: an operation of one kind beside an
// operation of the other kind on the same name deadlocks that process.
//
// An operation the router gave up on ("abandoned": timeout, cut connection,
// or left running by a previous router process) may still be running on its
// backend, and its kind is recorded:
// - after an abandoned PUT or GET there, no DELETE (refused, retry_at max);
//   a PUT or GET waits `settle` after an abandoned PUT, but goes at once
//   after an abandoned GET;
// - after an abandoned DELETE there, no PUT or GET (refused, retry_at max);
//   another DELETE goes once `settle` has passed (two DELETEs queue on the
//   lock, never a wedge);
// - an operation of unknown kind (abandoned_before_start: a previous router
//   process may have left it running) counts as both: no PUT or GET; a DELETE
//   after `settle`. After restarted(), every DELETE of any name waits `settle`
//   too: the previous process may have left a PUT or first GET of a name no
//   pending record names. Requests of a dead router have lost their connections, so
//   its PUTs and GETs end on their own once they run; its DELETEs do not,
//   and only a DELETE is safe beside them.
// barrier_for() names the operation to send first on a backend so that a
// refused one may follow there (the applier's barrier; it must not be a
// client read: it is sent only to order). So when a name's latest state is a
// PUT and the primary holds an abandoned DELETE (or unknown) of it, the
// applier sends a DELETE there after the settle time, then the PUT; it does
// not send the PUT to another backend: only the primary takes writes, and the
// abandoned DELETE may land on the shared volume late wherever the PUT goes.
// Meanwhile the pending name is served from the journal.
//
// An operation ends with what the backend said (guard_outcome):
// - kDone: it went through the backend's per-name exclusion (any answer but
//   a 429). If it was sent at least `settle` after an abandoned operation on
//   that backend that it may follow (a PUT/GET after a PUT/GET; a DELETE after
//   a DELETE or unknown), that one is over: the backend ordered the two.
// - kRefused: a 429 (answered at admission, before any exclusion) or never
//   sent: it proves and changes nothing, like cancel().
// - kUnknown: abandoned, as above.
// A backend that restarted forgets everything, so its abandoned operations
// are cleared.
//
// Uncertain: a name with an abandoned PUT, DELETE or unknown operation on a
// backend (it may still change the volume). An abandoned GET changes nothing
// on the volume: it only keeps a DELETE off its backend, and never makes a
// name uncertain, so it holds up no write and no watermark.
//
// Time only avoids wedges here (`settle` is a bound on how late a backend
// starts a request it admitted, which a starved backend may exceed); the
// volume's integrity rests on the journal's sequence numbers and read-back.
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
#include "router/upstream/backend_call.h"

namespace fsr::router {

enum class GuardOp { kRead, kPut, kDelete };

// What an operation's result says about its place in the backend's order.
enum class GuardOutcome {
  kDone,     // answered after the backend's per-name exclusion
  kRefused,  // 429 at admission, or never sent: nothing happened
  kUnknown,  // may still be running there
};
GuardOutcome guard_outcome(const BackendResult& result);

class NameGuard {
 public:
  using Clock = std::chrono::steady_clock;
  // sent_at and the settle time are read from `clock` (tests pass a ManualClock).
  explicit NameGuard(std::chrono::milliseconds settle, fsr::Clock& clock = fsr::real_clock())
      : settle_(settle), clock_(clock) {}

  struct Ticket {
    std::string name;
    int backend = -1;
    GuardOp op = GuardOp::kRead;
    Clock::time_point sent_at;
  };

  // Starts an operation now if allowed. Otherwise returns nullopt and sets
  // *retry_at to when it may be allowed (a guess when another op runs;
  // time_point::max when only barrier_for's operation can unblock it).
  std::optional<Ticket> try_begin(const std::string& name, int backend, GuardOp op, Clock::time_point* retry_at);
  // Blocking variant for reads: waits up to the deadline.
  std::optional<Ticket> begin(const std::string& name, int backend, GuardOp op, Clock::time_point deadline);
  void end(const Ticket& ticket, GuardOutcome outcome);
  // The operation was never sent (no backend slot): as if it never began.
  void cancel(const Ticket& ticket);

  // The operation to send on `backend` before `op` can go there: nullopt when
  // nothing abandoned there forbids `op` (it may still wait out the settle
  // time); kRead after an abandoned PUT or GET when `op` is a DELETE; kDelete
  // after an abandoned DELETE or unknown operation when `op` is a PUT or GET.
  std::optional<GuardOp> barrier_for(const std::string& name, int backend, GuardOp op);
  // The operation that, answered, ends the name's uncertainty on `backend`
  // (a former primary): kDelete after an abandoned DELETE or unknown
  // operation there, otherwise kRead.
  GuardOp drain_op(const std::string& name, int backend);

  // The ticket's operation goes to the backend now (after the wait for a
  // backend slot): the settle time of an abandoned operation counts from
  // when it was really sent, not from try_begin.
  void sending(Ticket& ticket);

  // After a router restart: a previous process may have left an operation of
  // unknown kind on `name` running on `backend` (call it for every pending
  // name and every backend before anything is sent).
  void abandoned_before_start(const std::string& name, int backend);
  // After a router restart: the previous process may also have left a PUT or
  // a first GET of any other name running (a client's read, an applied
  // record's abandoned attempt), which no record names. No DELETE goes
  // anywhere until `settle` from now, so none lands beside one of them.
  void restarted();

  bool uncertain_on(const std::string& name, int backend);
  bool uncertain_anywhere(const std::string& name);
  void backend_restarted(int backend);
  // How many times backend_restarted(backend) was called: a change proves
  // that the process which held every older request there has ended.
  uint64_t restarts(int backend);
  size_t uncertain_count();

 private:
  struct Abandoned {
    int backend;
    std::optional<GuardOp> op;  // nullopt: unknown (left by a previous process)
    Clock::time_point sent_at;
  };
  struct State {
    bool busy = false;
    std::vector<Abandoned> abandoned;
  };
  std::chrono::milliseconds settle_;
  fsr::Clock& clock_;
  Clock::time_point deletes_not_before_{};  // restarted(): every DELETE waits until then
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, State> names_;
  std::unordered_map<int, uint64_t> restarts_;
};

}  // namespace fsr::router
