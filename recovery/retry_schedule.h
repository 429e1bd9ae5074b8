// How the applier paces the attempts at one record, and what counts as done.
// Pure functions: the applier's workers call them; tests check them alone.
//
// - A record is applied only when the backend answers its PUT with 201 or its
//   DELETE with 200. Any other answer, and no answer, is a failure.
// - The attempt after `failures` failed ones gets the backend timeout
//   `timeout` doubled `failures` times, never past `timeout_max`, so a backend
//   slower than the timeout still converges.
// - After a failure the next attempt waits a backoff drawn uniformly from
//   [base, base + max(1 ms, base / 2)] (the jitter spreads the retries of
//   many names), where, with n the failures so far (this one included):
//     429 (the backend is full):            base 50 ms;
//     any other answer (5XX, 4XX, 200...):  base 100 ms * 2^min(n, 6), at most 5 s;
//     no answer (refused, timed out, cut):  base 50 ms * 2^min(n, 6), at most 5 s.
// - A backend success whose applied mark the journal failed to write is a
//   failure too (the record is sent again): base 100 ms * 2^min(n, 6), at
//   most 5 s, as for an answer.
// - A name the NameGuard refuses is looked at again when the guard says, but
//   never later than kGuardRecheck from now: the guard's answer is a guess,
//   and a name must never be parked for good.
#pragma once

#include <chrono>
#include <random>

#include "journal/record.h"
#include "router/upstream/backend_call.h"

namespace fsr::recovery {

// True when this answer means the volume holds the record.
bool applies_record(journal::Op op, const router::BackendResult& result);

std::chrono::milliseconds attempt_timeout(int failures, std::chrono::milliseconds timeout,
                                          std::chrono::milliseconds timeout_max);

// The range a retry's backoff is drawn from (both ends included).
struct BackoffRange {
  std::chrono::milliseconds min;
  std::chrono::milliseconds max;
};
BackoffRange retry_backoff(const router::BackendResult& result, int failures);
std::chrono::milliseconds draw_backoff(const BackoffRange& range, std::mt19937_64& rng);
BackoffRange mark_retry_backoff(int failures);

inline constexpr std::chrono::milliseconds kGuardRecheck{1000};
std::chrono::steady_clock::time_point guard_retry_at(std::chrono::steady_clock::time_point retry_at,
                                                     std::chrono::steady_clock::time_point now);

}  // namespace fsr::recovery
