#include "loadtest/run_stats.h"

#include <algorithm>

namespace fsr::load {
namespace {
int64_t second_of(int64_t ns) { return ns < 0 ? 0 : ns / 1000000000; }
}  // namespace

const char* method_name(Method method) {
  switch (method) {
    case Method::kGet:
      return "GET";
    case Method::kPut:
      return "PUT";
    case Method::kDelete:
      return "DELETE";
  }
  return "?";
}

bool Completion::failure() const {
  if (kind != Kind::kResponse) return true;
  return status == 429 || status >= 500 || unexpected_status;
}

void Tally::add(const Completion& c) {
  ++completed;
  if (c.kind == Completion::Kind::kTimeout) {
    ++timeouts;
  } else if (c.kind == Completion::Kind::kConnectionError) {
    ++connection_errors;
  } else {
    long s = c.status;
    if (s >= 200 && s < 300) {
      ++status_2xx;
    } else if (s >= 300 && s < 400) {
      ++status_3xx;
    } else if (s == 429) {
      ++status_429;
    } else if (s >= 400 && s < 500) {
      ++status_4xx;
      if (s == 404) ++status_404;
    } else if (s >= 500 && s < 600) {
      ++status_5xx;
    } else {
      ++status_other;
    }
    if (c.unexpected_status && s != 429 && s < 500) ++unexpected_status;
  }
  if (c.verified) ++verified_reads;
  if (c.new_connection) ++connections_opened;
  if (c.invalid) ++invalid;
  if (c.successful()) ++successful;
}

SecondStats& RunStats::at(int64_t second) {
  if (second < 0) second = 0;
  if (static_cast<size_t>(second) >= seconds_.size()) seconds_.resize(static_cast<size_t>(second) + 1);
  return seconds_[static_cast<size_t>(second)];
}

const SecondStats* RunStats::second(int64_t s) const {
  if (s < 0 || static_cast<size_t>(s) >= seconds_.size()) return nullptr;
  return &seconds_[static_cast<size_t>(s)];
}

void RunStats::on_issue(Method method, int64_t scheduled_ns, int64_t issued_ns) {
  SecondStats& s = at(second_of(scheduled_ns));
  ++s.tally.issued;
  ++total_.issued;
  ++interval_->tally.issued;
  ++by_method_[static_cast<int>(method)].issued;
  int64_t lag_us = std::max<int64_t>(0, (issued_ns - scheduled_ns) / 1000);
  s.max_issue_lag_us = std::max(s.max_issue_lag_us, lag_us);
  max_issue_lag_us_ = std::max(max_issue_lag_us_, lag_us);
}

void RunStats::on_complete(Method method, int64_t scheduled_ns, int64_t done_ns, const Completion& c) {
  int64_t latency_us = (done_ns - scheduled_ns) / 1000;
  total_.add(c);
  interval_->tally.add(c);
  interval_->latency.record(latency_us);
  by_method_[static_cast<int>(method)].add(c);
  latency_[static_cast<int>(method)].record(latency_us);
  SecondStats& s = at(second_of(done_ns));
  s.tally.add(c);
  if (!s.summarised) {
    if (!s.latency) s.latency = std::make_unique<LatencyHistogram>();
    s.latency->record(latency_us);
  }
}

IntervalStats RunStats::take_interval() {
  IntervalStats taken = std::move(*interval_);
  *interval_ = IntervalStats{};
  return taken;
}

void RunStats::set_target(int64_t second, int64_t target) { at(second).target = target; }
void RunStats::set_in_flight(int64_t second, int64_t in_flight) { at(second).in_flight = in_flight; }

void RunStats::summarise_before(int64_t second) {
  for (int64_t i = 0; i < second && static_cast<size_t>(i) < seconds_.size(); ++i) {
    SecondStats& s = seconds_[static_cast<size_t>(i)];
    if (s.summarised) continue;
    if (s.latency) {
      s.p50_us = s.latency->percentile(0.50);
      s.p90_us = s.latency->percentile(0.90);
      s.p99_us = s.latency->percentile(0.99);
      s.max_us = s.latency->max();
      s.latency.reset();
    }
    s.summarised = true;
  }
}

}  // namespace fsr::load
