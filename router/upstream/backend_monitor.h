// Health, replica confirmation and primary failover (design invariants 6, 7).
//
// - Every backend is probed every `probe_interval` with a GET of the marker
//   file, through a normal slot (probes count against the cap). Health is
//   progress: an answer other than 429 means alive; a refused connection
//   means the process is gone (its abandoned requests died with it); a
//   timeout means hung; a stall longer than `stall_timeout` (only 429s while
//   the router held fewer than the cap there, "wedged", or every slot held
//   with nothing finishing, "saturated": ProgressWatch in backend_pool.h)
//   means it does no work. Each failure marks the backend unhealthy and
//   drops a replica's confirmed watermark to 0; a failed primary is failed
//   over. A 429 to a probe proves neither health nor failure.
// - The marker (`.fsrouter-marker`, a name refused to clients) holds the
//   journal's id and the applied watermark. The monitor rewrites it through
//   the primary as the watermark rises; a replica's confirmed watermark is
//   what it reads back. A replica on another volume reads no marker, or one
//   with another journal id, and never confirms. A probe answer counts only
//   if the backend was neither marked down nor demoted while it was out: a
//   demoted primary reads nothing until a marker read made as a replica
//   confirms it. Marker writes and reads are
//   only PUTs and GETs, which cannot wedge a backend; a reader that sees a
//   half-written marker fails to parse it and confirms nothing.
// - When the primary is unhealthy, the healthy backend with the highest
//   confirmed watermark becomes primary. With `failback`, the designated
//   primary takes the role back once it is healthy and confirmed
//   (choose_primary below is the rule; the monitor applies it).
// - Probe and marker intervals are timed on the Clock given at construction.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "journal/journal.h"
#include "router/upstream/backend_pool.h"
#include "router/upstream/name_guard.h"

namespace fsr::router {

inline constexpr const char* kMarkerName = ".fsrouter-marker";

struct MonitorOptions {
  std::chrono::milliseconds probe_interval{1000};
  std::chrono::milliseconds probe_timeout{3000};
  std::chrono::milliseconds marker_interval{500};
  std::chrono::milliseconds stall_timeout{30000};
  bool failback = false;
};

std::string marker_body(const std::string& journal_id, uint64_t seq);
// The sequence in a marker body of this journal; nullopt if it is not one.
std::optional<uint64_t> parse_marker(const std::string& body, const std::string& journal_id);

// What the monitor knows of one backend when it picks the primary.
struct PrimaryCandidate {
  int id = 0;
  bool healthy = false;
  bool confirmed = false;
  uint64_t watermark = 0;
};
// The id of the backend that should take the primary role from `current`,
// or nullopt to leave it where it is:
// - current unhealthy: the healthy, confirmed other backend with the highest
//   watermark (the earlier one in `backends` on a tie); none: nullopt.
// - current healthy: with `failback`, the designated primary once it is
//   healthy and confirmed, if it is not the current one; otherwise nullopt.
std::optional<int> choose_primary(const std::vector<PrimaryCandidate>& backends, int current, int designated,
                                  bool failback);

// The primary at start, and why (for the log).
struct StartPrimary {
  int id = 0;
  std::string reason;
};
// The role survives a restart: the backend whose state saved in the journal
// says primary keeps it (of two, as a crash between their saves may leave,
// the one with the higher saved watermark: a demoted primary saves 0, then
// the designated one, then the earlier). None saved, or the saved one is no
// longer among `addresses`: the designated primary.
StartPrimary choose_start_primary(const std::vector<std::string>& addresses,
                                  const std::map<std::string, journal::BackendState>& saved, int designated);

class BackendMonitor {
 public:
  BackendMonitor(journal::Journal& journal, BackendPool& pool, NameGuard& guard, MonitorOptions options,
                 fsr::Clock& clock = fsr::real_clock());
  ~BackendMonitor();
  void start();
  void stop();
  // One probe of b: what each backend's probe loop does every probe_interval.
  void probe(Backend& b);
  // A request on b was refused: the process is gone.
  void report_refused(Backend& b);
  // A replica did not answer a read in time: stop sending it reads until a
  // probe sees it answer and it confirms again.
  void report_hung(Backend& b);
  // Primary role changes since start: away from an unhealthy primary, and failbacks.
  uint64_t failovers() const { return failovers_.load(std::memory_order_relaxed); }
  uint64_t failbacks() const { return failbacks_.load(std::memory_order_relaxed); }

 private:
  void probe_loop(Backend* b);
  void marker_loop();
  // Marks b unhealthy when it has stalled longer than stall_timeout.
  void check_progress(Backend& b);
  void mark_healthy(Backend& b);
  void mark_unhealthy(Backend& b, const std::string& why, bool refused);
  void maybe_fail_over();
  // Waits d on the clock, returning early when stop() is called.
  void nap(std::chrono::milliseconds d);

  journal::Journal& journal_;
  BackendPool& pool_;
  NameGuard& guard_;
  MonitorOptions options_;
  fsr::Clock& clock_;
  std::mutex role_mu_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> failovers_{0};
  std::atomic<uint64_t> failbacks_{0};
  std::vector<std::thread> threads_;
};

}  // namespace fsr::router
