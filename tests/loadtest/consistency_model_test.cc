#include "loadtest/consistency_model.h"

#include <gtest/gtest.h>

namespace fsr::load {
namespace {

const ContentState kA = ContentState::with(3, "aaaa");
const ContentState kB = ContentState::with(3, "bbbb");
const ContentState kC = ContentState::with(5, "cccc");
const ContentState kAbsent = ContentState::absent();

// Writes `content` over [start, end] with the given outcome.
void write(ConsistencyModel& m, const std::string& name, int64_t start, int64_t end, const ContentState& content,
           WriteOutcome outcome = WriteOutcome::kAcknowledged) {
  auto id = m.begin_write(name, start, content);
  m.end_write(name, id, end, outcome);
}

// Reads over [start, end] observing `observed`; true when judged valid.
bool read(ConsistencyModel& m, const std::string& name, int64_t start, int64_t end, const ContentState& observed) {
  auto id = m.begin_read(name, start);
  auto verdict = m.end_read(name, id, end, &observed);
  EXPECT_TRUE(verdict.checked);
  return verdict.valid;
}

TEST(ConsistencyModel, AfterAnAcknowledgedPutOnlyItsBytesAreValid) {
  ConsistencyModel m;
  write(m, "n", 10, 20, kA);
  EXPECT_TRUE(read(m, "n", 30, 40, kA));
  EXPECT_FALSE(read(m, "n", 30, 40, kAbsent));
  EXPECT_FALSE(read(m, "n", 30, 40, kB));
}

TEST(ConsistencyModel, AFreshNameIsAbsent) {
  ConsistencyModel m;
  EXPECT_TRUE(read(m, "fresh", 1, 2, kAbsent));
  EXPECT_FALSE(read(m, "fresh", 1, 2, kA));
}

TEST(ConsistencyModel, ReadOverlappingAWriteMayReturnOldOrNew) {
  ConsistencyModel m;
  write(m, "n", 0, 10, kA);
  auto b = m.begin_write("n", 20, kB);
  EXPECT_TRUE(read(m, "n", 30, 40, kA));
  EXPECT_TRUE(read(m, "n", 30, 40, kB));
  EXPECT_FALSE(read(m, "n", 30, 40, kAbsent));
  m.end_write("n", b, 50, WriteOutcome::kAcknowledged);
  EXPECT_FALSE(read(m, "n", 60, 70, kA));
  EXPECT_TRUE(read(m, "n", 60, 70, kB));
}

TEST(ConsistencyModel, ReadStartedBeforeTheAckMayStillReturnTheOldState) {
  ConsistencyModel m;
  write(m, "n", 0, 10, kA);
  auto early = m.begin_read("n", 25);
  write(m, "n", 20, 30, kB);
  EXPECT_TRUE(m.end_read("n", early, 40, &kA).valid);
  EXPECT_FALSE(read(m, "n", 35, 45, kA));
}

TEST(ConsistencyModel, WriteContentIsUnknownUntilItsBodyWasHandedOver) {
  ConsistencyModel m;
  write(m, "n", 0, 10, kA);
  auto b = m.begin_write("n", 20, std::nullopt);
  EXPECT_FALSE(read(m, "n", 21, 22, kB));
  m.set_write_content("n", b, kB);
  EXPECT_TRUE(read(m, "n", 23, 24, kB));
}

TEST(ConsistencyModel, OverlappingWritesMayLandInEitherOrder) {
  ConsistencyModel m;
  auto a = m.begin_write("n", 0, kA);
  auto b = m.begin_write("n", 5, kB);
  m.end_write("n", a, 10, WriteOutcome::kAcknowledged);
  m.end_write("n", b, 15, WriteOutcome::kAcknowledged);
  EXPECT_TRUE(read(m, "n", 20, 30, kA));
  EXPECT_TRUE(read(m, "n", 20, 30, kB));
  EXPECT_FALSE(read(m, "n", 20, 30, kAbsent));
  // A later write that started after both ended settles it.
  write(m, "n", 40, 50, kC);
  EXPECT_FALSE(read(m, "n", 60, 70, kA));
  EXPECT_FALSE(read(m, "n", 60, 70, kB));
  EXPECT_TRUE(read(m, "n", 60, 70, kC));
}

TEST(ConsistencyModel, AcknowledgedDeleteMeansNotFound) {
  ConsistencyModel m;
  write(m, "n", 0, 10, kA);
  write(m, "n", 20, 30, kAbsent);
  EXPECT_TRUE(read(m, "n", 40, 50, kAbsent));
  EXPECT_FALSE(read(m, "n", 40, 50, kA));
}

TEST(ConsistencyModel, RefusedWriteNeverLands) {
  ConsistencyModel m;
  write(m, "n", 0, 10, kA);
  write(m, "n", 20, 30, kB, WriteOutcome::kRefused);
  EXPECT_TRUE(read(m, "n", 40, 50, kA));
  EXPECT_FALSE(read(m, "n", 40, 50, kB));
}

TEST(ConsistencyModel, WriteWithUnknownOutcomeMayHaveLandedUntilSuperseded) {
  ConsistencyModel m;
  write(m, "n", 0, 10, kA);
  write(m, "n", 20, 30, kB, WriteOutcome::kUnknown);
  EXPECT_TRUE(read(m, "n", 40, 50, kA));
  EXPECT_TRUE(read(m, "n", 40, 50, kB));
  write(m, "n", 60, 70, kC);
  EXPECT_FALSE(read(m, "n", 80, 90, kA));
  EXPECT_FALSE(read(m, "n", 80, 90, kB));
  EXPECT_TRUE(read(m, "n", 80, 90, kC));
}

TEST(ConsistencyModel, ReadWithoutContentAnswerIsNotJudged) {
  ConsistencyModel m;
  write(m, "n", 0, 10, kA);
  auto id = m.begin_read("n", 20);
  auto verdict = m.end_read("n", id, 30, nullptr);
  EXPECT_FALSE(verdict.checked);
  EXPECT_TRUE(verdict.valid);
}

TEST(ConsistencyModel, ForgetsNamesThatAreBackToAbsent) {
  ConsistencyModel m;
  write(m, "n", 0, 10, kA);
  EXPECT_TRUE(m.knows("n"));
  write(m, "n", 20, 30, kAbsent);
  EXPECT_FALSE(m.knows("n"));
  EXPECT_EQ(m.name_count(), 0u);
  // Forgetting changes nothing: the name is absent either way.
  EXPECT_TRUE(read(m, "n", 40, 50, kAbsent));
}

TEST(ConsistencyModel, ManyWritesLeaveOnlyTheLatestValid) {
  ConsistencyModel m;
  for (int i = 0; i < 1000; ++i) write(m, "n", i * 10, i * 10 + 5, ContentState::with(i, "x"));
  EXPECT_TRUE(read(m, "n", 20000, 20001, ContentState::with(999, "x")));
  EXPECT_FALSE(read(m, "n", 20000, 20001, ContentState::with(998, "x")));
}

}  // namespace
}  // namespace fsr::load
