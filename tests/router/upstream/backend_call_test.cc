// One request over a leased connection (router/upstream/backend_call.h)
// against an in-process HTTP server on loopback: what happens to the lease,
// its slot and its connection after each kind of outcome.
#include "router/upstream/backend_call.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <stdexcept>
#include <thread>

#include "common/clock.h"

namespace fsr::router {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kAbandonHold{3000};
constexpr milliseconds kTimeout{5000};
const std::string kBody(256 * 1024, 'b');

class BackendCall : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get(".*", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kBody, "application/octet-stream");
    });
    server_.Put(".*", [](const httplib::Request&, httplib::Response& res, const httplib::ContentReader& read) {
      size_t got = 0;
      read([&](const char*, size_t n) {
        got += n;
        return true;
      });
      res.status = 201;
      res.set_content(std::to_string(got), "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
    backend_ = std::make_unique<Backend>(0, "127.0.0.1", port_, 2, kAbandonHold, milliseconds(0), clock_);
  }
  void TearDown() override {
    backend_.reset();
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  BackendLease lease() {
    auto l = backend_->acquire(clock_.now());
    if (!l) throw std::runtime_error("no slot");
    return std::move(*l);
  }
  // A GET that must come back whole: the connection it runs on is sound.
  void expect_a_sound_get() {
    std::string body;
    auto r = backend_get(lease(), "x", [&](const char* d, size_t n) {
      body.append(d, n);
      return true;
    }, kTimeout);
    EXPECT_TRUE(r.answered()) << r.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(body == kBody) << "got " << body.size() << " bytes";
  }

  ManualClock clock_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::unique_ptr<Backend> backend_;
};

TEST_F(BackendCall, AnAnsweredGetKeepsItsConnectionForReuseAndFreesItsSlot) {
  lease().unused();
  EXPECT_EQ(backend_->counters().requests.load(), 0u) << "a slot given back unused is no request";
  expect_a_sound_get();
  EXPECT_EQ(backend_->counters().requests.load(), 1u);
  EXPECT_EQ(backend_->idle_connections(), 1);
  EXPECT_EQ(backend_->in_flight(), 0);
  expect_a_sound_get();
  EXPECT_EQ(backend_->idle_connections(), 1) << "the idle connection was reused, not a second one opened";
}

TEST_F(BackendCall, ASinkThatThrowsAbandonsTheLeaseAndItsHalfReadConnection) {
  EXPECT_THROW(backend_get(lease(), "x",
                           [](const char*, size_t) -> bool { throw std::runtime_error("sink failed"); }, kTimeout),
               std::runtime_error);
  EXPECT_EQ(backend_->counters().abandoned.load(), 1u);
  EXPECT_EQ(backend_->idle_connections(), 0) << "a connection with half an answer unread was kept for reuse";
  EXPECT_EQ(backend_->in_flight(), 1) << "the slot is held for the abandon hold";
  expect_a_sound_get();
  clock_.advance(kAbandonHold);
  EXPECT_EQ(backend_->in_flight(), 0);
}

TEST_F(BackendCall, ASourceThatThrowsAbandonsTheLeaseAndItsHalfSentConnection) {
  EXPECT_THROW(backend_put(lease(), "x", 1 << 20,
                           [](uint64_t offset, char* buf, size_t n) -> long {
                             if (offset > 0) throw std::runtime_error("source failed");
                             std::fill(buf, buf + n, 'p');
                             return static_cast<long>(n);
                           },
                           kTimeout),
               std::runtime_error);
  EXPECT_EQ(backend_->counters().abandoned.load(), 1u);
  EXPECT_EQ(backend_->idle_connections(), 0) << "a connection with half a request sent was kept for reuse";
  EXPECT_EQ(backend_->in_flight(), 1);
  expect_a_sound_get();
}

TEST_F(BackendCall, AWholePutIsAnswered) {
  auto r = backend_put(lease(), "x", 1000,
                       [](uint64_t, char* buf, size_t n) -> long {
                         std::fill(buf, buf + n, 'p');
                         return static_cast<long>(n);
                       },
                       kTimeout);
  EXPECT_TRUE(r.answered()) << r.error;
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(backend_->idle_connections(), 1);
}

}  // namespace
}  // namespace fsr::router
