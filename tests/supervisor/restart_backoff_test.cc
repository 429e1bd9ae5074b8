#include "supervisor/restart_backoff.h"

#include <gtest/gtest.h>

using fsr::supervisor::RestartBackoff;
using std::chrono::milliseconds;

TEST(RestartBackoff, FirstExitRestartsAtOnceThenQuickExitsDoubleTheWaitUpToTheCap) {
  RestartBackoff backoff(milliseconds(100), milliseconds(500), milliseconds(10000));
  EXPECT_EQ(backoff.after_exit(milliseconds(5)), milliseconds(0));
  EXPECT_EQ(backoff.after_exit(milliseconds(5)), milliseconds(100));
  EXPECT_EQ(backoff.after_exit(milliseconds(5)), milliseconds(200));
  EXPECT_EQ(backoff.after_exit(milliseconds(5)), milliseconds(400));
  EXPECT_EQ(backoff.after_exit(milliseconds(5)), milliseconds(500));
  EXPECT_EQ(backoff.after_exit(milliseconds(5)), milliseconds(500));
  EXPECT_EQ(backoff.quick_exits(), 6);
}

TEST(RestartBackoff, AChildThatLivedStableAfterResetsTheStreak) {
  RestartBackoff backoff(milliseconds(100), milliseconds(10000), milliseconds(1000));
  backoff.after_exit(milliseconds(1));
  backoff.after_exit(milliseconds(1));
  EXPECT_EQ(backoff.after_exit(milliseconds(1)), milliseconds(200));
  EXPECT_EQ(backoff.after_exit(milliseconds(1000)), milliseconds(0));
  EXPECT_EQ(backoff.after_exit(milliseconds(999)), milliseconds(100));
}

TEST(RestartBackoff, ALongStreakNeitherOverflowsNorPassesTheCap) {
  RestartBackoff backoff(milliseconds(1), milliseconds(10000), milliseconds(1000));
  milliseconds last{0};
  for (int i = 0; i < 200; ++i) last = backoff.after_exit(milliseconds(0));
  EXPECT_EQ(last, milliseconds(10000));
}
