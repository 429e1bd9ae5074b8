// The client-facing server's stop (router/http/server.h) and the kernel
// questions it asks (router/http/listen_socket.h): a client the kernel
// already took in, queued for accept() or still mid-handshake, is answered,
// never reset by the listening socket's close.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "router/http/listen_socket.h"
#include "router/http/server.h"
#include "tests/support/raw_connection.h"

namespace fsr::test {
namespace {

using namespace std::chrono_literals;
namespace http = fsr::router::http;

// Answers every request at once with 200 "ok", except /block, whose start
// holds its event loop (a loop busy with something else) until `release`
// is set, after telling `blocking`, and /big, a 32 MiB reply (more than the
// socket buffers of both ends hold: its write waits for the client), after
// telling `big`.
class TestHandler : public http::Handler {
 public:
  std::promise<void> blocking;
  std::promise<void> release;
  std::promise<void> big;

  std::unique_ptr<http::Exchange> start(const http::RequestHead& head, http::Response* res) override {
    if (head.path() == "/big") {
      http::plain(*res, 200, std::string(32 << 20, 'b'));
      big.set_value();
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

http::ServerOptions loopback_options(int loops) {
  http::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.io_threads = loops;
  o.blocking_threads = 1;
  o.drain_max = 20s;
  return o;
}

// A listening socket on `address` (127.0.0.1 unless given), on `port`
// (any unless given).
struct Listener {
  int fd = -1;
  uint16_t port = 0;
  explicit Listener(const char* address = "127.0.0.1", uint16_t want_port = 0) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, address, &a.sin_addr);
    a.sin_port = htons(want_port);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 16) != 0) return;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd); }
};

// Starts a connect to address:port (127.0.0.1 unless given) without
// waiting; the socket, or -1.
int connect_nonblocking(uint16_t port, const char* address = "127.0.0.1") {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, address, &a.sin_addr);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True once a non-blocking connect completed within `patience`.
bool connect_completes(int fd, std::chrono::milliseconds patience) {
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(patience.count())) != 1) return false;
  int error = 0;
  socklen_t len = sizeof error;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  return error == 0;
}

// Lets only SYNs reach a listening socket: a client's handshake stays half
// done (its ACK and its data are dropped) while the client believes it is
// connected. False when the kernel refuses socket filters here (recent
// kernels want CAP_NET_ADMIN for one on a TCP socket).
bool pass_only_syns(int listen_fd) {
  static sock_filter syn_only[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x02, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  sock_fprog program{4, syn_only};
  return ::setsockopt(listen_fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) == 0;
}

// This process's listening socket on `port`, found among its descriptors; -1 if none.
int find_listening_fd(int port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::atoi(entry.path().filename().c_str());
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage a{};
    len = sizeof a;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || a.ss_family != AF_INET) continue;
    if (ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port) == port) return fd;
  }
  return -1;
}

// What arrives on fd until the peer closes, resets, or `patience` passes.
std::string read_to_close(int fd, std::chrono::milliseconds patience) {
  std::string got;
  auto until = std::chrono::steady_clock::now() + patience;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return got;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) != 1) return got;
    char buffer[4096];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return got;
    got.append(buffer, static_cast<size_t>(n));
  }
}

// Polls handshakes_under_way until it gives `want` (the kernel's view
// changes as segments are processed), or 2 s.
int wait_for_handshakes(int listen_fd, int want) {
  int seen = -1;
  for (auto until = std::chrono::steady_clock::now() + 2s; std::chrono::steady_clock::now() < until;) {
    seen = http::handshakes_under_way(listen_fd);
    if (seen == want) break;
    std::this_thread::sleep_for(5ms);
  }
  return seen;
}

TEST(ListenSocket, HandshakeUnderWayIsCountedAndCompletesAfterNewOnesAreRefused) {
  Listener listener;
  ASSERT_GT(listener.port, 0);
  if (http::handshakes_under_way(listener.fd) < 0) GTEST_SKIP() << "the kernel does not list sockets (sock_diag)";
  if (!pass_only_syns(listener.fd)) GTEST_SKIP() << "no socket filter on TCP here: " << std::strerror(errno);
  EXPECT_EQ(http::handshakes_under_way(listener.fd), 0);
  int early = connect_nonblocking(listener.port);
  ASSERT_GE(early, 0);
  ASSERT_TRUE(connect_completes(early, 2000ms)) << "the client saw the SYN-ACK";
  EXPECT_EQ(wait_for_handshakes(listener.fd, 1), 1);

  // From here on SYNs are dropped and everything else passes.
  ASSERT_TRUE(http::refuse_new_handshakes(listener.fd));
  int late = connect_nonblocking(listener.port);
  ASSERT_GE(late, 0);
  EXPECT_FALSE(connect_completes(late, 300ms)) << "a new connection was let in";

  // The early client's request completes its handshake and is accepted.
  ASSERT_EQ(::send(early, "hello", 5, MSG_NOSIGNAL), 5);
  pollfd p{listener.fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 3000), 1) << "the half-done handshake never reached the accept queue";
  int accepted = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(accepted, 0);
  char got[5] = {};
  pollfd q{accepted, POLLIN, 0};
  ASSERT_EQ(::poll(&q, 1, 3000), 1);
  EXPECT_EQ(::recv(accepted, got, sizeof got, MSG_WAITALL), 5);
  EXPECT_EQ(std::string(got, 5), "hello");
  EXPECT_EQ(wait_for_handshakes(listener.fd, 0), 0);
  ::close(accepted);
  ::close(early);
  ::close(late);
}

// The kernel lists a handshake by the local address and port it is to:
// a socket bound to one address counts its own, not those of another
// socket on the same port at another address, which its stop would
// otherwise wait for; a wildcard socket counts every address.
TEST(ListenSocket, HandshakesAreCountedForTheListeningAddressOnly) {
  Listener mine("127.0.0.1");
  ASSERT_GT(mine.port, 0);
  Listener other("127.0.0.2", mine.port);
  ASSERT_EQ(other.port, mine.port) << "127.0.0.2 is not usable here";
  if (http::handshakes_under_way(mine.fd) < 0) GTEST_SKIP() << "the kernel does not list sockets (sock_diag)";
  if (!pass_only_syns(other.fd)) GTEST_SKIP() << "no socket filter on TCP here: " << std::strerror(errno);
  int client = connect_nonblocking(other.port, "127.0.0.2");
  ASSERT_GE(client, 0);
  ASSERT_TRUE(connect_completes(client, 2000ms));
  EXPECT_EQ(wait_for_handshakes(other.fd, 1), 1);
  EXPECT_EQ(http::handshakes_under_way(mine.fd), 0) << "another address's handshake was counted";

  // A socket bound to the wildcard (on a port of its own) counts a
  // handshake to any address: here, to 127.0.0.3.
  Listener any("0.0.0.0");
  ASSERT_GT(any.port, 0);
  ASSERT_TRUE(pass_only_syns(any.fd));
  int wild = connect_nonblocking(any.port, "127.0.0.3");
  ASSERT_GE(wild, 0);
  ASSERT_TRUE(connect_completes(wild, 2000ms));
  EXPECT_EQ(wait_for_handshakes(any.fd, 1), 1);
  EXPECT_EQ(http::handshakes_under_way(mine.fd), 0);
  ::close(wild);
  ::close(client);
}

class HttpServerStop : public ::testing::TestWithParam<int> {};

// Clients whose connections wait in the accept queue while the event loop
// that accepts is busy, and whose requests are sent, are all answered when
// stop() comes meanwhile: none is reset by the listening socket's close.
TEST_P(HttpServerStop, AnswersConnectionsQueuedForAcceptWhileTheLoopWasBusy) {
  TestHandler handler;
  http::Server server(handler, loopback_options(GetParam()));
  std::string error;
  int port = server.bind(&error);
  ASSERT_GT(port, 0) << error;
  server.start();

  // The first connection goes to the first loop, the one that accepts.
  RawConnection blocker(port);
  ASSERT_TRUE(blocker.connected());
  blocker.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(handler.blocking.get_future().wait_for(5s), std::future_status::ready);

  constexpr int kQueued = 20;
  std::vector<std::unique_ptr<RawConnection>> queued;
  for (int i = 0; i < kQueued; ++i) {
    queued.push_back(std::make_unique<RawConnection>(port));
    ASSERT_TRUE(queued.back()->connected());
    ASSERT_TRUE(queued.back()->send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  ASSERT_EQ(server.open_connections(), 1) << "the queued connections were accepted: the test proves nothing";
  std::thread stopper([&] { server.stop(); });
  // The stop is under way while the loop is still busy (a stop that closed
  // the socket on its own clock would do it now), then the loop is free.
  std::this_thread::sleep_for(300ms);
  handler.release.set_value();

  EXPECT_EQ(status_line(blocker.read_head()), "HTTP/1.1 200 OK");
  int answered = 0;
  for (auto& c : queued) {
    std::string reply = c->read_to_close();
    if (status_line(reply) == "HTTP/1.1 200 OK") ++answered;
  }
  stopper.join();
  EXPECT_EQ(answered, kQueued) << "connections queued for accept were reset by the stop";
  EXPECT_EQ(server.open_connections(), 0);
  EXPECT_FALSE(RawConnection(port).connected()) << "the port is still open after stop()";
}

// A client whose handshake is still under way when stop() comes (its ACK
// and its request not yet taken in) believes it is connected: the stop
// waits for the handshake to complete and answers it.
TEST_P(HttpServerStop, AnswersAClientWhoseHandshakeWasUnderWay) {
  TestHandler handler;
  http::Server server(handler, loopback_options(GetParam()));
  std::string error;
  int port = server.bind(&error);
  ASSERT_GT(port, 0) << error;
  server.start();
  int listen_fd = find_listening_fd(port);
  ASSERT_GE(listen_fd, 0);
  if (http::handshakes_under_way(listen_fd) < 0) GTEST_SKIP() << "the kernel does not list sockets (sock_diag)";
  if (!pass_only_syns(listen_fd)) GTEST_SKIP() << "no socket filter on TCP here: " << std::strerror(errno);

  int client = connect_nonblocking(static_cast<uint16_t>(port));
  ASSERT_GE(client, 0);
  ASSERT_TRUE(connect_completes(client, 2000ms));
  std::string request = "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(client, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  ASSERT_EQ(wait_for_handshakes(listen_fd, 1), 1);

  // stop() replaces the test's filter with its own, which lets the
  // client's retransmitted request complete the handshake.
  std::thread stopper([&] { server.stop(); });
  std::string reply = read_to_close(client, 10000ms);
  stopper.join();
  ::close(client);
  EXPECT_EQ(status_line(reply), "HTTP/1.1 200 OK") << "the client mid-handshake was reset by the stop";
}

// A request pipelined behind one whose reply is being written when stop()
// comes is answered: the reply in flight promised to keep the connection
// open, and the request is here already. Before, the connection closed
// after that reply and the request behind it went unanswered. The second
// reply closes the connection.
TEST_P(HttpServerStop, AnswersARequestPipelinedBehindAReplyBeingWritten) {
  TestHandler handler;
  http::Server server(handler, loopback_options(GetParam()));
  std::string error;
  int port = server.bind(&error);
  ASSERT_GT(port, 0) << error;
  server.start();

  RawConnection c(port);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(handler.big.get_future().wait_for(5s), std::future_status::ready);
  // The big reply's head went out saying keep-alive; its body waits for the
  // client, which reads nothing until the stop is under way.
  std::this_thread::sleep_for(200ms);
  std::thread stopper([&] { server.stop(); });
  std::this_thread::sleep_for(300ms);

  std::string replies = c.read_to_close(20000ms);
  stopper.join();
  ASSERT_EQ(status_line(replies), "HTTP/1.1 200 OK");
  size_t head_end = replies.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  EXPECT_EQ(replies.substr(0, head_end).find("Connection: close"), std::string::npos)
      << "the first reply already closed: the test proves nothing";
  EXPECT_EQ(count_of(replies, "HTTP/1.1 200 OK"), 2) << "the pipelined request was not answered";
  EXPECT_NE(replies.find("Connection: close", head_end), std::string::npos) << "the second reply kept the connection";
  EXPECT_TRUE(c.closed());
}

INSTANTIATE_TEST_SUITE_P(Loops, HttpServerStop, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& info) { return std::to_string(info.param); });

}  // namespace
}  // namespace fsr::test
