// The router's Prometheus metrics, served as text at GET /metrics on
// --admin-listen (every metric, its type and labels: docs/metrics.md).
//
// - Requests (counts by method and status, latency by method and source,
//   body bytes) are counted on the request path, as the HTTP server tells
//   of them (http::RequestObserver). Every series is made at most once and
//   then reached through a table, so a request costs a few atomic adds and
//   the lock of one histogram; the method is folded to GET, HEAD, PUT,
//   DELETE or other, so no label takes a value from a client.
// - Everything else is read at scrape time (Collect) from where
//   /admin/status reads it: the journal's stats, the backend pool, the
//   applier, the repairer, the monitor. No fact is kept twice.
// - Labels are bounded: a backend's address, a method, a status code, a
//   source, an outcome; never a file name.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "router/http/server.h"

namespace fsr::journal {
class Journal;
}
namespace fsr::recovery {
class Applier;
class Repairer;
}  // namespace fsr::recovery

namespace fsr::router {

class BackendPool;
class BackendMonitor;
class NameGuard;
class HttpFront;

// The parts the scrape reads; each outlives the RouterMetrics' last scrape.
struct MetricSources {
  journal::Journal* journal = nullptr;
  BackendPool* pool = nullptr;
  NameGuard* guard = nullptr;
  recovery::Applier* applier = nullptr;
  recovery::Repairer* repairer = nullptr;
  BackendMonitor* monitor = nullptr;
  HttpFront* front = nullptr;
  http::Server* server = nullptr;  // the client-facing one: its open connections
  int scrub_slots = 0;
};

// The restart count fsrouter-supervisor hands its child (FSROUTER_RESTARTS):
// children that died before this one. 0 when unset or not a number.
uint64_t restarts_from_environment(const char* value);

class RouterMetrics : public http::RequestObserver, public prometheus::Collectable {
 public:
  // restarts: restarts_from_environment(getenv("FSROUTER_RESTARTS")).
  explicit RouterMetrics(uint64_t restarts);
  ~RouterMetrics() override;
  RouterMetrics(const RouterMetrics&) = delete;
  RouterMetrics& operator=(const RouterMetrics&) = delete;

  // Before the first scrape; a source left null is not reported.
  void set_sources(MetricSources sources) { sources_ = sources; }

  // http::RequestObserver: the request path.
  void answered(const http::RequestHead& head, const http::Response& res,
                std::chrono::steady_clock::duration elapsed) override;
  void body_bytes_received(uint64_t n) override;
  void body_bytes_sent(uint64_t n) override;

  // prometheus::Collectable: the families read at scrape time.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Every family, the request path's and the scrape's, in the text format.
  std::string scrape() const;
  // The answer to GET /metrics.
  void serve(http::Response& res) const;

 private:
  static constexpr int kMethods = 5;   // GET, HEAD, PUT, DELETE, other
  static constexpr int kSources = 3;   // journal, backend, none
  static constexpr int kCodes = 600;   // status codes below 600; above: not counted by code
  static int method_index(const std::string& method);
  static int source_index(const char* source);
  prometheus::Counter& request_counter(int method, unsigned code);

  MetricSources sources_;
  uint64_t restarts_;
  double start_time_seconds_;  // since the epoch
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  std::mutex requests_mu_;  // creating a series of requests_
  std::array<std::array<std::atomic<prometheus::Counter*>, kCodes>, kMethods> request_counters_{};
  std::array<std::array<prometheus::Histogram*, kSources>, kMethods> durations_{};
  prometheus::Counter* body_bytes_received_;
  prometheus::Counter* body_bytes_sent_;
};

}  // namespace fsr::router
