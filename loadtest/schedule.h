// Open-loop request schedules: how many requests are due in each second of a
// run, spread evenly over that second.
//
// A schedule is a rate per whole second. The number of slots in second s is
// floor(C(s+1)) - floor(C(s)) where C(s) is the sum of the rates of seconds
// before s, so fractional rates add up instead of being rounded away.
#pragma once

#include <cstdint>
#include <string>

namespace fsr::load {

class RateSchedule {
 public:
  // `rate` requests every second.
  static RateSchedule constant(double rate);
  // From `start` to `end` requests/s over `duration_sec` (the rate of second s
  // is taken at its middle).
  static RateSchedule linear(double start, double end, double duration_sec);
  // The live test's accelerating ramp: starts at `start`, each second adds
  // `step` x `accel`^minute, so the growth itself grows every minute. With
  // the defaults (1, 1, 1.7) the rate passes 1,000/s after five minutes.
  static RateSchedule challenge(double start, double step, double accel);

  double rate_at_second(int64_t second) const;
  // Requests due in second `second`.
  int64_t slots_in_second(int64_t second) const;
  // Slots due before `sec` seconds since the start.
  int64_t slots_before(double sec) const;
  // Sum of the rates of the seconds before `second`.
  double cumulative_before(int64_t second) const;
  std::string describe() const;

 private:
  enum class Kind { kConstant, kLinear, kChallenge };
  Kind kind_ = Kind::kConstant;
  double a_ = 0, b_ = 0, c_ = 0;
};

// Walks the slots of a schedule in time order. With `workers` > 1 each worker
// takes every workers-th slot, starting at its own index.
class SlotCursor {
 public:
  SlotCursor(const RateSchedule& schedule, int worker = 0, int workers = 1);
  // Seconds since the start of the run at which the current slot is due.
  double due() const { return due_; }
  void advance();

 private:
  void step();  // moves to the next slot of any worker
  const RateSchedule& schedule_;
  int worker_, workers_;
  int64_t second_ = 0, in_second_ = 0, slots_ = 0, global_index_ = -1;
  double due_ = 0;
};

}  // namespace fsr::load
