// The rings behind /admin/status's recent_events and apply_history
// (router/status_history.h), in process.
#include <gtest/gtest.h>

#include "common/log.h"
#include "router/status_history.h"

namespace fsr::router {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

nlohmann::json status_of(const StatusHistory& h) {
  nlohmann::json j;
  h.add_status_fields(&j);
  return j;
}

TEST(StatusHistory, RecentEventsKeepTheLastCapacityEventsOldestFirst) {
  StatusHistory h(/*event_capacity=*/5);
  for (int i = 0; i < 12; ++i) h.add_event("repair", {{"seq", std::to_string(i), false}, {"name", "n" + std::to_string(i)}});
  auto events = status_of(h)["recent_events"];
  ASSERT_EQ(events.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(events[i]["event"], "repair");
    EXPECT_EQ(events[i]["fields"]["seq"], 7 + i) << "numbers stay numbers";
    EXPECT_EQ(events[i]["fields"]["name"], "n" + std::to_string(7 + i)) << "text stays text";
  }
  EXPECT_TRUE(events[0]["time"].get<std::string>().ends_with("Z"));
}

TEST(StatusHistory, TheLogObserverKeepsTheChosenEventsWhateverTheLogLevel) {
  StatusHistory h;
  h.observe_log();
  set_log_level(LogLevel::kError);  // warn and info lines are not written, but still kept
  log_warn("primary_changed").kv("from", "a:1").kv("to", "b:2").kv("applied_seq", 42ULL);
  log_info("applied").kv("seq", 43).kv("name", "x");  // not a recent event
  log_info("backend_up").kv("backend", "a:1").kv("healthy", true);
  set_log_level(LogLevel::kInfo);
  set_log_observer({}, nullptr);
  log_warn("backend_down").kv("backend", "a:1");  // after the observer is gone
  auto events = status_of(h)["recent_events"];
  ASSERT_EQ(events.size(), 2u) << events.dump();
  EXPECT_EQ(events[0]["event"], "primary_changed");
  EXPECT_EQ(events[0]["fields"]["to"], "b:2");
  EXPECT_EQ(events[0]["fields"]["applied_seq"], 42);
  EXPECT_EQ(events[1]["event"], "backend_up");
  EXPECT_EQ(events[1]["fields"]["healthy"], "true");
}

TEST(StatusHistory, ApplyHistorySamplesOncePerIntervalAndKeepsTheLastCapacity) {
  auto t0 = StatusHistory::Clock::now();
  StatusHistory h(50, /*sample_capacity=*/3, /*sample_interval=*/seconds(5), t0);
  h.maybe_sample(10, 5, t0 + milliseconds(200));    // the first is always kept
  h.maybe_sample(11, 6, t0 + milliseconds(4000));   // too soon
  h.maybe_sample(20, 15, t0 + milliseconds(5200));  // kept
  h.maybe_sample(30, 25, t0 + milliseconds(10200));
  h.maybe_sample(40, 35, t0 + milliseconds(15200));  // the first falls out
  auto history = status_of(h)["apply_history"];
  EXPECT_EQ(history["interval_ms"], 5000);
  EXPECT_EQ(history["capacity"], 3);
  auto samples = history["samples"];
  ASSERT_EQ(samples.size(), 3u) << history.dump();
  EXPECT_EQ(samples[0]["uptime_ms"], 5200);
  EXPECT_EQ(samples[0]["last_seq"], 20);
  EXPECT_EQ(samples[0]["applied_seq"], 15);
  EXPECT_EQ(samples[2]["uptime_ms"], 15200);
  EXPECT_EQ(samples[2]["applied_seq"], 35);
}

}  // namespace
}  // namespace fsr::router
