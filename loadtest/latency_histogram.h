// Latency histogram with bounded memory: values in microseconds in
// logarithmic buckets of 32 steps per power of two (about 3% resolution),
// exact below 64 us. Percentiles come from bucket midpoints.
#pragma once

#include <array>
#include <cstdint>

namespace fsr::load {

class LatencyHistogram {
 public:
  void record(int64_t micros);
  void merge(const LatencyHistogram& other);
  uint64_t count() const { return count_; }
  // Value at or below which `fraction` (0..1) of the samples fall; 0 if empty.
  int64_t percentile(double fraction) const;
  int64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }

 private:
  static constexpr int kSubBits = 5;
  static constexpr int kBuckets = 64 * 32;
  static int bucket_of(uint64_t micros);
  static int64_t value_of(int bucket);
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  int64_t max_ = 0;
  uint64_t sum_ = 0;
};

}  // namespace fsr::load
