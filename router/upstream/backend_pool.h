// The backends behind the router, and the connections to them.
//
// Invariant (design brief, "Backend limits"): at most `cap` TCP connections
// open to one backend at any moment, idle keep-alive ones included, and at
// most `cap` requests the backend may still be working on. Both are enforced
// by one permit count per backend: a request holds a permit from before it
// connects until the backend answered; a request the router gave up on keeps
// its permit for `abandon_hold` longer, because the backend keeps working on
// it (and counting it) after the connection is gone; an answered request
// keeps it for `slot_grace`, since the backend counts it out only after the
// answer is sent. A connection is kept idle only when its lease is released
// answered, and a new one is opened only when none is idle, so leases out +
// idle connections never exceed the cap (an answered request's connection
// may sit idle while its slot_grace hold still counts the permit).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace fsr::router {

// The time type of the router's deadlines; the time itself comes from an
// fsr::Clock (common/clock.h).
using Clock = std::chrono::steady_clock;

enum class Role { kPrimary, kReplica };
const char* role_name(Role role);

class Backend;

// Health by progress. A backend that answers is not necessarily working: a
// wedged one answers every new request 429 at admission while its slots stay
// held by requests that never finish, and a saturated one holds every slot
// the router has without finishing any. A 429 orders and proves nothing.
// - Progress: an answer other than 429 (the request passed admission and
//   finished).
// - Stall evidence: a 429 while the router had fewer than the cap in flight
//   there (requests the router does not hold fill the backend: wedged), or
//   every one of the router's slots held (saturated).
// - Stalled: evidence first seen at least `bound` ago and no progress since.
//   The kind is that of the latest evidence. The router's own legitimate
//   load (all slots ours, answers arriving) is progress, so never a stall.
enum class Stall { kNone, kWedged, kSaturated };
const char* stall_name(Stall stall);  // "", "wedged" or "saturated"

class ProgressWatch {
 public:
  using time_point = fsr::Clock::time_point;
  // An answer with `status` while `in_flight` of `cap` slots were held, the
  // answered request's own included.
  void answered(time_point now, int status, int in_flight, int cap);
  // The slots held now.
  void occupancy(time_point now, int in_flight, int cap);
  // The stall that has lasted at least `bound` with no progress, or kNone.
  Stall stalled(time_point now, std::chrono::milliseconds bound) const;

 private:
  void evidence(time_point now, Stall kind);
  std::optional<time_point> stalled_since_;
  Stall kind_ = Stall::kNone;
};

// Exclusive use of one connection slot of one backend.
class BackendLease {
 public:
  BackendLease() = default;
  BackendLease(Backend* backend, std::unique_ptr<httplib::Client> client);
  BackendLease(BackendLease&& other) noexcept;
  BackendLease& operator=(BackendLease&& other) noexcept;
  ~BackendLease();

  explicit operator bool() const { return backend_ != nullptr; }
  Backend& backend() const { return *backend_; }
  httplib::Client& client() const { return *client_; }
  // The request's outcome is unknown: close the connection and keep the slot
  // counted for a while, since the backend may still be running it.
  void abandon();
  // Close the connection instead of keeping it (refused before anything was
  // sent, or answered with "Connection: close"): no abandon hold; the slot
  // is freed as an answered one's, after slot_grace.
  void discard();
  // Nothing was sent on it: the slot is free at once (no slot grace), the
  // connection is kept, and it does not count as a request.
  void unused();

 private:
  void release();
  Backend* backend_ = nullptr;
  std::unique_ptr<httplib::Client> client_;
};

struct BackendCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> rejected_429{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> abandoned{0};
};

class Backend {
 public:
  Backend(int id, std::string host, int port, int cap, std::chrono::milliseconds abandon_hold,
          std::chrono::milliseconds slot_grace = std::chrono::milliseconds(0),
          fsr::Clock& clock = fsr::real_clock());

  int id() const { return id_; }
  const std::string& address() const { return address_; }
  int cap() const { return cap_; }

  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // Slots go out first come, first served, through one line per backend:
  // a request that finds no free slot, or others already waiting, joins
  // the end of the line. The backend's one waiter thread (started with the
  // first request that has to wait) hands slots to the head of the line as
  // they free up (released, or a hold ended on the clock), and gives up on
  // a waiter whose deadline has passed.
  //
  // Waits in the line (blocking) until a slot is free or the deadline passes.
  std::optional<BackendLease> acquire(Clock::time_point deadline);
  // Without waiting: a lease when a slot is free and nobody is in the line.
  std::optional<BackendLease> try_acquire();
  // Waits in the line without a thread: `done` gets a lease, or
  // std::nullopt once the deadline has passed. Called exactly once: at once
  // on the calling thread when a slot is free and the line empty (or the
  // deadline already past), else on the waiter thread. `done` must not
  // block: it hands the work on. `since`: where in the line it stands, by
  // when it first asked (a read that left the line to look again at the
  // other backends keeps its place); by default now, the end of the line.
  using LeaseCallback = std::function<void(std::optional<BackendLease>)>;
  void acquire_async(Clock::time_point deadline, LeaseCallback done,
                     std::optional<Clock::time_point> since = std::nullopt);
  int async_waiters();  // requests waiting in the line, blocking ones included
  int load();  // in_flight() + async_waiters(), read at once
  int in_flight();  // slots in use, abandoned ones included
  int idle_connections();  // open connections kept for reuse

  BackendCounters& counters() { return counters_; }
  // An answer with this status arrived on one of its leases (backend_call),
  // before the lease is released.
  void note_answer(int status);
  // The stall that has lasted at least `bound` without progress
  // (ProgressWatch), or kNone.
  Stall stall(std::chrono::milliseconds bound);
  // Why the monitor last marked it unhealthy; "" while healthy.
  std::string down_reason();
  void set_down_reason(std::string reason);
  // Health as the monitor last saw it; unhealthy backends get no new work.
  std::atomic<bool> healthy{true};
  // Highest journal sequence this backend is known to reflect: the applied
  // watermark for the primary; for a replica, what it proved by reading the
  // marker back. 0: unconfirmed (never serves reads).
  std::atomic<uint64_t> watermark{0};
  // Proved to be on the router's volume (read a marker of this journal).
  std::atomic<bool> confirmed{false};
  // Bumped (by the monitor, under its role lock) each time it is marked
  // unhealthy or loses the primary role: a probe sent before a bump proves
  // nothing of it now.
  std::atomic<uint64_t> health_epoch{0};

 private:
  friend class BackendLease;
  // hold: keep the slot for abandon_hold; else for slot_grace, unless
  // grace is false (nothing was sent).
  void release(std::unique_ptr<httplib::Client> client, bool keep_connection, bool hold, bool grace = true);
  void purge_holds_locked(Clock::time_point now);
  std::unique_ptr<httplib::Client> new_client();
  // Counts a slot taken (in_use_ < cap_ checked by the caller) and returns
  // an idle connection for it, or nullptr; lease() makes the lease.
  std::unique_ptr<httplib::Client> take_slot_locked(Clock::time_point now);
  BackendLease lease(std::unique_ptr<httplib::Client> client);
  void serve_waiters();  // the waiter thread

  struct Waiter {
    Clock::time_point since;  // the line's order
    Clock::time_point deadline;
    LeaseCallback done;
  };

  int id_;
  std::string host_;
  int port_;
  std::string address_;
  int cap_;
  std::chrono::milliseconds abandon_hold_;
  std::chrono::milliseconds slot_grace_;
  fsr::Clock& clock_;
  std::mutex mu_;
  int in_use_ = 0;  // leases out + abandoned holds
  std::vector<Clock::time_point> holds_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;
  ProgressWatch progress_;  // under mu_
  std::deque<Waiter> waiters_;  // under mu_: the line, ordered by `since` (arrival order among equals)
  std::condition_variable waiters_cv_;  // wakes the waiter thread: a waiter came, a slot freed, stop
  std::thread waiter_thread_;  // started with the first waiter that has to wait
  bool stopping_ = false;  // under mu_
  std::string down_reason_;  // under mu_
  BackendCounters counters_;
};

class BackendPool {
 public:
  // addresses: "host:port" each. primary: one of them (empty: the first).
  static std::unique_ptr<BackendPool> create(const std::vector<std::string>& addresses, const std::string& primary,
                                             int cap, std::chrono::milliseconds abandon_hold,
                                             std::chrono::milliseconds slot_grace, std::string* error,
                                             fsr::Clock& clock = fsr::real_clock());
  Backend& primary();
  std::vector<Backend*> all();
  Role role_of(const Backend& b);
  void set_primary(int id) { primary_ = id; }
  // Whoever watches health hears of refused connections seen anywhere.
  void set_refused_handler(std::function<void(Backend&)> handler) { refused_handler_ = std::move(handler); }
  void report_refused(Backend& b) {
    if (refused_handler_) refused_handler_(b);
  }
  // A read on a replica got no answer in time: it may be hung.
  void set_hung_handler(std::function<void(Backend&)> handler) { hung_handler_ = std::move(handler); }
  void report_hung(Backend& b) {
    if (hung_handler_) hung_handler_(b);
  }
  int designated_primary() const { return designated_; }

 private:
  std::vector<std::unique_ptr<Backend>> backends_;
  std::atomic<int> primary_{0};
  int designated_ = 0;
  std::function<void(Backend&)> refused_handler_;
  std::function<void(Backend&)> hung_handler_;
};

}  // namespace fsr::router
