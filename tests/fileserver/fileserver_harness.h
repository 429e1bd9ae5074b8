// Helpers for the fileserver tests: start the real `fileserver` program on
// loopback, talk to it through cpp-httplib clients or raw sockets (for
// uploads that are slow, short or chunked on purpose).
#pragma once

#include <httplib.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace fsr::test {

struct FileServerOptions {
  std::string data_dir;
  std::string log_path;
  int latency_ms = 100;
  int max_inflight = 10;
  bool fault_control = false;  // serve the /_fault/ routes
};

// One running fileserver instance on 127.0.0.1:port.
class FileServerProcess {
 public:
  explicit FileServerProcess(const FileServerOptions& options);
  int port() const { return port_; }
  ChildProcess& process() { return process_; }
  std::string log() const { return process_.read_log(); }
  // Log lines of finished requests that contain every one of the given fragments.
  int count_log_lines(const std::vector<std::string>& fragments) const;

 private:
  int port_ = 0;
  ChildProcess process_;
};

// A client that sends names exactly as given (already percent-encoded).
std::unique_ptr<httplib::Client> make_client(int port, std::chrono::seconds read_timeout = std::chrono::seconds(10));

// The HTTP status of a raw response text ("HTTP/1.1 500 ..."), or -1.
int status_of(const std::string& raw_response);
// The body part of a raw response text (after the blank line).
std::string body_of(const std::string& raw_response);

// A plain TCP connection to 127.0.0.1:port.
class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  bool send_all(const std::string& data) { return send_all(data.data(), data.size()); }
  bool send_all(const char* data, size_t size);
  void shutdown_write();
  // True when something (data or EOF) can be read within patience.
  bool readable_within(std::chrono::milliseconds patience);
  // Reads until the response head and, when it has Content-Length, its whole
  // body arrived, the peer closed, or patience ran out. Empty when nothing came.
  std::string read_response(std::chrono::milliseconds patience);

 private:
  int fd_ = -1;
};

}  // namespace fsr::test
