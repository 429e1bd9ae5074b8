// A 200 MB body streams through the fileserver stand-in both ways while its
// peak resident memory stays far below the body size. Neither side ever
// holds the body whole: the test generates and checks it block by block.
#include <gtest/gtest.h>

#include <iostream>

#include "common/checksum.h"
#include "common/names.h"
#include "tests/fileserver/fileserver_harness.h"

namespace fsr::test {
namespace {

constexpr size_t kBlockBytes = 1 << 20;
constexpr size_t kBlocks = 200;
constexpr long kPeakRssLimitKib = 64 * 1024;

// Block i of the body: a fixed random block with i written into its start.
void make_block(const std::string& base, size_t index, std::string* block) {
  *block = base;
  std::string tag = "block-" + std::to_string(index) + ";";
  block->replace(0, tag.size(), tag);
}

TEST(FileServerMemoryTest, TwoHundredMegabytesStreamThroughWithSmallPeakMemory) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizer shadow memory makes resident size meaningless";
#endif
  TempDir dir("fsr-fileserver-memory");
  FileServerOptions options;
  options.data_dir = dir / "data";
  options.log_path = dir / "fileserver.log";
  options.latency_ms = 50;
  FileServerProcess server(options);

  const std::string base = random_body(kBlockBytes, 42);
  const size_t total = kBlockBytes * kBlocks;
  Checksum sent;
  {
    RawConnection conn(server.port());
    ASSERT_TRUE(conn.connected());
    ASSERT_TRUE(conn.send_all("PUT " + backend_path("big") + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                              std::to_string(total) + "\r\n\r\n"));
    std::string block;
    for (size_t i = 0; i < kBlocks; ++i) {
      make_block(base, i, &block);
      sent.update(block);
      ASSERT_TRUE(conn.send_all(block)) << "block " << i;
    }
    std::string response = conn.read_response(std::chrono::seconds(60));
    ASSERT_EQ(status_of(response), 201) << response;
  }
  const std::string sent_sum = sent.hex();

  auto client = make_client(server.port(), std::chrono::seconds(60));
  Checksum received;
  size_t received_bytes = 0;
  auto res = client->Get(
      backend_path("big"), [](const httplib::Response& r) { return r.status == 200; },
      [&](const char* data, size_t size) {
        received.update(data, size);
        received_bytes += size;
        return true;
      });
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(received_bytes, total);
  EXPECT_EQ(received.hex(), sent_sum);

  long peak_kib = peak_rss_kib(server.process().pid());
  std::cerr << "fileserver peak RSS: " << peak_kib << " KiB for a " << total / kBlockBytes << " MiB body\n";
  ASSERT_GT(peak_kib, 0);
  EXPECT_LT(peak_kib, kPeakRssLimitKib);
}

}  // namespace
}  // namespace fsr::test
