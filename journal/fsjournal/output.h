// How fsjournal prints: aligned human tables, UTC times, byte counts, and
// JSON that never fails on a name that is not valid UTF-8.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace fsr::journal::cli {

// A table printed with columns padded to their widest cell. The last column
// is not padded (names go there: they may be long).
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

int64_t now_ms();
// "2026-11-27T22:41:03.120Z"
std::string format_time(int64_t ms);
// "850ms", "12.3s", "5m07s", "3h12m", "2d04h"
std::string format_duration(int64_t ms);
// "1234 (1.2 KiB)" for numbers past 1023, else "512"
std::string format_bytes(uint64_t bytes);

// Accepts an RFC 3339 time ("2026-11-27T22:41:03Z", fractions and offsets
// allowed, a space for the T, no zone means UTC), a date ("2026-11-27",
// midnight UTC), milliseconds since the epoch ("@1764283263120"), or an age
// ("90s", "15m", "2h", "1d": that long before now). nullopt when malformed.
std::optional<int64_t> parse_time(const std::string& text, int64_t now);

// One line of JSON; invalid UTF-8 in strings is replaced, never thrown on.
std::string json_line(const nlohmann::ordered_json& j);
std::string json_pretty(const nlohmann::ordered_json& j);

// Standard base64 of bytes, for `export --bodies`.
class Base64Encoder {
 public:
  explicit Base64Encoder(std::ostream& out) : out_(out) {}
  void update(const char* data, size_t size);
  void finish();

 private:
  std::ostream& out_;
  unsigned char pending_[3];
  int pending_size_ = 0;
};

}  // namespace fsr::journal::cli
