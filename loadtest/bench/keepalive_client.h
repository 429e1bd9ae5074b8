// The benchmark's closed-loop HTTP/1.1 client: one kept-alive connection per
// slot, one request in flight on each, all driven by epoll from a single
// thread. It does only what a benchmark client must (send a request with a
// Content-Length body, frame the answer by its Content-Length, count the
// body bytes) so that its cost per request stays far below the server's:
// the client shares the machine's cores with the server it measures, and
// every core it takes is one the server loses. fsload's curl-based client
// (loadtest/http_client.h) took about 0.7 of a core at 14,000 requests/s.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace fsr::load::bench {

using Clock = std::chrono::steady_clock;

// Frames one HTTP/1.1 response from the bytes that arrive, without keeping
// its body: the head is parsed (status, Content-Length, Connection: close),
// then body bytes are counted. Chunked or length-less answers are reported
// as errors: the servers this client measures never send them.
class ResponseFramer {
 public:
  enum class State { kHead, kBody, kDone, kError };

  // Feeds bytes; returns how many were taken (the rest belong to no
  // response: the server sent more than one answer asked for).
  size_t feed(const char* data, size_t n);
  State state() const { return state_; }
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  int status() const { return status_; }
  uint64_t body_bytes() const { return body_bytes_; }
  bool close_after() const { return close_after_; }
  const std::string& error() const { return error_; }
  // For a HEAD request: the body is not sent whatever Content-Length says.
  void expect_no_body() { no_body_ = true; }
  void reset() { *this = ResponseFramer{}; }

 private:
  bool parse_head();

  State state_ = State::kHead;
  std::string head_;
  int status_ = 0;
  uint64_t body_left_ = 0;
  uint64_t body_bytes_ = 0;
  bool close_after_ = false;
  bool no_body_ = false;
  std::string error_;
};

struct Answer {
  enum class Outcome { kResponse, kTimeout, kError };
  Outcome outcome = Outcome::kError;
  int status = 0;
  uint64_t body_bytes = 0;
  std::string error;
  bool is_response() const { return outcome == Outcome::kResponse; }
};

class KeepAliveClient {
 public:
  using Callback = std::function<void(const Answer&)>;

  // host: an IPv4/IPv6 address or a name; `slots` connections at most.
  KeepAliveClient(const std::string& host, int port, size_t slots);
  ~KeepAliveClient();
  KeepAliveClient(const KeepAliveClient&) = delete;
  KeepAliveClient& operator=(const KeepAliveClient&) = delete;

  // Sends a request on the slot's connection (opened first if it has none);
  // the slot must have nothing in flight. `body` (may be null) must outlive
  // the request. The callback runs from poll(), on this thread.
  void submit(size_t slot, std::string_view method, std::string_view target, const std::string* body,
              double timeout_sec, Callback done);
  // Waits up to max_wait for socket events and runs the callbacks of the
  // requests that completed, failed or timed out.
  void poll(std::chrono::microseconds max_wait);
  size_t in_flight() const { return in_flight_; }
  // Drops every request in flight without calling its callback.
  void abandon_all();

 private:
  struct Slot;
  void start_send(Slot& s);
  void on_writable(Slot& s);
  void on_readable(Slot& s);
  void finish(Slot& s, Answer answer, bool keep_connection);
  void close_slot(Slot& s);
  bool open(Slot& s);

  std::vector<Slot> slots_;
  std::vector<char> address_;  // sockaddr bytes
  int family_ = 0;
  std::string host_header_;
  int epoll_fd_ = -1;
  size_t in_flight_ = 0;
  Clock::time_point next_timeout_scan_{};
  std::vector<char> read_buf_;
};

}  // namespace fsr::load::bench
