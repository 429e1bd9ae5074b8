// A client connection's paths through the client-facing server
// (router/http/server.h) that need a handler of the test's own: a handler
// that throws, and a loop held at one exact point so that a keep-alive
// timeout and a request meet.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "router/http/server.h"
#include "tests/support/raw_connection.h"

namespace fsr::test {
namespace {

using namespace std::chrono_literals;
namespace http = fsr::router::http;

// Takes the body and throws where the path says: in body() or in
// finish_async().
class ThrowingExchange : public http::Exchange {
 public:
  explicit ThrowingExchange(bool in_body) : in_body_(in_body) {}
  bool body(const char*, size_t) override {
    if (in_body_) throw std::runtime_error("body refused by a fault");
    return true;
  }
  bool finish_async(bool, http::Reply, http::RunBlocking) override {
    throw std::runtime_error("finish refused by a fault");
  }
  void finish(bool, http::Response* res) override { http::plain(*res, 200, "stored"); }

 private:
  bool in_body_;
};

// Replies twice, from a thread of its own: at once, and again once told to
// (`again`), then tells `sent`.
class TwiceReplyingExchange : public http::Exchange {
 public:
  TwiceReplyingExchange(std::thread* thread, std::shared_future<void> again, std::promise<void>* sent)
      : thread_(thread), again_(std::move(again)), sent_(sent) {}
  bool finish_async(bool, http::Reply reply, http::RunBlocking) override {
    *thread_ = std::thread([reply, again = again_, sent = sent_] {
      http::Response first;
      http::plain(first, 200, "first reply");
      reply(std::move(first));
      again.wait();
      http::Response second;
      http::plain(second, 200, "second reply");
      reply(std::move(second));
      sent->set_value();
    });
    return true;
  }
  void finish(bool, http::Response*) override {}

 private:
  std::thread* thread_;
  std::shared_future<void> again_;
  std::promise<void>* sent_;
};

// Takes a body and answers 201.
class StoringExchange : public http::Exchange {
 public:
  void finish(bool, http::Response* res) override { http::plain(*res, 201, "stored"); }
};

// /throw-body and /throw-finish: exchanges that throw; /throw-stream: a
// reply whose body reader throws partway; /block: holds the loop until
// `release`; /twice: an exchange that replies twice, the second time when
// the next request, /after, starts (which holds the loop until that
// second reply is posted); anything else: 200 "ok".
class TestHandler : public http::Handler {
 public:
  std::promise<void> blocking;
  std::promise<void> release;
  std::thread twice_thread;
  std::promise<void> again;
  std::promise<void> sent;

  ~TestHandler() override {
    if (twice_thread.joinable()) twice_thread.join();
  }

  std::unique_ptr<http::Exchange> start(const http::RequestHead& head, http::Response* res) override {
    if (head.path() == "/twice")
      return std::make_unique<TwiceReplyingExchange>(&twice_thread, again.get_future().share(), &sent);
    if (head.path() == "/after") {
      again.set_value();
      sent.get_future().wait_for(5s);
      std::this_thread::sleep_for(50ms);  // the second reply's post reaches the loop's queue
      return std::make_unique<StoringExchange>();
    }
    if (head.path() == "/throw-body") return std::make_unique<ThrowingExchange>(true);
    if (head.path() == "/throw-finish") return std::make_unique<ThrowingExchange>(false);
    if (head.path() == "/throw-stream") {
      res->stream_size = 1 << 20;
      res->stream = [](uint64_t offset, char* buf, size_t n) -> long {
        if (offset > 0) throw std::runtime_error("read failed by a fault");
        std::fill_n(buf, n, 's');
        return static_cast<long>(n);
      };
      return nullptr;
    }
    if (head.path() == "/block") {
      blocking.set_value();
      release.get_future().wait_for(10s);
    }
    http::plain(*res, 200, "ok");
    return nullptr;
  }
};

// Holds the loop in the first 408 reply it is told of, until `release`.
class HoldingObserver : public http::RequestObserver {
 public:
  std::promise<void> holding;
  std::promise<void> release;

  void answered(const http::RequestHead&, const http::Response& res, std::chrono::steady_clock::duration) override {
    if (res.status != 408 || held_) return;
    held_ = true;
    holding.set_value();
    release.get_future().wait_for(10s);
  }
  void body_bytes_received(uint64_t) override {}
  void body_bytes_sent(uint64_t) override {}

 private:
  bool held_ = false;
};

http::ServerOptions one_loop() {
  http::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.io_threads = 1;
  o.blocking_threads = 1;
  o.drain_max = 5s;
  return o;
}

// Binds and starts the server; its port, or -1 (the reason printed).
int start(http::Server& server) {
  std::string error;
  int port = server.bind(&error);
  if (port <= 0) {
    ADD_FAILURE() << error;
    return -1;
  }
  server.start();
  return port;
}

// The server still answers: the process and its loop survived.
void expect_still_serving(int port) {
  RawConnection c(port);
  ASSERT_TRUE(c.connected());
  c.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_line(c.read_head()), "HTTP/1.1 200 OK");
}

// An exception out of a handler's body() or finish_async() on the event
// loop fails that request with 500, not the process (before, it reached
// std::terminate), and the rest of the body is not read as a request.
TEST(HttpServerSession, HandlerThatThrowsFailsItsRequestNotTheServer) {
  TestHandler handler;
  http::Server server(handler, one_loop());
  int port = start(server);
  ASSERT_GT(port, 0);
  for (const std::string path : {"/throw-body", "/throw-finish"}) {
    RawConnection c(port);
    ASSERT_TRUE(c.connected());
    c.send("PUT " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd");
    std::string reply = c.read_head();
    EXPECT_EQ(status_line(reply), "HTTP/1.1 500 Internal Server Error") << path;
  }
  expect_still_serving(port);
  server.stop();
}

// An exchange that calls its reply twice: the second call is dropped, even
// when it lands while the next request on the connection waits for its body
// behind a 100 Continue. Before, the second reply was written in the middle
// of the next request, which went on to read its body through a parser the
// write had reset.
TEST(HttpServerSession, SecondReplyFromAnExchangeIsDropped) {
  TestHandler handler;
  http::Server server(handler, one_loop());
  int port = start(server);
  ASSERT_GT(port, 0);
  RawConnection c(port);
  ASSERT_TRUE(c.connected());
  c.send("GET /twice HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(status_line(c.read_head()), "HTTP/1.1 200 OK");
  std::this_thread::sleep_for(100ms);
  c.clear();
  c.send("PUT /after HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_EQ(status_line(c.read_head()), "HTTP/1.1 100 Continue");
  c.send("abcd");
  std::string replies = c.read_until(
      [](const std::string& got) { return got.find("stored") != std::string::npos; }, 5000ms);
  EXPECT_EQ(replies.find("second reply"), std::string::npos) << replies;
  EXPECT_NE(replies.find("HTTP/1.1 201 Created"), std::string::npos) << replies;
  EXPECT_EQ(count_of(replies, "HTTP/1.1 "), 2) << replies;  // 100, then 201
  expect_still_serving(port);
  server.stop();
}

// A reply body whose reader throws after the head promised its length:
// the connection is cut short (the only honest end), the server lives on.
TEST(HttpServerSession, StreamReaderThatThrowsCutsTheReplyNotTheServer) {
  TestHandler handler;
  http::Server server(handler, one_loop());
  int port = start(server);
  ASSERT_GT(port, 0);
  RawConnection c(port);
  ASSERT_TRUE(c.connected());
  c.send("GET /throw-stream HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string reply = c.read_to_close();
  EXPECT_EQ(status_line(reply), "HTTP/1.1 200 OK");
  EXPECT_TRUE(c.closed());
  EXPECT_LT(reply.size(), size_t{1} << 20) << "the whole body arrived";
  expect_still_serving(port);
  server.stop();
}

// A kept-alive connection's deadline passes and cancels its wait for the
// next request, and the request arrives before the cancelled wait's handler
// runs: the request is answered. Before, the handler closed the connection
// and the lingering close read the request and dropped it (the client saw
// the end of the stream and no reply).
//
// The loop is held twice so that the order is exact, not a matter of
// timing: first (/block) until both deadlines below have passed, so that one
// sweep finds them together and cancels both in the order the connections
// came; then in the 408 reply to the first connection, which runs after
// both cancels and before the kept-alive connection's cancelled handler.
// The request is sent while the loop is held there.
TEST(HttpServerSession, RequestArrivingAsTheKeepAliveDeadlineFiresIsAnswered) {
  TestHandler handler;
  HoldingObserver observer;
  http::ServerOptions o = one_loop();
  o.keep_alive = 1s;
  o.header_timeout = 1000ms;
  o.observer = &observer;
  http::Server server(handler, o);
  int port = start(server);
  ASSERT_GT(port, 0);

  RawConnection slow(port);  // first in the server's list: its head never ends
  ASSERT_TRUE(slow.connected());
  slow.send("GET /x HTTP/1.1\r\n");
  std::this_thread::sleep_for(50ms);  // only so that it is accepted first
  RawConnection kept(port);
  ASSERT_TRUE(kept.connected());
  kept.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(status_line(kept.read_head()), "HTTP/1.1 200 OK");
  kept.clear();

  RawConnection blocker(port);
  ASSERT_TRUE(blocker.connected());
  blocker.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(handler.blocking.get_future().wait_for(5s), std::future_status::ready);
  std::this_thread::sleep_for(1500ms);  // both deadlines pass while the loop is held
  handler.release.set_value();

  ASSERT_EQ(observer.holding.get_future().wait_for(5s), std::future_status::ready)
      << "the slow head was not refused";
  ASSERT_TRUE(kept.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  observer.release.set_value();

  EXPECT_EQ(status_line(kept.read_head(5s)), "HTTP/1.1 200 OK")
      << "the request sent as the keep-alive deadline fired was dropped: " << kept.received();
  EXPECT_EQ(status_line(slow.read_to_close()), "HTTP/1.1 408 Request Timeout");
  server.stop();
}

}  // namespace
}  // namespace fsr::test
