// Request bodies the load generator uploads.
//
// Bodies are base64 text of pseudo-random bytes, produced on demand from a
// seed: a 200 MB body is never held whole, only streamed, and the same seed
// always yields the same bytes (so a transfer that curl rewinds for a retry
// sends the same body again).
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace fsr::load {

// A body streamed into an upload. read() fills `out` with up to `max` next
// bytes and returns how many (0 at the end); rewind() starts over.
class BodySource {
 public:
  virtual ~BodySource() = default;
  virtual uint64_t size() const = 0;
  virtual size_t read(char* out, size_t max) = 0;
  virtual void rewind() = 0;
};

// A body held in memory (small bodies of the edge cases).
class StringBody : public BodySource {
 public:
  explicit StringBody(std::string text) : text_(std::move(text)) {}
  uint64_t size() const override { return text_.size(); }
  size_t read(char* out, size_t max) override;
  void rewind() override { offset_ = 0; }

 private:
  std::string text_;
  size_t offset_ = 0;
};

// `size` bytes of base64 text (alphabet A-Z a-z 0-9 + /) of random bytes
// derived from `seed`.
class RandomTextBody : public BodySource {
 public:
  RandomTextBody(uint64_t seed, uint64_t size) : seed_(seed), size_(size) { rewind(); }
  uint64_t size() const override { return size_; }
  size_t read(char* out, size_t max) override;
  void rewind() override;

 private:
  uint64_t seed_, size_, state_ = 0, produced_ = 0;
  // Base64 characters generated but not yet handed out (up to 8).
  char pending_[8];
  int pending_count_ = 0, pending_used_ = 0;
};

// The whole text of RandomTextBody(seed, size), for small bodies and tests.
std::string random_text(uint64_t seed, uint64_t size);

// A file name of `min_letters`..`max_letters` random ASCII letters.
std::string random_letters_name(std::mt19937_64& rng, int min_letters = 12, int max_letters = 15);

}  // namespace fsr::load
