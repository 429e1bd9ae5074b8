// Health, replica confirmation and primary failover (design invariants 6, 7).
//
// - Every backend is probed every `probe_interval` with a GET of the marker
//   file, through a normal slot (probes count against the cap). An answer of
//   any kind means alive; a refused connection means the process is gone (its
//   abandoned requests died with it); a timeout means hung. Either failure
//   marks the backend unhealthy and drops its confirmed watermark to 0.
// - The marker (`.fsrouter-marker`, a name refused to clients) holds the
//   journal's id and the applied watermark. The monitor rewrites it through
//   the primary as the watermark rises; a replica's confirmed watermark is
//   what it reads back. A replica on another volume reads no marker, or one
//   with another journal id, and never confirms. Marker writes and reads are
//   only PUTs and GETs, which cannot wedge a backend; a reader that sees a
//   half-written marker fails to parse it and confirms nothing.
// - When the primary is unhealthy, the healthy backend with the highest
//   confirmed watermark becomes primary. With `failback`, the designated
//   primary takes the role back once it is healthy and confirmed.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "journal/journal.h"
#include "router/upstream/backend_pool.h"
#include "router/upstream/name_guard.h"

namespace fsr::router {

inline constexpr const char* kMarkerName = ".fsrouter-marker";

struct MonitorOptions {
  std::chrono::milliseconds probe_interval{1000};
  std::chrono::milliseconds probe_timeout{3000};
  std::chrono::milliseconds marker_interval{500};
  bool failback = false;
};

std::string marker_body(const std::string& journal_id, uint64_t seq);
// The sequence in a marker body of this journal; nullopt if it is not one.
std::optional<uint64_t> parse_marker(const std::string& body, const std::string& journal_id);

class BackendMonitor {
 public:
  BackendMonitor(journal::Journal& journal, BackendPool& pool, NameGuard& guard, MonitorOptions options);
  ~BackendMonitor();
  void start();
  void stop();
  // A request on b was refused: the process is gone.
  void report_refused(Backend& b);
  // A replica did not answer a read in time: stop sending it reads until a
  // probe sees it answer and it confirms again.
  void report_hung(Backend& b);

 private:
  void probe_loop(Backend* b);
  void marker_loop();
  void probe(Backend& b);
  void mark_healthy(Backend& b);
  void mark_unhealthy(Backend& b, const std::string& why, bool refused);
  void maybe_fail_over();

  journal::Journal& journal_;
  BackendPool& pool_;
  NameGuard& guard_;
  MonitorOptions options_;
  std::mutex role_mu_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace fsr::router
