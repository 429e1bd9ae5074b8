#include "router/status_history.h"

#include <charconv>

namespace fsr::router {

const std::vector<std::string>& recent_event_names() {
  // The router starting (its listening line), backends going down and
  // coming back (a restart shows as down with "connection refused", then
  // up), replicas confirming, failovers and failbacks, repairs.
  static const std::vector<std::string> names = {"listening",   "backend_down",      "backend_up",
                                                 "primary_changed", "replica_confirmed", "repair"};
  return names;
}

namespace {

// A bare log value as a JSON number when it is one, else as text.
nlohmann::json field_value(const LogField& f) {
  if (f.text) return f.value;
  long long integer = 0;
  const char* end = f.value.data() + f.value.size();
  auto [ptr, ec] = std::from_chars(f.value.data(), end, integer);
  if (ec == std::errc() && ptr == end) return integer;
  unsigned long long big = 0;
  auto [uptr, uec] = std::from_chars(f.value.data(), end, big);
  if (uec == std::errc() && uptr == end) return big;
  try {
    return std::stod(f.value);
  } catch (...) {
    return f.value;
  }
}

nlohmann::json array_of(const std::deque<nlohmann::json>& ring) {
  nlohmann::json array = nlohmann::json::array();
  for (const nlohmann::json& e : ring) array.push_back(e);
  return array;
}

long long ms_between(StatusHistory::Clock::time_point from, StatusHistory::Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace

StatusHistory::StatusHistory(size_t event_capacity, size_t sample_capacity, std::chrono::milliseconds sample_interval,
                             Clock::time_point started)
    : events_(std::make_shared<Events>()),
      sample_capacity_(std::max<size_t>(2, sample_capacity)),
      sample_interval_(sample_interval),
      started_(started) {
  events_->capacity = std::max<size_t>(1, event_capacity);
  events_->started = started;
}

void StatusHistory::Events::add(std::string_view event, const std::vector<LogField>& fields) {
  nlohmann::json fields_json = nlohmann::json::object();
  for (const LogField& f : fields) fields_json[f.key] = field_value(f);
  auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  nlohmann::json e = {{"time", utc_time_ms(now_ms)},
                      {"uptime_ms", ms_between(started, Clock::now())},
                      {"event", std::string(event)},
                      {"fields", std::move(fields_json)}};
  std::lock_guard<std::mutex> lock(mu);
  ring.push_back(std::move(e));
  while (ring.size() > capacity) ring.pop_front();
}

void StatusHistory::observe_log() {
  std::shared_ptr<Events> events = events_;
  set_log_observer(recent_event_names(), [events](std::string_view event, const std::vector<LogField>& fields) {
    events->add(event, fields);
  });
}

void StatusHistory::add_event(std::string_view event, const std::vector<LogField>& fields) {
  events_->add(event, fields);
}

void StatusHistory::maybe_sample(uint64_t last_seq, uint64_t applied_seq, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sampled_ && now - last_sample_ < sample_interval_) return;
  sampled_ = true;
  last_sample_ = now;
  samples_.push_back({{"uptime_ms", ms_between(started_, now)}, {"last_seq", last_seq}, {"applied_seq", applied_seq}});
  while (samples_.size() > sample_capacity_) samples_.pop_front();
}

void StatusHistory::add_status_fields(nlohmann::json* status) const {
  {
    std::lock_guard<std::mutex> lock(events_->mu);
    (*status)["recent_events"] = array_of(events_->ring);
  }
  std::lock_guard<std::mutex> lock(mu_);
  (*status)["apply_history"] = {
      {"interval_ms", sample_interval_.count()},
      {"capacity", sample_capacity_},
      {"uptime_ms", ms_between(started_, Clock::now())},
      {"samples", array_of(samples_)},
  };
}

}  // namespace fsr::router
