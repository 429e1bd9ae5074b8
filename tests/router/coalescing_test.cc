// Coalescing (design "Speed comes from"): only the latest state of a name is
// sent to the backend; an older pending PUT is moot. And --ack backend.
#include <gtest/gtest.h>

#include "tests/support/stack.h"

namespace fsr::test {
namespace {

TEST(RouterCoalescing, OverwritesWhileTheBackendIsAwaySendOnlyTheLatest) {
  Stack stack("coalesce");
  stack.start_backends(1, 10);
  stack.kill_backend(0);
  stack.start_router();
  auto c = stack.client();
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(c->Put(api("overwritten").c_str(), "version " + std::to_string(i), "application/octet-stream")->status,
              201);
  // PUT then DELETE of a name: only the DELETE goes out (the volume may hold
  // an older file the router never saw, so the DELETE itself is not moot).
  ASSERT_EQ(c->Put(api("short-lived").c_str(), "soon gone", "application/octet-stream")->status, 201);
  ASSERT_EQ(c->Delete(api("short-lived").c_str())->status, 200);
  stack.start_backend(0);
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(30)));
  std::string log = stack.backend_logs();
  EXPECT_EQ(count_occurrences(log, "method=\"PUT\" name=\"overwritten\""), 1);
  EXPECT_EQ(read_file(stack.data_dir() + "/overwritten"), "version 9");
  EXPECT_EQ(count_occurrences(log, "method=\"PUT\" name=\"short-lived\""), 0);
  EXPECT_EQ(count_occurrences(log, "method=\"DELETE\" name=\"short-lived\""), 1);
}

TEST(RouterCoalescing, DeleteAfterAnAppliedDeleteIsNotSentAgain) {
  Stack stack("moot-delete");
  stack.start_backends(1, 10);
  stack.start_router();
  auto c = stack.client();
  ASSERT_EQ(c->Put(api("twice").c_str(), "x", "application/octet-stream")->status, 201);
  ASSERT_EQ(c->Delete(api("twice").c_str())->status, 200);
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(30)));
  ASSERT_EQ(c->Delete(api("twice").c_str())->status, 200);
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(30)));
  EXPECT_LE(count_occurrences(stack.backend_logs(), "method=\"DELETE\" name=\"twice\""), 1);
}

TEST(RouterAckBackend, WriteIsOnTheVolumeWhenAcknowledged) {
  Stack stack("ack-backend");
  stack.start_backends(1, 50);
  stack.start_router({"--ack", "backend"});
  auto c = stack.client();
  auto put = c->Put(api("acked-late").c_str(), "on disk", "application/octet-stream");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 201);
  EXPECT_EQ(read_file(stack.data_dir() + "/acked-late"), "on disk");
  auto del = c->Delete(api("acked-late").c_str());
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 200);
  EXPECT_FALSE(file_exists(stack.data_dir() + "/acked-late"));
}

}  // namespace
}  // namespace fsr::test
