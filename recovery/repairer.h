// Detect and repair: the volume is read back and compared with the journal's
// latest state (size and XXH3-128, as the index keeps them), and a name that
// differs gets its latest state sent to the primary again. Time orders
// nothing here; read-back and repair are what make the volume converge.
//
// Suspect names (journal.h): an operation on the name was given up on at a
// backend (the applier's timeout or cut connection, or a previous router
// process that died with it running), so it may still land on the shared
// volume at any moment, after any newer state.
// - A suspect name is read back once its latest state is applied (never
//   while pending: the applier is on it), and repaired on a mismatch.
// - It stays suspect until its backend is known to have drained: a clean
//   read-back sent after that backend's process was seen gone (a refused
//   connection, NameGuard::restarts; the file server exposes no identity of
//   its process, so a restart between two probes goes unseen). A process
//   that ended runs nothing it was sent.
// - An answer from that backend to a later request on the name is NOT
//   relied on: the backend orders two requests on one name by polling with
//   random jitter, so the later one may overtake the abandoned one, which
//   then still runs, as late as a starved backend makes it. So until the
//   proof above, the name is read back again and again, with a backoff that
//   doubles from recheck_min to recheck_max, and its body stays pinned in the
//   journal. A backend no longer configured can never give that proof: its
//   suspects clear on their next clean read-back.
// - Budget: one thread and one backend slot for suspects, `scrub_slots`
//   threads (one slot each) for the scrub; a read-back goes to a confirmed
//   replica before the primary, and takes a primary slot only when one more
//   stays free for the applier.
// Rolling scrub: walks every name of the index in byte order, one name every
// scrub_interval per thread, and checks it the same way (pending and suspect
// names are left to the applier and the suspect checks); a mismatch whose
// repair cannot go at once (the name busy, the guard's rules) is taken again
// by the next step, for up to 30 s, before the walk goes on; a pass starts at
// most once a minute, so a small index is not read over and over.
// Every operation on a name goes through the NameGuard, as the applier's do.
// A tombstone is read back through the primary only: a replica that once read
// the name answers 200 with error text for a file another instance removed.
// One log line per repair: event=repair seq name backend found_size expected_size.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "journal/journal.h"
#include "recovery/applier.h"
#include "router/upstream/backend_pool.h"
#include "router/upstream/name_guard.h"

namespace fsr::recovery {

struct RepairerOptions {
  int scrub_slots = 1;  // scrub threads (one backend slot each); 0: no scrub
  std::chrono::milliseconds scrub_interval{100};  // between two names, per scrub thread
  std::chrono::milliseconds timeout{5000};        // of a read-back or repair request
  std::chrono::milliseconds recheck_min{250};     // first re-read of a suspect name
  std::chrono::milliseconds recheck_max{10000};   // the backoff's cap
  ApplySender send;  // test seam, as ApplierOptions::send; empty: send_to_backend
};

// What a read-back found.
enum class Verdict {
  kClean,       // the volume holds the latest state
  kMismatch,    // it does not (found_size says what it held; absent: -1)
  kUnreadable,  // no answer that says either: try again later
  kPending,     // the latest state is not applied yet: nothing to compare
};
// The verdict of one read answer against the latest state. A tombstone wants
// 404; a PUT wants 200 with its size and checksum.
Verdict compare_read(const journal::IndexEntry& latest, const router::BackendResult& result, uint64_t size,
                     const std::string& checksum);

struct RepairCounters {
  uint64_t checked = 0, mismatches = 0, repaired = 0;
};

class Repairer {
 public:
  using Clock = std::chrono::steady_clock;
  Repairer(journal::Journal& journal, router::BackendPool& pool, router::NameGuard& guard, RepairerOptions options,
           fsr::Clock& clock = fsr::real_clock());
  ~Repairer();

  void start();  // the suspect thread and the scrub threads
  void stop();

  // One round of the suspect checks: up to 8 names due now are read back (and
  // repaired, cleared or rescheduled), those read clean the fewest times in a
  // row first, then the most overdue. Returns when the next one is due.
  // (The suspect thread's step; tests call it directly.)
  Clock::time_point check_due_suspects();
  // Checks the next name of the scrub's walk; false when a pass just ended.
  // (A scrub thread's step.)
  bool scrub_step();

  // "scrub": {pass, checked, mismatches, repaired, position}, "suspect_names",
  // "suspect_checks": {checked, mismatches, repaired} (docs/status-fields.md).
  void add_status_fields(nlohmann::json* status);
  RepairCounters suspect_counters();
  RepairCounters scrub_counters();
  uint64_t scrub_passes();  // completed passes over the index

 private:
  struct Tracked {
    uint64_t restarts_at_mark = 0;  // NameGuard::restarts of its backend when first seen
    Clock::time_point next_check;
    std::chrono::milliseconds backoff{0};
  };
  struct Checked {
    Verdict verdict = Verdict::kUnreadable;
    bool repaired = false;
  };
  // Reads `name` back and repairs it on a mismatch. `suspects_too`: also a
  // name that is suspect (the suspect checks; the scrub leaves them).
  Checked check_name(const std::string& name, bool suspects_too);
  // Counts a check: a name checked and found different once per look, a repair each time.
  void count(RepairCounters* counters, const Checked& c, bool first_look);
  bool repair(const std::string& name, const journal::IndexEntry& seen, router::Backend& read_from, int64_t found_size);
  router::BackendResult send(router::BackendLease lease, const ApplyRequest& request);
  router::Backend* backend_at(const std::string& address);
  void suspect_loop();
  void scrub_loop();

  journal::Journal& journal_;
  router::BackendPool& pool_;
  router::NameGuard& guard_;
  RepairerOptions options_;
  fsr::Clock& clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::pair<std::string, std::string>, Tracked> tracked_;  // (name, backend address); suspect thread only
  RepairCounters suspect_counters_;
  RepairCounters scrub_counters_;
  uint64_t scrub_pass_ = 0;
  std::string scrub_position_;     // the last name handed out ("" at a pass's start)
  std::vector<std::string> scrub_batch_;  // names after the position, next first (reversed)
  // A mismatch whose repair could not be sent: taken again by the next step, until then.
  std::optional<std::pair<std::string, Clock::time_point>> scrub_retry_;
  std::vector<std::thread> threads_;
};

}  // namespace fsr::recovery
