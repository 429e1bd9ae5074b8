#include "common/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>

namespace fsr {

struct LogLine::Observer {
  std::vector<std::string> events;
  LogObserver observe;
  bool wants(std::string_view event) const { return std::find(events.begin(), events.end(), event) != events.end(); }
};

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
// Observers are kept for the life of the process: a line begun under one
// may still be running on another thread when it is replaced.
std::atomic<const LogLine::Observer*> g_observer{nullptr};
const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}
}  // namespace

void set_log_observer(std::vector<std::string> events, LogObserver observer) {
  static std::mutex mu;
  // Never destroyed: threads may still log while the process exits.
  static auto* kept = new std::vector<std::unique_ptr<LogLine::Observer>>;
  std::lock_guard<std::mutex> lock(mu);
  if (!observer) {
    g_observer = nullptr;
    return;
  }
  kept->push_back(std::make_unique<LogLine::Observer>(LogLine::Observer{std::move(events), std::move(observer)}));
  g_observer = kept->back().get();
}

std::string utc_time_ms(long long ms_since_epoch) {
  std::time_t secs = static_cast<std::time_t>(ms_since_epoch / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];  // room for any int the compiler cannot rule out
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms_since_epoch % 1000));
  return buf;
}

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
bool log_enabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

bool parse_log_level(const std::string& text, LogLevel* level) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError})
    if (text == level_name(l)) {
      *level = l;
      return true;
    }
  return false;
}

LogLine::LogLine(LogLevel level, std::string_view event) : enabled_(log_enabled(level)) {
  const Observer* observer = g_observer.load();
  if (observer && observer->wants(event)) {
    observer_ = observer;
    event_ = event;
  }
  if (!enabled_) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  out_ << "ts=" << utc_time_ms(ms) << " level=" << level_name(level) << " event=" << event;
}

LogLine::~LogLine() {
  if (enabled_) {
    out_ << '\n';
    std::string s = out_.str();
    // One write(2) per line: atomic with respect to other lines on a pipe or file.
    ssize_t ignored = ::write(STDERR_FILENO, s.data(), s.size());
    (void)ignored;
  }
  if (observer_) observer_->observe(event_, fields_);
}

LogLine& LogLine::kv(std::string_view key, std::string_view value) {
  if (observer_) fields_.push_back({std::string(key), std::string(value), true});
  if (!enabled_) return *this;
  out_ << ' ' << key << "=\"";
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') out_ << '\\' << c;
    else if (c < 0x20 || c == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      out_ << esc;
    } else out_ << c;
  }
  out_ << '"';
  return *this;
}
LogLine& LogLine::kv(std::string_view key, long long value) {
  if (observer_) fields_.push_back({std::string(key), std::to_string(value), false});
  if (enabled_) out_ << ' ' << key << '=' << value;
  return *this;
}
LogLine& LogLine::kv(std::string_view key, unsigned long long value) {
  if (observer_) fields_.push_back({std::string(key), std::to_string(value), false});
  if (enabled_) out_ << ' ' << key << '=' << value;
  return *this;
}
LogLine& LogLine::kv(std::string_view key, double value) {
  if (observer_) {
    std::ostringstream text;
    text << value;
    fields_.push_back({std::string(key), text.str(), false});
  }
  if (enabled_) out_ << ' ' << key << '=' << value;
  return *this;
}

}  // namespace fsr
