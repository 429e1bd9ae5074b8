#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace fsr {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
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
  if (!enabled_) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = ms / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  out_ << "ts=" << buf << " level=" << level_name(level) << " event=" << event;
}

LogLine::~LogLine() {
  if (!enabled_) return;
  out_ << '\n';
  std::string s = out_.str();
  // One write(2) per line: atomic with respect to other lines on a pipe or file.
  ssize_t ignored = ::write(STDERR_FILENO, s.data(), s.size());
  (void)ignored;
}

LogLine& LogLine::kv(std::string_view key, std::string_view value) {
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
  if (enabled_) out_ << ' ' << key << '=' << value;
  return *this;
}
LogLine& LogLine::kv(std::string_view key, unsigned long long value) {
  if (enabled_) out_ << ' ' << key << '=' << value;
  return *this;
}
LogLine& LogLine::kv(std::string_view key, double value) {
  if (enabled_) out_ << ' ' << key << '=' << value;
  return *this;
}

}  // namespace fsr
