// The client-facing server's limits and strictness (router/http/server.h,
// router/http/request_head.h), driven with raw bytes over a socket: each
// refusal has its status, closes the connection, and stores nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/support/raw_connection.h"
#include "tests/support/stack.h"

namespace fsr::test {
namespace {

using Clock = std::chrono::steady_clock;

class FrontLimits : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack_ = new Stack("front_limits");
    stack_->start_backends(1, 5);
    stack_->start_router({"--max-body-bytes", "1000", "--header-timeout-ms", "400", "--body-idle-timeout-ms", "400"});
  }
  static void TearDownTestSuite() { delete stack_; }
  static int port() { return stack_->router_port(); }
  // The name was never stored: a GET finds nothing.
  static void expect_not_stored(const std::string& name) {
    auto c = stack_->client();
    auto r = c->Get(("/api/fileserver/" + name).c_str());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << name;
  }
  // Sends a whole request and expects one reply with `status`, then a close.
  static void expect_refused_and_closed(const std::string& request, const std::string& status) {
    RawConnection c(port());
    ASSERT_TRUE(c.connected());
    c.send(request);
    std::string reply = c.read_to_close();
    EXPECT_EQ(status_line(reply), "HTTP/1.1 " + status) << request.substr(0, 200);
    EXPECT_TRUE(c.closed());
    EXPECT_EQ(count_of(reply, "HTTP/1.1 "), 1) << reply;
  }
  static Stack* stack_;
};
Stack* FrontLimits::stack_ = nullptr;

TEST_F(FrontLimits, HeaderBlockOverTheLimitIs431AndCloses) {
  expect_refused_and_closed("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n",
                            "431 Request Header Fields Too Large");
}

TEST_F(FrontLimits, EndlessHeaderLineIs431WithoutWaitingForItsEnd) {
  RawConnection c(port());
  c.send("GET /healthz HTTP/1.1\r\nX-Endless: ");
  std::string chunk(64 * 1024, 'b');
  for (int i = 0; i < 8 && c.send(chunk); ++i) {
  }
  EXPECT_EQ(status_line(c.read_to_close()), "HTTP/1.1 431 Request Header Fields Too Large");
}

// A chunk-size line or a trailer field the parser never sees the end of
// is kept whole in the read buffer while it waits for more: the buffer's
// limit ends it with a 400 at once. Without one the buffer grew with
// every byte sent until the body idle timeout (a 408 after 400 ms here).
TEST_F(FrontLimits, EndlessChunkExtensionOrTrailerIs400WithoutWaitingForItsEnd) {
  const std::string head = "PUT /api/fileserver/endless HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& start : {head + "1;", head + "0\r\nX-Trailer: "}) {
    RawConnection c(port());
    ASSERT_TRUE(c.connected());
    c.send(start);
    std::string chunk(64 * 1024, 'a');
    for (int i = 0; i < 8 && c.send(chunk); ++i) {
    }
    EXPECT_EQ(status_line(c.read_to_close()), "HTTP/1.1 400 Bad Request") << start.substr(head.size());
  }
  expect_not_stored("endless");
}

TEST_F(FrontLimits, TargetOverTheLimitIs414) {
  expect_refused_and_closed("GET /api/fileserver/" + std::string(20000, 'n') + " HTTP/1.1\r\nHost: x\r\n\r\n",
                            "414 URI Too Long");
}

TEST_F(FrontLimits, MoreThanAHundredHeaderFieldsIs431) {
  std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 101; ++i) request += "X-F" + std::to_string(i) + ": v\r\n";
  expect_refused_and_closed(request + "\r\n", "431 Request Header Fields Too Large");
}

TEST_F(FrontLimits, ContentLengthOverTheBodyLimitIs413BeforeTheBodyIsSent) {
  RawConnection c(port());
  c.send("PUT /api/fileserver/too-big HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
  // No body byte was sent: the answer comes from the head alone.
  EXPECT_EQ(status_line(c.read_to_close()), "HTTP/1.1 413 Payload Too Large");
  expect_not_stored("too-big");
}

TEST_F(FrontLimits, ChunkedBodyCrossingTheLimitIs413AndNothingIsStored) {
  std::string chunk = "258\r\n" + std::string(600, 'c') + "\r\n";
  expect_refused_and_closed("PUT /api/fileserver/chunked-too-big HTTP/1.1\r\nHost: x\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n" + chunk + chunk + "0\r\n\r\n",
                            "413 Payload Too Large");
  expect_not_stored("chunked-too-big");
}

TEST_F(FrontLimits, ContentEncodingOnARequestBodyIs415) {
  expect_refused_and_closed("PUT /api/fileserver/gzipped HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                            "Content-Length: 4\r\n\r\nabcd",
                            "415 Unsupported Media Type");
  expect_not_stored("gzipped");
}

TEST_F(FrontLimits, AmbiguousBodyFramingIs400AndNothingIsStored) {
  const std::string head = "PUT /api/fileserver/smuggled HTTP/1.1\r\nHost: x\r\n";
  expect_refused_and_closed(head + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
                            "400 Bad Request");
  expect_refused_and_closed(head + "Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd", "400 Bad Request");
  expect_refused_and_closed(head + "Content-Length: 4x\r\n\r\nabcd", "400 Bad Request");
  expect_refused_and_closed(head + "Transfer-Encoding: gzip, chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
                            "400 Bad Request");
  expect_refused_and_closed(head + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n", "400 Bad Request");
  expect_not_stored("smuggled");
}

TEST_F(FrontLimits, ChunkedBodyCutBeforeItsLastChunkStoresNothing) {
  {
    RawConnection c(port());
    c.send("PUT /api/fileserver/cut HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n");
  }  // closed before the last chunk
  expect_not_stored("cut");
}

// A client that ends its stream partway through a body (or a head) but
// still reads is told why nothing was done: 400, then the close. Before,
// the connection closed without a reply.
TEST_F(FrontLimits, StreamEndedBeforeTheBodyOrHeadIs400AndNothingIsStored) {
  const std::string put = "PUT /api/fileserver/half-closed HTTP/1.1\r\nHost: x\r\n";
  for (const std::string& request : {put + "Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n",
                                     put + "Content-Length: 10\r\n\r\nabcd", put}) {
    RawConnection c(port());
    ASSERT_TRUE(c.connected());
    c.send(request);
    c.shutdown_send();
    std::string reply = c.read_to_close();
    EXPECT_EQ(status_line(reply), "HTTP/1.1 400 Bad Request") << request;
    EXPECT_TRUE(c.closed());
  }
  expect_not_stored("half-closed");
}

TEST_F(FrontLimits, SlowRequestHeadIs408AndCloses) {
  RawConnection c(port());
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // never finished
  auto started = Clock::now();
  EXPECT_EQ(status_line(c.read_to_close()), "HTTP/1.1 408 Request Timeout");
  EXPECT_TRUE(c.closed());
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));
}

TEST_F(FrontLimits, StalledBodyIs408AndNothingIsStored) {
  RawConnection c(port());
  c.send("PUT /api/fileserver/stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
  EXPECT_EQ(status_line(c.read_to_close()), "HTTP/1.1 408 Request Timeout");
  expect_not_stored("stalled");
}

TEST_F(FrontLimits, ExpectContinueIsAnsweredOnlyAfterTheNameAndSizePass) {
  {
    RawConnection c(port());
    c.send("PUT /api/fileserver/%2e%2e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    std::string reply = c.read_to_close();
    EXPECT_EQ(status_line(reply), "HTTP/1.1 400 Bad Request");
    EXPECT_EQ(reply.find("100 Continue"), std::string::npos);
  }
  {
    RawConnection c(port());
    c.send("PUT /api/fileserver/big HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
    EXPECT_EQ(status_line(c.read_to_close()), "HTTP/1.1 413 Payload Too Large");
  }
  RawConnection c(port());
  c.send("PUT /api/fileserver/continued HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(status_line(c.read_head()), "HTTP/1.1 100 Continue");
  c.clear();
  c.send("abcd");
  EXPECT_EQ(status_line(c.read_head()), "HTTP/1.1 201 Created");
}

TEST_F(FrontLimits, UnreadBodyAfterAnEarlyReplyIsNeverTakenForARequest) {
  // The body is itself a request: answering it would be request smuggling.
  std::string inner = "DELETE /api/fileserver/victim HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_NE(stack_->put("victim", "keep me"), 0u);
  RawConnection c(port());
  c.send("PUT /api/fileserver/.fsrouter-x HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(inner.size()) +
         "\r\n\r\n" + inner);
  std::string reply = c.read_to_close();
  EXPECT_EQ(status_line(reply), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(count_of(reply, "HTTP/1.1 "), 1) << reply;
  auto get = stack_->client()->Get("/api/fileserver/victim");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, "keep me");
}

TEST_F(FrontLimits, SingleRangeIs206AndOthersFollowTheRules) {
  std::string body;
  for (int i = 0; i < 100; ++i) body += static_cast<char>('a' + i % 26);
  ASSERT_NE(stack_->put("ranged", body), 0u);
  auto c = stack_->client();
  auto part = c->Get("/api/fileserver/ranged", {{"Range", "bytes=10-19"}});
  ASSERT_TRUE(part);
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->get_header_value("Content-Range"), "bytes 10-19/100");
  EXPECT_EQ(part->body, body.substr(10, 10));
  auto suffix = c->Get("/api/fileserver/ranged", {{"Range", "bytes=-5"}});
  ASSERT_TRUE(suffix);
  EXPECT_EQ(suffix->status, 206);
  EXPECT_EQ(suffix->body, body.substr(95));
  auto beyond = c->Get("/api/fileserver/ranged", {{"Range", "bytes=100-"}});
  ASSERT_TRUE(beyond);
  EXPECT_EQ(beyond->status, 416);
  EXPECT_EQ(beyond->get_header_value("Content-Range"), "bytes */100");
  auto several = c->Get("/api/fileserver/ranged", {{"Range", "bytes=0-1,5-6"}});
  ASSERT_TRUE(several);
  EXPECT_EQ(several->status, 200);
  EXPECT_EQ(several->body, body);
}

// Bodies above the limits of FrontLimits, on a router with the defaults.
class FrontBodies : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack_ = new Stack("front_bodies");
    stack_->start_backends(1, 5);
    stack_->start_router();
  }
  static void TearDownTestSuite() { delete stack_; }
  static Stack* stack_;
};
Stack* FrontBodies::stack_ = nullptr;

TEST_F(FrontBodies, RangeOfAStreamedBodyIsThatPart) {
  std::string body(300000, 'x');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 7) % 26);
  ASSERT_NE(stack_->put("ranged-big", body), 0u);
  auto part = stack_->client()->Get("/api/fileserver/ranged-big", {{"Range", "bytes=100000-250000"}});
  ASSERT_TRUE(part);
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->get_header_value("Content-Range"), "bytes 100000-250000/300000");
  EXPECT_TRUE(part->body == body.substr(100000, 150001));
}

TEST_F(FrontBodies, HeadHasTheHeadersOfGetAndNoBody) {
  ASSERT_NE(stack_->put("headed", std::string(200000, 'h')), 0u);
  RawConnection c(stack_->router_port());
  c.send("HEAD /api/fileserver/headed HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string reply = c.read_until([](const std::string& r) { return r.find("ok\n") != std::string::npos; },
                                   std::chrono::seconds(10));
  EXPECT_EQ(status_line(reply), "HTTP/1.1 200 OK");
  EXPECT_NE(reply.find("Content-Length: 200000\r\n"), std::string::npos);
  // The next reply follows the head directly: no body bytes in between.
  size_t end_of_head = reply.find("\r\n\r\n");
  EXPECT_EQ(reply.compare(end_of_head + 4, 15, "HTTP/1.1 200 OK"), 0) << reply;
}

// Requests whose bytes are there already are answered without a trip
// through the event loop, a bounded number in a row: a burst of pipelined
// requests is answered in full and in order, without the server recursing
// once per request.
TEST_F(FrontBodies, TwentyThousandPipelinedRequestsAreAllAnsweredInOrder) {
  ASSERT_NE(stack_->put("piped", "pp"), 0u);
  const int n = 20000;
  std::string burst;
  for (int i = 0; i < n; ++i)
    burst += i % 2 ? "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" : "GET /api/fileserver/piped HTTP/1.1\r\nHost: x\r\n\r\n";
  RawConnection c(stack_->router_port());
  ASSERT_TRUE(c.connected());
  std::thread sender([&] { c.send(burst); });
  int seen = 0;
  size_t scanned = 0;
  std::string got = c.read_until(
      [&](const std::string& r) {
        for (size_t at; (at = r.find("HTTP/1.1 ", scanned)) != std::string::npos; scanned = at + 9) ++seen;
        return seen >= n;
      },
      std::chrono::seconds(60));
  sender.join();
  ASSERT_EQ(seen, n);
  EXPECT_EQ(count_of(got, "HTTP/1.1 200 OK"), n);
  // In order: the answers alternate between the file and the health check.
  EXPECT_EQ(count_of(got, "\r\n\r\nppHTTP/1.1 200 OK"), n / 2);
}

TEST(FrontConnections, PastTheCapNewConnectionsWaitUntilOneCloses) {
  Stack stack("front_cap");
  stack.start_backends(1, 5);
  stack.start_router({"--max-connections", "2"});
  auto first = std::make_unique<RawConnection>(stack.router_port());
  RawConnection second(stack.router_port());
  // Both are accepted: each is answered.
  for (RawConnection* c : {first.get(), &second}) {
    c->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(status_line(c->read_head()), "HTTP/1.1 200 OK");
  }
  RawConnection third(stack.router_port());  // completed by the kernel, not accepted
  third.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(third.read_head(std::chrono::milliseconds(500)), "");
  first.reset();
  EXPECT_EQ(status_line(third.read_head()), "HTTP/1.1 200 OK");
}

TEST(FrontConnections, IdleKeepAliveConnectionClosesQuietlyAfterTheKeepAliveTime) {
  Stack stack("front_idle");
  stack.start_backends(1, 5);
  stack.start_router({"--keep-alive-s", "1"});
  RawConnection c(stack.router_port());
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_line(c.read_head()), "HTTP/1.1 200 OK");
  c.clear();
  // Past the keep-alive time the router closes the idle connection quietly.
  c.read_to_close(std::chrono::seconds(5));
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.read_to_close(std::chrono::milliseconds(1)), "");
}

TEST(FrontConnections, AClientThatStopsReadingIsCutAfterTheWriteTimeout) {
  Stack stack("front_write_timeout");
  stack.start_backends(1, 5);
  stack.start_router({"--write-timeout-ms", "500"});
  // Far more than the loopback socket buffers hold: the router's writes
  // stall once the client stops reading.
  const size_t size = 24u << 20;
  ASSERT_NE(stack.put("big-unread", std::string(size, 'u')), 0u);
  RawConnection c(stack.router_port());
  c.send("GET /api/fileserver/big-unread HTTP/1.1\r\nHost: x\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  // What was in flight arrives, then the end: the router gave up on the
  // reply instead of holding the connection for as long as the client stalls.
  std::string got = c.read_to_close(std::chrono::seconds(10));
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(status_line(got), "HTTP/1.1 200 OK");
  EXPECT_LT(got.size(), size);
  // The router serves others meanwhile and after.
  auto r = stack.client()->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace fsr::test
