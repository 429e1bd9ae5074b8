// A client connection that writes raw bytes and reads what comes back, for
// requests no HTTP library would send: malformed framing, endless header
// lines, heads sent a byte at a time. Blocking, loopback-minded, one
// connection per object; every read is bounded by a deadline.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace fsr::load {

class RawConnection {
 public:
  // Connects to HOST:PORT (an IPv4 address or a name); connected() tells.
  RawConnection(const std::string& host, int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  // False once the peer stopped taking bytes (closed or reset).
  bool send(const std::string& bytes);
  // Closes the sending side: the peer reads the end of the stream.
  void shutdown_send();
  // Reads until `done(received)` holds, the peer closes, or the deadline.
  const std::string& read_until(const std::function<bool(const std::string&)>& done,
                                std::chrono::milliseconds patience);
  // Everything until the peer closes (or the deadline).
  const std::string& read_to_close(std::chrono::milliseconds patience = std::chrono::seconds(10));
  // Until the end of a response head (or the deadline).
  const std::string& read_head(std::chrono::milliseconds patience = std::chrono::seconds(10));
  bool closed() const { return closed_; }
  const std::string& received() const { return received_; }
  void clear() { received_.clear(); }

 private:
  int fd_ = -1;
  bool closed_ = false;
  std::string received_;
};

// The first line of a reply ("HTTP/1.1 431 Request Header Fields Too Large").
std::string status_line(const std::string& reply);
// How many times `what` occurs in `text`.
int count_of(const std::string& text, const std::string& what);

}  // namespace fsr::load
