#include "loadtest/bench/keepalive_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/text.h"

namespace fsr::load::bench {

namespace {

constexpr size_t kMaxHead = 64 * 1024;

}  // namespace

size_t ResponseFramer::feed(const char* data, size_t n) {
  size_t used = 0;
  if (state_ == State::kHead) {
    // The end of the head may straddle two reads: look from 3 bytes back.
    size_t from = head_.size() >= 3 ? head_.size() - 3 : 0;
    head_.append(data, n);
    size_t end = head_.find("\r\n\r\n", from);
    if (end == std::string::npos) {
      if (head_.size() > kMaxHead) {
        state_ = State::kError;
        error_ = "response head over 64 KiB";
      }
      return n;
    }
    size_t head_bytes = end + 4;
    used = n - (head_.size() - head_bytes);
    head_.resize(head_bytes);
    if (!parse_head()) {
      state_ = State::kError;
      return used;
    }
    state_ = body_left_ == 0 ? State::kDone : State::kBody;
  }
  if (state_ == State::kBody) {
    uint64_t take = std::min<uint64_t>(body_left_, n - used);
    body_left_ -= take;
    body_bytes_ += take;
    used += static_cast<size_t>(take);
    if (body_left_ == 0) state_ = State::kDone;
  }
  return used;
}

bool ResponseFramer::parse_head() {
  std::string_view head(head_);
  size_t line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  // "HTTP/1.1 201 Created"
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
    error_ = "malformed status line";
    return false;
  }
  status_ = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (status_line[i] < '0' || status_line[i] > '9') {
      error_ = "malformed status code";
      return false;
    }
    status_ = status_ * 10 + (status_line[i] - '0');
  }
  if (status_line[7] == '0') close_after_ = true;  // HTTP/1.0: closes unless told otherwise
  bool has_length = false;
  size_t pos = line_end + 2;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    if (eol == pos || eol == std::string_view::npos) break;
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      uint64_t v = 0;
      if (value.empty() || value.size() > 18) {
        error_ = "malformed Content-Length";
        return false;
      }
      for (char c : value) {
        if (c < '0' || c > '9') {
          error_ = "malformed Content-Length";
          return false;
        }
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      if (has_length && v != body_left_) {
        error_ = "conflicting Content-Length";
        return false;
      }
      has_length = true;
      body_left_ = v;
    } else if (iequals(name, "Transfer-Encoding")) {
      error_ = "Transfer-Encoding is not supported by this client";
      return false;
    } else if (iequals(name, "Connection")) {
      if (iequals(value, "close")) close_after_ = true;
      else if (iequals(value, "keep-alive")) close_after_ = false;
    }
  }
  bool bodiless = no_body_ || status_ == 204 || status_ == 304 || (status_ >= 100 && status_ < 200);
  if (bodiless) {
    body_left_ = 0;
  } else if (!has_length) {
    error_ = "response without Content-Length";
    return false;
  }
  return true;
}

struct KeepAliveClient::Slot {
  size_t index = 0;
  int fd = -1;
  bool connecting = false;
  bool busy = false;
  std::string head;             // the request head being sent
  const std::string* body = nullptr;
  size_t sent = 0;              // bytes of head + body sent
  ResponseFramer framer;
  Clock::time_point deadline{};
  Callback done;
};

KeepAliveClient::KeepAliveClient(const std::string& host, int port, size_t slots)
    : slots_(slots), read_buf_(64 * 1024) {
  for (size_t i = 0; i < slots_.size(); ++i) slots_[i].index = i;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0 || !found)
    throw std::runtime_error("cannot resolve " + host + ": " + ::gai_strerror(rc));
  family_ = found->ai_family;
  address_.assign(reinterpret_cast<const char*>(found->ai_addr),
                  reinterpret_cast<const char*>(found->ai_addr) + found->ai_addrlen);
  ::freeaddrinfo(found);
  host_header_ = "Host: " + host + ":" + std::to_string(port) + "\r\n";
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

KeepAliveClient::~KeepAliveClient() {
  for (auto& s : slots_)
    if (s.fd >= 0) ::close(s.fd);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

bool KeepAliveClient::open(Slot& s) {
  s.fd = ::socket(family_, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return false;
  int one = 1;
  ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // Edge-triggered, registered once for both directions: no epoll_ctl per request.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  // The descriptor rides along: an event read for a connection closed and
  // reopened by a callback earlier in the same batch is not the new one's.
  ev.data.u64 = (static_cast<uint64_t>(s.fd) << 32) | s.index;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s.fd, &ev) != 0) {
    ::close(s.fd);
    s.fd = -1;
    return false;
  }
  int rc = ::connect(s.fd, reinterpret_cast<const sockaddr*>(address_.data()), static_cast<socklen_t>(address_.size()));
  if (rc != 0 && errno != EINPROGRESS) {
    close_slot(s);
    return false;
  }
  s.connecting = rc != 0;
  return true;
}

void KeepAliveClient::close_slot(Slot& s) {
  if (s.fd >= 0) ::close(s.fd);  // closing removes it from the epoll set
  s.fd = -1;
  s.connecting = false;
}

void KeepAliveClient::submit(size_t slot, std::string_view method, std::string_view target, const std::string* body,
                             double timeout_sec, Callback done) {
  Slot& s = slots_.at(slot);
  if (s.busy) throw std::logic_error("KeepAliveClient: a request is already in flight on this slot");
  s.busy = true;
  ++in_flight_;
  s.done = std::move(done);
  s.body = body;
  s.sent = 0;
  s.framer.reset();
  if (method == "HEAD") s.framer.expect_no_body();
  s.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_sec));
  s.head.clear();
  s.head.append(method).append(" ").append(target).append(" HTTP/1.1\r\n").append(host_header_);
  if (body) s.head.append("Content-Length: ").append(std::to_string(body->size())).append("\r\n");
  s.head.append("\r\n");
  if (s.fd < 0 && !open(s)) {
    finish(s, Answer{Answer::Outcome::kError, 0, 0, std::string("connect: ") + std::strerror(errno)}, false);
    return;
  }
  if (!s.connecting) start_send(s);
}

void KeepAliveClient::start_send(Slot& s) { on_writable(s); }

void KeepAliveClient::on_writable(Slot& s) {
  if (!s.busy || s.connecting) return;
  size_t head = s.head.size(), total = head + (s.body ? s.body->size() : 0);
  while (s.sent < total) {
    iovec iov[2];
    int count = 0;
    if (s.sent < head) iov[count++] = {s.head.data() + s.sent, head - s.sent};
    if (s.body && !s.body->empty()) {
      size_t body_off = s.sent > head ? s.sent - head : 0;
      iov[count++] = {const_cast<char*>(s.body->data()) + body_off, s.body->size() - body_off};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    ssize_t n = ::sendmsg(s.fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT resumes it
    if (n < 0) {
      finish(s, Answer{Answer::Outcome::kError, 0, 0, std::string("send: ") + std::strerror(errno)}, false);
      return;
    }
    s.sent += static_cast<size_t>(n);
  }
}

void KeepAliveClient::on_readable(Slot& s) {
  while (s.fd >= 0) {
    ssize_t n = ::recv(s.fd, read_buf_.data(), read_buf_.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      std::string why = n == 0 ? "connection closed by the server" : std::string("recv: ") + std::strerror(errno);
      if (s.busy) finish(s, Answer{Answer::Outcome::kError, 0, 0, why}, false);
      else close_slot(s);  // an idle connection the server closed: reopened on the next request
      return;
    }
    if (!s.busy) {  // bytes nobody asked for
      close_slot(s);
      return;
    }
    size_t used = s.framer.feed(read_buf_.data(), static_cast<size_t>(n));
    if (s.framer.failed()) {
      finish(s, Answer{Answer::Outcome::kError, s.framer.status(), 0, s.framer.error()}, false);
      return;
    }
    if (s.framer.done()) {
      bool keep = used == static_cast<size_t>(n) && !s.framer.close_after();
      finish(s, Answer{Answer::Outcome::kResponse, s.framer.status(), s.framer.body_bytes(), {}}, keep);
      return;
    }
  }
}

void KeepAliveClient::finish(Slot& s, Answer answer, bool keep_connection) {
  if (!keep_connection) close_slot(s);
  s.busy = false;
  --in_flight_;
  Callback done = std::move(s.done);
  s.done = nullptr;
  if (done) done(answer);  // may submit the slot's next request
}

void KeepAliveClient::poll(std::chrono::microseconds max_wait) {
  epoll_event events[256];
  int timeout_ms = static_cast<int>((max_wait.count() + 999) / 1000);
  int n = ::epoll_wait(epoll_fd_, events, 256, timeout_ms);
  for (int i = 0; i < n; ++i) {
    Slot& s = slots_[events[i].data.u64 & 0xffffffffu];
    if (s.fd < 0 || s.fd != static_cast<int>(events[i].data.u64 >> 32)) continue;
    uint32_t e = events[i].events;
    if (s.connecting && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      s.connecting = false;
      if (err != 0) {
        if (s.busy) finish(s, Answer{Answer::Outcome::kError, 0, 0, std::string("connect: ") + std::strerror(err)}, false);
        else close_slot(s);
        continue;
      }
    }
    if (e & EPOLLOUT) on_writable(s);
    if (s.fd >= 0 && (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) on_readable(s);
  }
  // Timeouts: a scan every 50 ms is plenty for timeouts of seconds.
  auto now = Clock::now();
  if (now >= next_timeout_scan_) {
    next_timeout_scan_ = now + std::chrono::milliseconds(50);
    for (auto& s : slots_)
      if (s.busy && s.deadline <= now) finish(s, Answer{Answer::Outcome::kTimeout, 0, 0, "timed out"}, false);
  }
}

void KeepAliveClient::abandon_all() {
  for (auto& s : slots_) {
    if (!s.busy) continue;
    close_slot(s);
    s.busy = false;
    s.done = nullptr;
    --in_flight_;
  }
}

}  // namespace fsr::load::bench
