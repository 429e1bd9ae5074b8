#include "router/metrics.h"

#include <prometheus/text_serializer.h>

#include <cstdlib>
#include <sstream>

#include "journal/journal.h"
#include "recovery/applier.h"
#include "recovery/repairer.h"
#include "router/http_front.h"
#include "router/upstream/backend_monitor.h"
#include "router/upstream/backend_pool.h"
#include "router/upstream/name_guard.h"

namespace fsr::router {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr const char* kMethodNames[] = {"GET", "HEAD", "PUT", "DELETE", "other"};
constexpr const char* kSourceNames[] = {"journal", "backend", "none"};

// From a journal hit (well under a millisecond) to a read through from a
// backend at 333 ms with retries, and a --ack backend write.
const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return buckets;
}

// One family read at scrape time.
class Family {
 public:
  Family(std::vector<MetricFamily>* out, std::string name, std::string help, MetricType type) : out_(out) {
    family_.name = std::move(name);
    family_.help = std::move(help);
    family_.type = type;
  }
  ~Family() { out_->push_back(std::move(family_)); }
  Family& add(double value, std::vector<ClientMetric::Label> labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    if (family_.type == MetricType::Counter) m.counter.value = value;
    else m.gauge.value = value;
    family_.metric.push_back(std::move(m));
    return *this;
  }

 private:
  std::vector<MetricFamily>* out_;
  MetricFamily family_;
};

double seconds_since_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint64_t restarts_from_environment(const char* value) {
  if (!value || *value < '0' || *value > '9') return 0;
  char* end = nullptr;
  unsigned long long n = std::strtoull(value, &end, 10);
  return *end == '\0' ? n : 0;
}

RouterMetrics::RouterMetrics(uint64_t restarts)
    : restarts_(restarts), start_time_seconds_(seconds_since_epoch()),
      registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("fsrouter_http_requests_total")
                   .Help("Client requests answered, by method (GET, HEAD, PUT, DELETE, other) and status code")
                   .Register(*registry_);
  auto& durations = prometheus::BuildHistogram()
                        .Name("fsrouter_http_request_duration_seconds")
                        .Help("Time from a request's first byte to its answer, by method and by what answered "
                              "(journal, backend, none)")
                        .Register(*registry_);
  for (int m = 0; m < kMethods; ++m)
    for (int s = 0; s < kSources; ++s)
      durations_[m][s] = &durations.Add({{"method", kMethodNames[m]}, {"source", kSourceNames[s]}}, duration_buckets());
  body_bytes_received_ = &prometheus::BuildCounter()
                              .Name("fsrouter_http_request_body_bytes_total")
                              .Help("Request body bytes received from clients")
                              .Register(*registry_)
                              .Add({});
  body_bytes_sent_ = &prometheus::BuildCounter()
                          .Name("fsrouter_http_response_body_bytes_total")
                          .Help("Response body bytes written to clients")
                          .Register(*registry_)
                          .Add({});
}

RouterMetrics::~RouterMetrics() = default;

int RouterMetrics::method_index(const std::string& method) {
  for (int m = 0; m < kMethods - 1; ++m)
    if (method == kMethodNames[m]) return m;
  return kMethods - 1;
}

int RouterMetrics::source_index(const char* source) {
  if (!source) return kSources - 1;
  for (int s = 0; s < kSources - 1; ++s)
    if (std::string_view(source) == kSourceNames[s]) return s;
  return kSources - 1;
}

prometheus::Counter& RouterMetrics::request_counter(int method, unsigned code) {
  std::atomic<prometheus::Counter*>& slot = request_counters_[method][code];
  prometheus::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter) return *counter;
  std::lock_guard<std::mutex> lock(requests_mu_);
  counter = slot.load(std::memory_order_relaxed);
  if (!counter) {
    counter = &requests_->Add({{"method", kMethodNames[method]}, {"code", std::to_string(code)}});
    slot.store(counter, std::memory_order_release);
  }
  return *counter;
}

void RouterMetrics::answered(const http::RequestHead& head, const http::Response& res,
                             std::chrono::steady_clock::duration elapsed) {
  int method = method_index(head.method);
  if (res.status < kCodes) request_counter(method, res.status).Increment();
  durations_[method][source_index(res.source)]->Observe(std::chrono::duration<double>(elapsed).count());
}

void RouterMetrics::body_bytes_received(uint64_t n) { body_bytes_received_->Increment(static_cast<double>(n)); }

void RouterMetrics::body_bytes_sent(uint64_t n) { body_bytes_sent_->Increment(static_cast<double>(n)); }

std::vector<MetricFamily> RouterMetrics::Collect() const {
  std::vector<MetricFamily> out;
  const MetricSources& s = sources_;
  auto counter = [&](const char* name, const char* help) { return Family(&out, name, help, MetricType::Counter); };
  auto gauge = [&](const char* name, const char* help) { return Family(&out, name, help, MetricType::Gauge); };

  gauge("process_start_time_seconds", "Start time of the router process since the Unix epoch")
      .add(start_time_seconds_);
  counter("fsrouter_process_restarts_total",
          "Router processes that died and were restarted by fsrouter-supervisor before this one "
          "(FSROUTER_RESTARTS; upgrades are not counted)")
      .add(static_cast<double>(restarts_));
  if (s.server)
    gauge("fsrouter_http_open_connections", "Client connections open now").add(s.server->open_connections());

  if (s.journal) {
    journal::JournalStats st = s.journal->stats();
    gauge("fsrouter_journal_last_seq", "Highest sequence number committed (durable)").add(st.last_seq);
    gauge("fsrouter_journal_applied_seq", "Applied watermark: every record at or below it is on the volume or moot")
        .add(st.applied_seq);
    gauge("fsrouter_journal_pending_names", "Names whose latest record is not applied yet").add(st.pending_count);
    gauge("fsrouter_journal_pending_bytes", "Body bytes of the pending PUTs").add(st.pending_bytes);
    gauge("fsrouter_journal_oldest_pending_age_seconds",
          "Age of the oldest pending record (0 when nothing is pending)")
        .add(static_cast<double>(st.oldest_pending_age_ms) / 1000.0);
    gauge("fsrouter_journal_names", "Names in the index, deleted ones included").add(st.names);
    gauge("fsrouter_journal_index_walked",
          "1 once the walk of the index that follows an open has completed: the names and body bytes are then exact "
          "(before, or after a walk that failed, the names are RocksDB's estimate, the body bytes 0, and no body "
          "is evicted)")
        .add(st.index_walked ? 1 : 0);
    gauge("fsrouter_body_cache_bytes", "Bytes of the bodies the journal holds (pending and cached)")
        .add(st.body_bytes);
    uint64_t budget = s.journal->body_cache_budget();
    gauge("fsrouter_body_cache_budget_bytes", "Disk budget for applied bodies kept to serve reads (--body-cache-mb)")
        .add(static_cast<double>(budget));
    journal::BodyCacheCounters cache = s.journal->body_cache_counters();
    counter("fsrouter_body_cache_evictions_total", "Applied bodies freed to stay within the budget")
        .add(cache.evictions);
    counter("fsrouter_body_cache_evicted_bytes_total", "Bytes of the bodies freed").add(cache.evicted_bytes);
    journal::JournalDiskUsage disk = s.journal->disk_usage();
    gauge("fsrouter_journal_disk_bytes", "Bytes of every file under the journal directory").add(disk.journal_bytes);
    gauge("fsrouter_journal_filesystem_free_bytes", "Bytes available on the journal's filesystem")
        .add(disk.filesystem_free_bytes);
    gauge("fsrouter_journal_filesystem_size_bytes", "Size of the journal's filesystem")
        .add(disk.filesystem_size_bytes);
    gauge("fsrouter_suspect_names", "Names that may differ on the volume until read back").add(
        s.journal->suspect_count());
  }
  if (s.front) {
    const BodyCacheReads& reads = s.front->body_cache_reads();
    counter("fsrouter_body_cache_hits_total", "Reads of a written name answered from its retained body")
        .add(reads.hits.load(std::memory_order_relaxed));
    counter("fsrouter_body_cache_misses_total", "Reads of a written name whose body was freed (read from a backend)")
        .add(reads.misses.load(std::memory_order_relaxed));
    gauge("fsrouter_reads_through_in_progress",
          "Reads through from a backend now running, those waiting for a slot or their turn included")
        .add(s.front->reads_in_progress());
  }
  if (s.guard)
    gauge("fsrouter_uncertain_names", "Names with a backend PUT or DELETE of unknown outcome")
        .add(s.guard->uncertain_count());
  if (s.applier) {
    gauge("fsrouter_apply_queue_names", "Names queued for the applier").add(s.applier->queued());
    const recovery::ApplierCounters& c = s.applier->counters();
    counter("fsrouter_apply_applied_total", "Records the primary answered success for")
        .add(c.applied.load(std::memory_order_relaxed));
    counter("fsrouter_apply_moot_total", "DELETEs not sent: the volume is known not to hold the name")
        .add(c.moot.load(std::memory_order_relaxed));
    counter("fsrouter_apply_retries_total",
            "Apply attempts that failed and are retried, by outcome: rejected_429, status (another answer), "
            "not_sent (refused), unknown (timed out or cut), mark_failed (journal could not record it)")
        .add(c.retry_429.load(std::memory_order_relaxed), {{"outcome", "rejected_429"}})
        .add(c.retry_status.load(std::memory_order_relaxed), {{"outcome", "status"}})
        .add(c.retry_not_sent.load(std::memory_order_relaxed), {{"outcome", "not_sent"}})
        .add(c.retry_unknown.load(std::memory_order_relaxed), {{"outcome", "unknown"}})
        .add(c.retry_mark.load(std::memory_order_relaxed), {{"outcome", "mark_failed"}});
  }
  if (s.repairer) {
    recovery::RepairCounters suspect = s.repairer->suspect_counters();
    recovery::RepairCounters scrub = s.repairer->scrub_counters();
    counter("fsrouter_repair_checks_total", "Names read back from the volume, by check (suspect, scrub)")
        .add(suspect.checked, {{"check", "suspect"}})
        .add(scrub.checked, {{"check", "scrub"}});
    counter("fsrouter_repair_mismatches_total", "Read-backs that found the volume different from the journal")
        .add(suspect.mismatches, {{"check", "suspect"}})
        .add(scrub.mismatches, {{"check", "scrub"}});
    counter("fsrouter_repairs_total", "Repairs (the latest state sent again) the primary answered")
        .add(suspect.repaired, {{"check", "suspect"}})
        .add(scrub.repaired, {{"check", "scrub"}});
    counter("fsrouter_scrub_passes_total", "Completed scrub passes over the index").add(s.repairer->scrub_passes());
    gauge("fsrouter_scrub_slots", "Backend slots the scrub may use (--scrub-slots)").add(s.scrub_slots);
  }
  if (s.monitor)
    counter("fsrouter_primary_changes_total",
            "Primary role changes, by reason: failover (the primary was unhealthy), failback")
        .add(s.monitor->failovers(), {{"reason", "failover"}})
        .add(s.monitor->failbacks(), {{"reason", "failback"}});
  if (s.pool) {
    Family primary = gauge("fsrouter_backend_primary", "1 for the backend holding the primary role, else 0");
    Family healthy = gauge("fsrouter_backend_healthy", "1 while the backend answers its probes");
    Family confirmed = gauge("fsrouter_backend_confirmed", "1 when the backend's watermark is confirmed");
    Family watermark = gauge("fsrouter_backend_watermark", "Highest sequence the backend is known to reflect");
    Family in_flight = gauge("fsrouter_backend_in_flight", "Requests in flight to the backend (abandoned included)");
    Family cap = gauge("fsrouter_backend_cap", "Most requests in flight to the backend (--backend-cap)");
    Family waiting = gauge("fsrouter_backend_waiting",
                           "Requests waiting in the backend's line for a slot (reads through, applier, prober, repairer)");
    Family requests = counter("fsrouter_backend_requests_total", "Requests sent to the backend, probes included");
    Family rejected = counter("fsrouter_backend_rejected_429_total", "Answers of 429 from the backend");
    Family errors = counter("fsrouter_backend_errors_total", "Requests to the backend that got no answer (refused, timed out or cut)");
    Family abandoned =
        counter("fsrouter_backend_abandoned_total", "Requests to the backend given up on (outcome unknown)");
    Backend& current = s.pool->primary();
    for (Backend* b : s.pool->all()) {
      std::vector<ClientMetric::Label> label = {{"backend", b->address()}};
      primary.add(b == &current ? 1 : 0, label);
      healthy.add(b->healthy.load() ? 1 : 0, label);
      confirmed.add(b->confirmed.load() ? 1 : 0, label);
      watermark.add(static_cast<double>(b->watermark.load()), label);
      in_flight.add(b->in_flight(), label);
      cap.add(b->cap(), label);
      waiting.add(b->async_waiters(), label);
      requests.add(static_cast<double>(b->counters().requests.load()), label);
      rejected.add(static_cast<double>(b->counters().rejected_429.load()), label);
      errors.add(static_cast<double>(b->counters().errors.load()), label);
      abandoned.add(static_cast<double>(b->counters().abandoned.load()), label);
    }
  }
  return out;
}

std::string RouterMetrics::scrape() const {
  std::vector<MetricFamily> families = registry_->Collect();
  std::vector<MetricFamily> read_now = Collect();
  families.insert(families.end(), std::make_move_iterator(read_now.begin()), std::make_move_iterator(read_now.end()));
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, families);
  return text.str();
}

void RouterMetrics::serve(http::Response& res) const {
  res.status = 200;
  res.content_type = "text/plain; version=0.0.4; charset=utf-8";
  res.body = scrape();
}

}  // namespace fsr::router
