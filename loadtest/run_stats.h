// Counters of a load run: totals, per operation, and per second of the run.
//
// Requests are counted in the second they were scheduled in (issued) and in
// the second they completed in (everything else). Latency is measured from
// the scheduled time, so a server that falls behind shows it even when the
// client itself issues late. Not thread-safe: the run holds its lock.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "loadtest/latency_histogram.h"

namespace fsr::load {

enum class Method { kGet = 0, kPut = 1, kDelete = 2 };
inline constexpr int kMethodCount = 3;
const char* method_name(Method method);

// How one request ended.
struct Completion {
  enum class Kind { kResponse, kTimeout, kConnectionError };
  Kind kind = Kind::kResponse;
  long status = 0;
  bool unexpected_status = false;  // a status outside the operation's expected set (not 429/5XX)
  bool verified = false;           // a read whose content was checked
  bool invalid = false;            // ... and found wrong
  bool new_connection = false;     // the request opened a TCP connection
  bool failure() const;
  bool successful() const { return !failure() && !invalid; }
};

struct Tally {
  uint64_t issued = 0, completed = 0, successful = 0;
  uint64_t status_2xx = 0, status_3xx = 0, status_4xx = 0, status_404 = 0, status_429 = 0, status_5xx = 0,
           status_other = 0;
  uint64_t timeouts = 0, connection_errors = 0, unexpected_status = 0;
  uint64_t verified_reads = 0, invalid = 0;
  uint64_t connections_opened = 0;
  // Failed requests as the live test counts them: 429, 5XX, timeouts,
  // connection errors, and any other unexpected status.
  uint64_t failures() const { return status_429 + status_5xx + timeouts + connection_errors + unexpected_status; }
  void add(const Completion& c);
};

struct SecondStats {
  int64_t target = 0;
  Tally tally;
  int64_t in_flight = 0;        // requests in flight when the second ended
  int64_t max_issue_lag_us = 0;  // how late the client issued its slots
  std::unique_ptr<LatencyHistogram> latency;  // freed once the second is summarised
  int64_t p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
  bool summarised = false;
};

// What completed during one progress interval.
struct IntervalStats {
  Tally tally;  // issued: requests scheduled in the interval that were issued
  LatencyHistogram latency;
};

class RunStats {
 public:
  void on_issue(Method method, int64_t scheduled_ns, int64_t issued_ns);
  void on_complete(Method method, int64_t scheduled_ns, int64_t done_ns, const Completion& completion);
  void set_target(int64_t second, int64_t target);
  void set_in_flight(int64_t second, int64_t in_flight);
  // Computes the latency percentiles of seconds before `second` and frees
  // their histograms.
  void summarise_before(int64_t second);

  // What completed since the last call (or the start); starts the next interval.
  IntervalStats take_interval();

  const Tally& total() const { return total_; }
  const Tally& by_method(Method m) const { return by_method_[static_cast<int>(m)]; }
  const LatencyHistogram& latency(Method m) const { return latency_[static_cast<int>(m)]; }
  const std::vector<SecondStats>& seconds() const { return seconds_; }
  const SecondStats* second(int64_t s) const;
  int64_t max_issue_lag_us() const { return max_issue_lag_us_; }

 private:
  SecondStats& at(int64_t second);
  Tally total_;
  std::array<Tally, kMethodCount> by_method_;
  std::array<LatencyHistogram, kMethodCount> latency_;
  std::vector<SecondStats> seconds_;
  std::unique_ptr<IntervalStats> interval_ = std::make_unique<IntervalStats>();
  int64_t max_issue_lag_us_ = 0;
};

}  // namespace fsr::load
