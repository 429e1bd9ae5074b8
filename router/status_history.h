// What /admin/status tells about the recent past, for the status page at
// /admin/ (router/status_page.h) and anyone reading the JSON:
//
// - recent_events: the last `event_capacity` log lines of the events that
//   matter at a glance (the router starting, a backend going down or coming
//   back, a primary change, a repair), oldest first. They are the log lines
//   themselves, taken through a log observer (common/log.h), so an event has
//   one definition: its log line.
// - apply_history: the journal's last and applied sequence sampled every
//   `sample_interval`, the last `sample_capacity` samples, oldest first; the
//   rate of writes accepted and applied is the difference of two samples
//   over the difference of their uptime_ms.
//
// Both are bounded rings; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"

namespace fsr::router {

// The events kept in recent_events (their log lines' event names).
const std::vector<std::string>& recent_event_names();

class StatusHistory {
 public:
  using Clock = std::chrono::steady_clock;
  StatusHistory(size_t event_capacity = 50, size_t sample_capacity = 120,
                std::chrono::milliseconds sample_interval = std::chrono::seconds(5),
                Clock::time_point started = Clock::now());

  // Feeds recent_events from the log from now on (set_log_observer: one
  // observer per process, so the last StatusHistory to call it observes).
  // The observer shares the ring, so a line logged while this object goes
  // away is harmless.
  void observe_log();

  // Keeps one event (what the log observer calls).
  void add_event(std::string_view event, const std::vector<LogField>& fields);
  // Keeps a sample if `sample_interval` passed since the last one (the
  // first is always kept); call it often, e.g. from a housekeeping loop.
  void maybe_sample(uint64_t last_seq, uint64_t applied_seq, Clock::time_point now = Clock::now());

  // Adds recent_events and apply_history to a /admin/status document.
  void add_status_fields(nlohmann::json* status) const;

 private:
  struct Events {
    size_t capacity;
    Clock::time_point started;
    std::mutex mu;
    std::deque<nlohmann::json> ring;
    void add(std::string_view event, const std::vector<LogField>& fields);
  };
  const std::shared_ptr<Events> events_;
  const size_t sample_capacity_;
  const std::chrono::milliseconds sample_interval_;
  const Clock::time_point started_;
  mutable std::mutex mu_;  // the samples
  std::deque<nlohmann::json> samples_;
  Clock::time_point last_sample_{};
  bool sampled_ = false;
};

}  // namespace fsr::router
