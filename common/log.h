// One log line per event, as `key=value` pairs on stderr:
//   ts=2026-11-27T22:41:03.120Z level=info event=apply seq=42 name="a b" status=201
// A LogLine collects fields and writes the whole line at once when it goes
// out of scope, so lines from concurrent threads never interleave.
#pragma once

#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace fsr {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Lines below this level are dropped (default info). Set once at start.
void set_log_level(LogLevel level);
bool parse_log_level(const std::string& text, LogLevel* level);
bool log_enabled(LogLevel level);
// "2026-11-27T22:41:03.120Z": a time in milliseconds since the epoch, as log lines write it.
std::string utc_time_ms(long long ms_since_epoch);

// One field of a line as a log observer sees it: `text` for a quoted value
// (strings, booleans), false for a number written bare.
struct LogField {
  std::string key;
  std::string value;
  bool text = true;
};
using LogObserver = std::function<void(std::string_view event, const std::vector<LogField>& fields)>;

// Hands every line of one of `events` to `observer` as well, whatever the
// log level, on the thread that logs it, after the line is written. For the
// router's recent events (router/status_history.h). Set once, before the
// threads that log start; a later call replaces it for lines begun after.
void set_log_observer(std::vector<std::string> events, LogObserver observer);

class LogLine {
 public:
  LogLine(LogLevel level, std::string_view event);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  LogLine& kv(std::string_view key, std::string_view value);  // quoted, escaped
  LogLine& kv(std::string_view key, const char* value) { return kv(key, std::string_view(value)); }
  LogLine& kv(std::string_view key, const std::string& value) { return kv(key, std::string_view(value)); }
  LogLine& kv(std::string_view key, long long value);
  LogLine& kv(std::string_view key, unsigned long long value);
  LogLine& kv(std::string_view key, long value) { return kv(key, static_cast<long long>(value)); }
  LogLine& kv(std::string_view key, unsigned long value) { return kv(key, static_cast<unsigned long long>(value)); }
  LogLine& kv(std::string_view key, int value) { return kv(key, static_cast<long long>(value)); }
  LogLine& kv(std::string_view key, unsigned value) { return kv(key, static_cast<unsigned long long>(value)); }
  LogLine& kv(std::string_view key, double value);
  LogLine& kv(std::string_view key, bool value) { return kv(key, std::string_view(value ? "true" : "false")); }

  struct Observer;  // what set_log_observer installed (common/log.cc)

 private:
  bool enabled_;
  std::ostringstream out_;
  const Observer* observer_ = nullptr;  // set when this line's event is observed
  std::string event_;
  std::vector<LogField> fields_;
};

inline LogLine log_debug(std::string_view event) { return LogLine(LogLevel::kDebug, event); }
inline LogLine log_info(std::string_view event) { return LogLine(LogLevel::kInfo, event); }
inline LogLine log_warn(std::string_view event) { return LogLine(LogLevel::kWarn, event); }
inline LogLine log_error(std::string_view event) { return LogLine(LogLevel::kError, event); }

}  // namespace fsr
