#include "loadtest/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace fsr::load {

int LatencyHistogram::bucket_of(uint64_t v) {
  constexpr uint64_t kSub = 1u << kSubBits;
  if (v < 2 * kSub) return static_cast<int>(v);
  int msb = 63 - std::countl_zero(v);
  int shift = msb - kSubBits;
  uint64_t top = v >> shift;  // in [32, 63]
  int bucket = (shift + 1) * static_cast<int>(kSub) + static_cast<int>(top - kSub);
  return std::min(bucket, kBuckets - 1);
}

int64_t LatencyHistogram::value_of(int bucket) {
  constexpr int kSub = 1 << kSubBits;
  if (bucket < 2 * kSub) return bucket;
  int shift = bucket / kSub - 1;
  int64_t top = bucket % kSub + kSub;
  return (top << shift) + ((int64_t{1} << shift) >> 1);
}

void LatencyHistogram::record(int64_t micros) {
  if (micros < 0) micros = 0;
  ++buckets_[bucket_of(static_cast<uint64_t>(micros))];
  ++count_;
  sum_ += static_cast<uint64_t>(micros);
  max_ = std::max(max_, micros);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

int64_t LatencyHistogram::percentile(double fraction) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(std::clamp(fraction, 0.0, 1.0) * static_cast<double>(count_)));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(value_of(i), max_);
  }
  return max_;
}

}  // namespace fsr::load
