#include "loadtest/schedule.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace fsr::load {

RateSchedule RateSchedule::constant(double rate) {
  RateSchedule s;
  s.kind_ = Kind::kConstant;
  s.a_ = rate;
  return s;
}

RateSchedule RateSchedule::linear(double start, double end, double duration_sec) {
  RateSchedule s;
  s.kind_ = Kind::kLinear;
  s.a_ = start;
  s.b_ = end;
  s.c_ = duration_sec > 0 ? duration_sec : 1;
  return s;
}

RateSchedule RateSchedule::challenge(double start, double step, double accel) {
  RateSchedule s;
  s.kind_ = Kind::kChallenge;
  s.a_ = start;
  s.b_ = step;
  s.c_ = accel;
  return s;
}

double RateSchedule::rate_at_second(int64_t second) const {
  switch (kind_) {
    case Kind::kConstant:
      return a_;
    case Kind::kLinear: {
      double at = std::min(1.0, (static_cast<double>(second) + 0.5) / c_);
      return std::max(0.0, a_ + (b_ - a_) * at);
    }
    case Kind::kChallenge: {
      // start + step x (60 x sum_{j<m} accel^j + r x accel^m), m = minute, r = second in minute.
      int64_t minute = second / 60, in_minute = second % 60;
      double full_minutes = 0, power = 1;
      for (int64_t j = 0; j < minute; ++j) {
        full_minutes += power;
        power *= c_;
      }
      return a_ + b_ * (60.0 * full_minutes + static_cast<double>(in_minute) * power);
    }
  }
  return 0;
}

double RateSchedule::cumulative_before(int64_t second) const {
  double s = static_cast<double>(second);
  switch (kind_) {
    case Kind::kConstant:
      return a_ * s;
    case Kind::kLinear: {
      // Seconds whose middle falls before the end ramp up; the rest run at `end`.
      double ramping = std::min(s, std::max(0.0, std::ceil(c_ - 0.5)));
      return ramping * a_ + (b_ - a_) / c_ * ramping * ramping / 2 + (s - ramping) * b_;
    }
    case Kind::kChallenge: {
      // Closed form of the sum of rate_at_second, minute by minute.
      int64_t minutes = second / 60, rest = second % 60;
      double sum = 0, full_before = 0, power = 1;
      for (int64_t m = 0; m < minutes; ++m) {
        sum += 60 * a_ + b_ * (3600 * full_before + 1770 * power);
        full_before += power;
        power *= c_;
      }
      double r = static_cast<double>(rest);
      return sum + r * a_ + b_ * (r * 60 * full_before + power * r * (r - 1) / 2);
    }
  }
  return 0;
}

int64_t RateSchedule::slots_in_second(int64_t second) const {
  double before = cumulative_before(second);
  double after = before + rate_at_second(second);
  // A small epsilon keeps integer rates exact despite rounding in the sums.
  return static_cast<int64_t>(std::floor(after + 1e-9)) - static_cast<int64_t>(std::floor(before + 1e-9));
}

int64_t RateSchedule::slots_before(double sec) const {
  if (sec <= 0) return 0;
  auto whole = static_cast<int64_t>(std::floor(sec));
  double fraction = sec - static_cast<double>(whole);
  auto full = static_cast<int64_t>(std::floor(cumulative_before(whole) + 1e-9));
  // Slots of second s fall at s + i/n.
  return full + static_cast<int64_t>(std::ceil(fraction * static_cast<double>(slots_in_second(whole)) - 1e-9));
}

std::string RateSchedule::describe() const {
  std::ostringstream out;
  switch (kind_) {
    case Kind::kConstant:
      out << "constant " << a_ << "/s";
      break;
    case Kind::kLinear:
      out << "linear " << a_ << "/s to " << b_ << "/s over " << c_ << " s";
      break;
    case Kind::kChallenge:
      out << "challenge ramp from " << a_ << "/s, +" << b_ << "/s each second, growth x" << c_
          << " each minute";
      break;
  }
  return out.str();
}

SlotCursor::SlotCursor(const RateSchedule& schedule, int worker, int workers)
    : schedule_(schedule), worker_(worker), workers_(workers < 1 ? 1 : workers) {
  slots_ = schedule_.slots_in_second(0);
  in_second_ = -1;
  advance();
}

void SlotCursor::step() {
  ++in_second_;
  // Skips seconds without slots, but never more than a day of them.
  for (int guard = 0; in_second_ >= slots_ && guard < 86400; ++guard) {
    ++second_;
    in_second_ = 0;
    slots_ = schedule_.slots_in_second(second_);
  }
  ++global_index_;
  due_ = static_cast<double>(second_) +
         (slots_ > 0 ? static_cast<double>(in_second_) / static_cast<double>(slots_) : 0.0);
}

void SlotCursor::advance() {
  do {
    step();
  } while (global_index_ % workers_ != worker_);
}

}  // namespace fsr::load
