#include "tests/fileserver/fileserver_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "common/file_io.h"

namespace fsr::test {

FileServerProcess::FileServerProcess(const FileServerOptions& options) {
  std::vector<std::string> args = {program_path("fileserver"), "--host", "127.0.0.1", "--port", "0", "--data-dir",
                                   options.data_dir, "--latency-ms", std::to_string(options.latency_ms),
                                   "--max-inflight", std::to_string(options.max_inflight)};
  if (options.fault_control) args.push_back("--fault-control");
  process_ = ChildProcess(args, options.log_path);
  port_ = listening_port(process_);
}

int FileServerProcess::count_log_lines(const std::vector<std::string>& fragments) const {
  std::istringstream in(log());
  std::string line;
  int count = 0;
  while (std::getline(in, line)) {
    if (line.find("event=request") == std::string::npos) continue;
    bool all = true;
    for (const auto& fragment : fragments) all = all && line.find(fragment) != std::string::npos;
    if (all) ++count;
  }
  return count;
}

std::unique_ptr<httplib::Client> make_client(int port, std::chrono::seconds read_timeout) {
  auto client = std::make_unique<httplib::Client>("127.0.0.1", port);
  client->set_url_encode(false);
  client->set_connection_timeout(5, 0);
  client->set_read_timeout(static_cast<time_t>(read_timeout.count()), 0);
  client->set_write_timeout(10, 0);
  return client;
}

int status_of(const std::string& raw_response) {
  if (raw_response.rfind("HTTP/1.1 ", 0) != 0 || raw_response.size() < 12) return -1;
  return std::atoi(raw_response.substr(9, 3).c_str());
}

std::string body_of(const std::string& raw_response) {
  auto end = raw_response.find("\r\n\r\n");
  return end == std::string::npos ? "" : raw_response.substr(end + 4);
}

RawConnection::RawConnection(int port) {
  // A write to a connection the server closed fails with EPIPE instead of
  // ending the test process.
  ::signal(SIGPIPE, SIG_IGN);
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send_all(const char* data, size_t size) { return write_all(fd_, data, size) == 0; }

void RawConnection::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

bool RawConnection::readable_within(std::chrono::milliseconds patience) {
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(patience.count())) > 0;
}

std::string RawConnection::read_response(std::chrono::milliseconds patience) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  std::string out;
  char buf[8192];
  while (true) {
    auto head_end = out.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      auto length_at = out.find("Content-Length: ");
      if (length_at != std::string::npos && length_at < head_end) {
        size_t length = std::strtoull(out.c_str() + length_at + 16, nullptr, 10);
        if (out.size() >= head_end + 4 + length) return out;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !readable_within(left)) return out;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace fsr::test
