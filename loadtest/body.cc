#include "loadtest/body.h"

#include <algorithm>
#include <cstring>

namespace fsr::load {
namespace {
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// splitmix64: fast, and good enough to make bodies differ.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Base64 of 6 random bytes: 8 characters.
void eight_chars(uint64_t& state, char* out) {
  uint64_t bits = next_random(state) >> 16;  // 48 bits
  for (int i = 7; i >= 0; --i) {
    out[i] = kBase64[bits & 63];
    bits >>= 6;
  }
}
}  // namespace

size_t StringBody::read(char* out, size_t max) {
  size_t n = std::min(max, text_.size() - offset_);
  std::memcpy(out, text_.data() + offset_, n);
  offset_ += n;
  return n;
}

void RandomTextBody::rewind() {
  state_ = seed_ * 0x2545F4914F6CDD1DULL + 1;
  produced_ = 0;
  pending_count_ = pending_used_ = 0;
}

size_t RandomTextBody::read(char* out, size_t max) {
  uint64_t left = size_ - produced_;
  size_t n = static_cast<size_t>(std::min<uint64_t>(max, left));
  size_t done = 0;
  while (done < n && pending_used_ < pending_count_) out[done++] = pending_[pending_used_++];
  while (n - done >= 8) {
    eight_chars(state_, out + done);
    done += 8;
  }
  if (done < n) {
    eight_chars(state_, pending_);
    pending_count_ = 8;
    pending_used_ = 0;
    while (done < n) out[done++] = pending_[pending_used_++];
  }
  produced_ += n;
  return n;
}

std::string random_text(uint64_t seed, uint64_t size) {
  RandomTextBody body(seed, size);
  std::string text(size, '\0');
  size_t got = 0;
  while (got < size) got += body.read(text.data() + got, size - got);
  return text;
}

std::string random_letters_name(std::mt19937_64& rng, int min_letters, int max_letters) {
  static constexpr char kLetters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  int length = std::uniform_int_distribution<int>(min_letters, max_letters)(rng);
  std::string name(static_cast<size_t>(length), 'a');
  std::uniform_int_distribution<int> pick(0, 51);
  for (auto& c : name) c = kLetters[pick(rng)];
  return name;
}

}  // namespace fsr::load
