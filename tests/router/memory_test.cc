// Bounded memory (design invariant 8): a 200 MB body streams up, down and on
// to the backend without the router holding it.
#include <gtest/gtest.h>

#include "common/checksum.h"
#include "tests/support/stack.h"

namespace fsr::test {
namespace {

TEST(RouterMemory, TwoHundredMegabyteUploadAndDownloadKeepResidentMemoryBounded) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "resident memory is not meaningful under sanitizers";
#endif
  Stack stack("memory");
  stack.start_backends(1, 10);
  stack.start_router();
  const size_t size = 200u << 20;
  const std::string block = random_body(1 << 20, 3);  // the body repeats this 1 MiB block
  Checksum sent;
  auto c = stack.client(120);
  auto put = c->Put(
      api("huge").c_str(), size,
      [&](size_t offset, size_t length, httplib::DataSink& sink) {
        size_t in_block = offset % block.size();
        size_t n = std::min(length, block.size() - in_block);
        sent.update(block.data() + in_block, n);
        return sink.write(block.data() + in_block, n);
      },
      "application/octet-stream");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 201);
  std::string sent_sum = sent.hex();

  Checksum received;
  size_t received_bytes = 0;
  auto get = c->Get(api("huge").c_str(), [&](const char* data, size_t n) {
    received.update(data, n);
    received_bytes += n;
    return true;
  });
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(received_bytes, size);
  EXPECT_EQ(received.hex(), sent_sum);

  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(120)));
  Checksum on_volume;
  {
    FILE* f = std::fopen((stack.data_dir() + "/huge").c_str(), "rb");
    ASSERT_NE(f, nullptr);
    std::vector<char> buf(1 << 20);
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) on_volume.update(buf.data(), n);
    std::fclose(f);
  }
  EXPECT_EQ(on_volume.hex(), sent_sum);

  long peak_kib = peak_rss_kib(stack.router().pid());
  std::cout << "router peak resident memory: " << peak_kib / 1024 << " MiB for a " << (size >> 20)
            << " MiB body\n";
  EXPECT_GT(peak_kib, 0);
  EXPECT_LT(peak_kib, 100 * 1024) << "the router held the body in memory";
}

}  // namespace
}  // namespace fsr::test
