// The applier: sends every acknowledged record to the primary backend, per
// name in sequence order, and records what the volume holds.
//
// - Only the latest state of a name is ever sent: an older pending record is
//   moot once a newer one of the same name is durable (coalescing). A DELETE
//   of a name the volume is known not to hold is moot too.
// - At most one backend operation per name at a time (NameGuard), and at
//   most the backend cap in flight (BackendPool permits); `workers` threads
//   keep the primary's slots full.
// - One worker per name: a name is in flight from when a worker takes it
//   until that worker is done with it; an enqueue meanwhile marks it dirty,
//   and the same worker queues it again when done.
// - What is sent is the name's latest state read once the NameGuard ticket
//   is held (no other operation on the name can start then): a worker that
//   stalled since it looked the name up never sends an older state. A DELETE
//   is moot only when checked under that ticket too.
// - A record is marked applied only on the backend's success (201 for PUT,
//   200 for DELETE), and only once the journal has written the mark (else the
//   record is sent again after a backoff). 429, 5XX and connection errors are
//   retried with backoff and jitter; a request whose outcome is unknown is
//   retried with a longer timeout once the NameGuard allows, so a backend
//   slower than the timeout still converges. A name the NameGuard refuses is
//   looked at again within kGuardRecheck at the latest, never parked for good.
//   The schedule is recovery/retry_schedule.h.
// - Backoffs and deadlines are timed on the Clock given at construction.
// - start() replays every pending record found in the journal (after a router
//   restart, including those in flight when it died).
// - A PUT or DELETE (barrier included) whose outcome is unknown makes the name
//   suspect on that backend (journal.h): recovery/repairer.h reads it back.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "journal/journal.h"
#include "router/upstream/backend_call.h"
#include "router/upstream/backend_pool.h"
#include "router/upstream/name_guard.h"

namespace fsr::recovery {

// One request the applier sends to a backend.
struct ApplyRequest {
  // kReadBack: a GET whose 200 body goes to `sink` (recovery/repairer.h).
  enum class Kind { kPut, kDelete, kBarrierGet, kReadBack };
  Kind kind = Kind::kPut;
  std::string name;
  uint64_t size = 0;                         // kPut: the body's size
  const router::BodySource* body = nullptr;  // kPut: the body
  const router::BodySink* sink = nullptr;    // kReadBack: receives the body
  std::chrono::milliseconds timeout{0};
};
// Sends a request over the lease and releases, discards or abandons the lease
// by the outcome, as router::backend_put/backend_delete/backend_get do.
using ApplySender = std::function<router::BackendResult(router::BackendLease lease, const ApplyRequest& request)>;
// The real sender: the backend calls of router/upstream/backend_call.h.
router::BackendResult send_to_backend(router::BackendLease lease, const ApplyRequest& request);
// An operation on name (latest seq `seq`) was given up on at backend and may
// still land: records the name as suspect there (journal.h), logged.
void mark_suspect(journal::Journal& journal, const std::string& name, uint64_t seq, const router::Backend& backend);

struct ApplierOptions {
  int workers = 10;
  std::chrono::milliseconds timeout{5000};       // first attempt's backend timeout
  std::chrono::milliseconds timeout_max{60000};  // doubled per failed attempt, up to this
  // Test seam for what the backend answers; empty: the backend calls
  // (router/upstream/backend_call.h).
  ApplySender send;
};

// What the applier did since the router started; retries by why the attempt
// failed (recovery/retry_schedule.h).
struct ApplierCounters {
  std::atomic<uint64_t> applied{0};         // records the primary answered success for
  std::atomic<uint64_t> moot{0};            // DELETEs of a name the volume is known not to hold
  std::atomic<uint64_t> retry_429{0};       // the backend was full
  std::atomic<uint64_t> retry_status{0};    // any other answer than success (5XX, 4XX...)
  std::atomic<uint64_t> retry_not_sent{0};  // refused connection: never reached the backend
  std::atomic<uint64_t> retry_unknown{0};   // timed out or cut: may still land
  std::atomic<uint64_t> retry_mark{0};      // applied, but the journal could not write the mark
};

class Applier {
 public:
  using Clock = std::chrono::steady_clock;
  Applier(journal::Journal& journal, router::BackendPool& pool, router::NameGuard& guard, ApplierOptions options,
          fsr::Clock& clock = fsr::real_clock());
  ~Applier();

  void start();  // queues every pending record, then starts the workers
  void stop();   // lets in-flight requests finish, then joins the workers
  void enqueue(const std::string& name);

  // Waits until `name` is applied at or past `seq` (for --ack backend).
  bool wait_applied(const std::string& name, uint64_t seq, Clock::time_point deadline);
  size_t queued();
  const ApplierCounters& counters() const { return counters_; }

 private:
  void worker_loop();
  // Returns when to look at the name again, or nullopt when it is done.
  std::optional<Clock::time_point> apply_one(const std::string& name);
  router::BackendResult send(router::BackendLease lease, const ApplyRequest& request);
  // Writes the applied mark; false (logged) when the journal could not.
  bool mark_applied(const std::string& name, uint64_t seq);
  Clock::time_point retry_mark(const std::string& name);
  void notify_applied();

  journal::Journal& journal_;
  router::BackendPool& pool_;
  router::NameGuard& guard_;
  ApplierOptions options_;
  fsr::Clock& clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> ready_;
  std::multimap<Clock::time_point, std::string> delayed_;
  std::unordered_set<std::string> queued_;     // in ready_ or delayed_
  std::unordered_set<std::string> in_flight_;  // taken by a worker (never also queued)
  std::unordered_set<std::string> dirty_;      // enqueued while in flight
  std::unordered_map<std::string, int> attempts_;
  std::unordered_set<std::string> known_absent_;  // names the volume does not hold (in memory only)
  bool stopping_ = false;
  std::vector<std::thread> workers_;

  ApplierCounters counters_;
  std::mutex applied_mu_;
  std::condition_variable applied_cv_;
};

}  // namespace fsr::recovery
