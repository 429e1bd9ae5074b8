// The benchmark's lean keep-alive client (loadtest/bench/keepalive_client.h):
// response framing byte by byte, and requests against a live server.
#include "loadtest/bench/keepalive_client.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/loadtest/fake_file_server.h"

namespace fsr::load::bench {
namespace {

ResponseFramer feed_all(const std::string& bytes, size_t step, size_t* used_total = nullptr) {
  ResponseFramer f;
  size_t used = 0;
  for (size_t i = 0; i < bytes.size() && !f.done() && !f.failed(); i += step) {
    size_t n = std::min(step, bytes.size() - i);
    used += f.feed(bytes.data() + i, n);
  }
  if (used_total) *used_total = used;
  return f;
}

TEST(ResponseFramer, FramesByContentLengthWhateverTheReadSizes) {
  std::string reply = "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Fsrouter-Seq: 7\r\n\r\nhello";
  for (size_t step : {1u, 2u, 3u, 7u, 1000u}) {
    size_t used = 0;
    ResponseFramer f = feed_all(reply, step, &used);
    ASSERT_TRUE(f.done()) << "step " << step;
    EXPECT_EQ(f.status(), 201);
    EXPECT_EQ(f.body_bytes(), 5u);
    EXPECT_FALSE(f.close_after());
    EXPECT_EQ(used, reply.size());
  }
}

TEST(ResponseFramer, BytesAfterTheAnswerAreNotTaken) {
  std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n";
  ResponseFramer f;
  size_t used = f.feed(reply.data(), reply.size());
  ASSERT_TRUE(f.done());
  EXPECT_EQ(used, reply.find("okHTTP") + 2);
}

TEST(ResponseFramer, ConnectionCloseAndHttp10CloseAfter) {
  ResponseFramer a = feed_all("HTTP/1.1 429 Too Many Requests\r\nconnection: Close\r\ncontent-length: 0\r\n\r\n", 4);
  ASSERT_TRUE(a.done());
  EXPECT_EQ(a.status(), 429);
  EXPECT_TRUE(a.close_after());
  ResponseFramer b = feed_all("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 100);
  ASSERT_TRUE(b.done());
  EXPECT_TRUE(b.close_after());
}

TEST(ResponseFramer, BodilessStatusesNeedNoLength) {
  ResponseFramer a = feed_all("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", 5);
  ASSERT_TRUE(a.done());
  EXPECT_EQ(a.body_bytes(), 0u);
  ResponseFramer head;
  head.expect_no_body();
  std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  head.feed(reply.data(), reply.size());
  EXPECT_TRUE(head.done());
}

TEST(ResponseFramer, RefusesWhatItCannotFrame) {
  EXPECT_TRUE(feed_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 8).failed());
  EXPECT_TRUE(feed_all("HTTP/1.1 200 OK\r\n\r\nhello", 8).failed());  // no length: read to close
  EXPECT_TRUE(feed_all("HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello", 8).failed());
  EXPECT_TRUE(feed_all("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 8).failed());
  EXPECT_TRUE(feed_all("SSH-2.0-OpenSSH\r\n\r\n", 8).failed());
  EXPECT_TRUE(feed_all("HTTP/1.1 2x0 OK\r\n\r\n", 8).failed());
  EXPECT_TRUE(feed_all("HTTP/1.1 200 OK\r\nX: " + std::string(70 * 1024, 'a'), 4096).failed());
}

TEST(KeepAliveClient, PutsAndGetsOverKeptConnections) {
  test::FakeFileServer server({});
  KeepAliveClient client("127.0.0.1", server.port(), 4);
  std::string body(100000, 'z');
  int answered = 0;
  std::vector<Answer> answers;
  for (size_t slot = 0; slot < 4; ++slot)
    client.submit(slot, "PUT", "/api/fileserver/ka-" + std::to_string(slot), &body, 10,
                  [&](const Answer& a) { answers.push_back(a), ++answered; });
  while (client.in_flight() > 0) client.poll(std::chrono::milliseconds(100));
  ASSERT_EQ(answered, 4);
  for (const auto& a : answers) {
    ASSERT_TRUE(a.is_response()) << a.error;
    EXPECT_EQ(a.status / 100, 2);
  }
  answers.clear();
  // The same connections again: a GET of each, then one of a name never written.
  for (size_t slot = 0; slot < 4; ++slot)
    client.submit(slot, "GET", "/api/fileserver/ka-" + std::to_string(slot), nullptr, 10,
                  [&](const Answer& a) { answers.push_back(a); });
  while (client.in_flight() > 0) client.poll(std::chrono::milliseconds(100));
  ASSERT_EQ(answers.size(), 4u);
  for (const auto& a : answers) {
    ASSERT_TRUE(a.is_response()) << a.error;
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.body_bytes, body.size());
  }
  Answer missing;
  client.submit(0, "GET", "/api/fileserver/ka-never", nullptr, 10, [&](const Answer& a) { missing = a; });
  while (client.in_flight() > 0) client.poll(std::chrono::milliseconds(100));
  ASSERT_TRUE(missing.is_response()) << missing.error;
  EXPECT_EQ(missing.status, 404);
}

TEST(KeepAliveClient, ARefusedConnectionIsAnErrorNotAHang) {
  int port;
  {
    test::FakeFileServer server({});
    port = server.port();
  }
  KeepAliveClient client("127.0.0.1", port, 1);
  Answer got;
  bool called = false;
  client.submit(0, "GET", "/api/fileserver/x", nullptr, 5, [&](const Answer& a) { got = a, called = true; });
  for (int i = 0; i < 50 && client.in_flight() > 0; ++i) client.poll(std::chrono::milliseconds(100));
  ASSERT_TRUE(called);
  EXPECT_FALSE(got.is_response());
  EXPECT_EQ(got.outcome, Answer::Outcome::kError);
}

}  // namespace
}  // namespace fsr::load::bench
