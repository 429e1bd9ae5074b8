#include <gtest/gtest.h>

#include <set>
#include <string>

#include "loadtest/body.h"
#include "loadtest/latency_histogram.h"
#include "loadtest/schedule.h"

namespace fsr::load {
namespace {

TEST(RateSchedule, ConstantRateGivesThatManySlotsEverySecond) {
  auto s = RateSchedule::constant(7);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.slots_in_second(i), 7);
  auto half = RateSchedule::constant(2.5);
  int64_t total = 0;
  for (int i = 0; i < 10; ++i) total += half.slots_in_second(i);
  EXPECT_EQ(total, 25);
  EXPECT_EQ(half.slots_before(10), 25);
}

TEST(RateSchedule, ClosedFormSumsMatchSecondBySecond) {
  for (const auto& s : {RateSchedule::linear(10, 20, 10), RateSchedule::linear(5, 1, 7.5),
                        RateSchedule::challenge(1, 1, 1.7), RateSchedule::challenge(3, 0.5, 2)}) {
    double sum = 0;
    for (int sec = 0; sec < 400; ++sec) {
      EXPECT_NEAR(s.cumulative_before(sec), sum, 1e-6 * (1 + sum)) << s.describe() << " second " << sec;
      sum += s.rate_at_second(sec);
    }
  }
  EXPECT_EQ(RateSchedule::linear(10, 20, 10).slots_before(10), 150);
}

TEST(RateSchedule, ChallengeRampStartsNearOneAndPassesOneThousandAfterFiveMinutes) {
  auto s = RateSchedule::challenge(1, 1, 1.7);
  EXPECT_DOUBLE_EQ(s.rate_at_second(0), 1);
  EXPECT_GT(s.rate_at_second(1), s.rate_at_second(0));
  // The growth itself grows every minute.
  double growth_minute0 = s.rate_at_second(31) - s.rate_at_second(30);
  double growth_minute1 = s.rate_at_second(91) - s.rate_at_second(90);
  EXPECT_GT(growth_minute1, growth_minute0);
  EXPECT_LT(s.rate_at_second(240), 1000);
  EXPECT_GT(s.rate_at_second(300), 1000);
}

TEST(SlotCursor, SpreadsSlotsEvenlyOverEachSecond) {
  auto s = RateSchedule::constant(4);
  SlotCursor c(s);
  for (double expected : {0.0, 0.25, 0.5, 0.75, 1.0, 1.25}) {
    EXPECT_DOUBLE_EQ(c.due(), expected);
    c.advance();
  }
}

TEST(SlotCursor, WorkersShareTheSlotsWithoutOverlap) {
  auto s = RateSchedule::linear(3, 30, 5);
  std::multiset<double> all;
  for (int w = 0; w < 3; ++w) {
    SlotCursor c(s, w, 3);
    for (; c.due() < 5; c.advance()) all.insert(c.due());
  }
  SlotCursor single(s);
  std::multiset<double> expected;
  for (; single.due() < 5; single.advance()) expected.insert(single.due());
  EXPECT_EQ(all, expected);
  EXPECT_EQ(static_cast<int64_t>(expected.size()), s.slots_before(5));
}

TEST(LatencyHistogram, PercentilesWithinThreePercent) {
  LatencyHistogram h;
  for (int v = 1; v <= 100000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_NEAR(h.percentile(0.5), 50000, 1500);
  EXPECT_NEAR(h.percentile(0.99), 99000, 3000);
  EXPECT_EQ(h.max(), 100000);
  EXPECT_EQ(h.percentile(0.0), 1);
  LatencyHistogram small;
  for (int v : {5, 7, 9}) small.record(v);
  EXPECT_EQ(small.percentile(0.5), 7);
}

TEST(RandomTextBody, SameBytesWhateverTheReadSizes) {
  std::string whole = random_text(42, 10007);
  ASSERT_EQ(whole.size(), 10007u);
  RandomTextBody body(42, 10007);
  std::string pieces;
  char buf[64];
  size_t step = 1;
  while (size_t n = body.read(buf, step)) {
    pieces.append(buf, n);
    step = step % 13 + 1;
  }
  EXPECT_EQ(pieces, whole);
  body.rewind();
  std::string again(10007, '\0');
  EXPECT_EQ(body.read(again.data(), again.size()), 10007u);
  EXPECT_EQ(again, whole);
  EXPECT_EQ(whole.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
            std::string::npos);
  EXPECT_NE(random_text(43, 100), random_text(42, 100));
}

TEST(RandomLettersName, TwelveToFifteenAsciiLetters) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200; ++i) {
    std::string name = random_letters_name(rng);
    EXPECT_GE(name.size(), 12u);
    EXPECT_LE(name.size(), 15u);
    for (char c : name) EXPECT_TRUE(std::isalpha(static_cast<unsigned char>(c))) << name;
  }
}

}  // namespace
}  // namespace fsr::load
