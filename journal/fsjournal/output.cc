#include "journal/fsjournal/output.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace fsr::journal::cli {

namespace {

// Terminal columns of UTF-8 text: one per code point (continuation bytes do not count).
size_t display_width(const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

void Table::print(std::ostream& out) const {
  std::vector<size_t> width(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], display_width(row[i]));
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (size_t i = 0; i < row.size(); ++i) {
      text += row[i];
      if (i + 1 < row.size()) text += std::string(width[i] - display_width(row[i]) + 2, ' ');
    }
    out << text << "\n";
  };
  line(header_);
  for (const auto& row : rows_) line(row);
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_time(int64_t ms) {
  time_t seconds = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int millis = static_cast<int>(ms - static_cast<int64_t>(seconds) * 1000);
  struct tm tm {};
  gmtime_r(&seconds, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string format_duration(int64_t ms) {
  char buf[40];
  if (ms < 0) ms = 0;
  if (ms < 1000) std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  else if (ms < 60'000) std::snprintf(buf, sizeof buf, "%.1fs", ms / 1000.0);
  else if (ms < 3'600'000) std::snprintf(buf, sizeof buf, "%lldm%02llds", ms / 60'000LL, (ms / 1000) % 60LL);
  else if (ms < 86'400'000) std::snprintf(buf, sizeof buf, "%lldh%02lldm", ms / 3'600'000LL, (ms / 60'000) % 60LL);
  else std::snprintf(buf, sizeof buf, "%lldd%02lldh", ms / 86'400'000LL, (ms / 3'600'000) % 24LL);
  return buf;
}

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes);
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = -1;
  while (v >= 1024 && unit < 3) {
    v /= 1024;
    ++unit;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%llu (%.1f %s)", static_cast<unsigned long long>(bytes), v, units[unit]);
  return buf;
}

std::optional<int64_t> parse_time(const std::string& text, int64_t now) {
  if (text.empty()) return std::nullopt;
  auto all_digits = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (text[0] == '@') {
    std::string digits = text.substr(1);
    if (!all_digits(digits) || digits.size() > 15) return std::nullopt;
    return std::stoll(digits);
  }
  // An age: digits and one unit.
  size_t unit_at = text.find_first_not_of("0123456789");
  if (unit_at != std::string::npos && unit_at > 0 && unit_at <= 9) {
    std::string unit = text.substr(unit_at);
    int64_t n = std::stoll(text.substr(0, unit_at));
    int64_t scale = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60'000 : unit == "h" ? 3'600'000
                  : unit == "d" ? 86'400'000 : 0;
    if (scale != 0) return now - n * scale;
  }
  int year, month, day, hour = 0, minute = 0, second = 0, used = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &used) != 3 || used != 10) return std::nullopt;
  size_t pos = 10;
  int64_t millis = 0;
  int64_t offset_s = 0;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return std::nullopt;
    ++pos;
    if (std::sscanf(text.c_str() + pos, "%2d:%2d%n", &hour, &minute, &used) != 2 || used != 5) return std::nullopt;
    pos += 5;
    if (pos < text.size() && text[pos] == ':') {
      if (std::sscanf(text.c_str() + pos + 1, "%2d%n", &second, &used) != 1 || used != 2) return std::nullopt;
      pos += 3;
      if (pos < text.size() && text[pos] == '.') {
        ++pos;
        int digits = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
          if (digits < 3) millis = millis * 10 + (text[pos] - '0');
          ++digits;
          ++pos;
        }
        if (digits == 0) return std::nullopt;
        for (; digits < 3; ++digits) millis *= 10;
      }
    }
    if (pos < text.size()) {
      char z = text[pos];
      if ((z == 'Z' || z == 'z') && pos + 1 == text.size()) {
        pos = text.size();
      } else if (z == '+' || z == '-') {
        int oh = 0, om = 0;
        if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d%n", &oh, &om, &used) != 2 || used != 5 ||
            pos + 6 != text.size())
          return std::nullopt;
        offset_s = (z == '+' ? 1 : -1) * (oh * 3600 + om * 60);
        pos = text.size();
      } else {
        return std::nullopt;
      }
    }
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  time_t t = timegm(&tm);
  return (static_cast<int64_t>(t) - offset_s) * 1000 + millis;
}

std::string json_line(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string json_pretty(const nlohmann::ordered_json& j) {
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

namespace {
const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

void Base64Encoder::update(const char* data, size_t size) {
  std::string out;
  out.reserve(size / 3 * 4 + 8);
  for (size_t i = 0; i < size; ++i) {
    pending_[pending_size_++] = static_cast<unsigned char>(data[i]);
    if (pending_size_ == 3) {
      out.push_back(kBase64[pending_[0] >> 2]);
      out.push_back(kBase64[((pending_[0] & 3) << 4) | (pending_[1] >> 4)]);
      out.push_back(kBase64[((pending_[1] & 15) << 2) | (pending_[2] >> 6)]);
      out.push_back(kBase64[pending_[2] & 63]);
      pending_size_ = 0;
    }
  }
  out_ << out;
}

void Base64Encoder::finish() {
  if (pending_size_ == 0) return;
  unsigned char b1 = pending_size_ > 1 ? pending_[1] : 0;
  out_ << kBase64[pending_[0] >> 2] << kBase64[((pending_[0] & 3) << 4) | (b1 >> 4)]
       << (pending_size_ > 1 ? kBase64[(b1 & 15) << 2] : '=') << '=';
  pending_size_ = 0;
}

}  // namespace fsr::journal::cli
