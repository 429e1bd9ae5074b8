#include "recovery/retry_schedule.h"

#include <algorithm>

namespace fsr::recovery {

using std::chrono::milliseconds;

bool applies_record(journal::Op op, const router::BackendResult& result) {
  if (!result.answered()) return false;
  return (op == journal::Op::kPut && result.status == 201) || (op == journal::Op::kDelete && result.status == 200);
}

milliseconds attempt_timeout(int failures, milliseconds timeout, milliseconds timeout_max) {
  auto t = timeout;
  for (int i = 0; i < failures && t < timeout_max; ++i) t *= 2;
  return std::min(t, timeout_max);
}

BackoffRange retry_backoff(const router::BackendResult& result, int failures) {
  int doublings = std::clamp(failures, 0, 6);
  milliseconds base;
  if (result.answered() && result.status == 429) base = milliseconds(50);
  else if (result.answered()) base = milliseconds(std::min(5000, 100 << doublings));
  else base = milliseconds(std::min(5000, 50 << doublings));
  return {base, base + std::max(milliseconds(1), base / 2)};
}

BackoffRange mark_retry_backoff(int failures) {
  milliseconds base(std::min(5000, 100 << std::clamp(failures, 0, 6)));
  return {base, base + std::max(milliseconds(1), base / 2)};
}

std::chrono::steady_clock::time_point guard_retry_at(std::chrono::steady_clock::time_point retry_at,
                                                     std::chrono::steady_clock::time_point now) {
  return retry_at > now + kGuardRecheck ? now + kGuardRecheck : retry_at;
}

milliseconds draw_backoff(const BackoffRange& range, std::mt19937_64& rng) {
  std::uniform_int_distribution<int64_t> d(range.min.count(), range.max.count());
  return milliseconds(d(rng));
}

}  // namespace fsr::recovery
