#include "common/listen_fds.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/flags.h"

namespace fsr {
namespace {

constexpr int kFirstInheritedFd = 3;  // after stdin, stdout, stderr (sd_listen_fds)

// Parses a decimal number of at most 9 digits; false on anything else.
bool parse_count(const char* text, long* value) {
  if (text == nullptr || *text == '\0' || std::strlen(text) > 9) return false;
  char* end = nullptr;
  errno = 0;
  long parsed = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || parsed < 0) return false;
  *value = parsed;
  return true;
}

// The numeric form of host, as inet_ntop writes it; empty when not numeric.
std::string canonical_host(const std::string& host) {
  char text[INET6_ADDRSTRLEN] = {};
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return ::inet_ntop(AF_INET, &v4, text, sizeof text);
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return ::inet_ntop(AF_INET6, &v6, text, sizeof text);
  return "";
}

bool bound_address(int fd, InheritedSocket* socket, std::string* error) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    *error = "inherited fd " + std::to_string(fd) + " is not a socket: " + std::strerror(errno);
    return false;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    socket->host = ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    socket->port = ntohs(v4->sin_port);
    socket->address = socket->host + ":" + std::to_string(socket->port);
  } else if (storage.ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    socket->host = ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    socket->port = ntohs(v6->sin6_port);
    socket->address = "[" + socket->host + "]:" + std::to_string(socket->port);
  } else {
    *error = "inherited fd " + std::to_string(fd) + " is not an IPv4 or IPv6 socket";
    return false;
  }
  socket->fd = fd;
  return true;
}

}  // namespace

bool take_inherited_sockets(std::vector<InheritedSocket>* sockets, std::string* error) {
  sockets->clear();
  const char* fds_text = std::getenv("LISTEN_FDS");
  const char* pid_text = std::getenv("LISTEN_PID");
  std::string fds_value = fds_text ? fds_text : "";
  std::string pid_value = pid_text ? pid_text : "";
  bool present = fds_text != nullptr;
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDNAMES");
  if (!present) return true;

  long pid = 0;
  if (!parse_count(pid_value.c_str(), &pid)) {
    *error = "LISTEN_PID is not a process id: '" + pid_value + "'";
    return false;
  }
  if (pid != static_cast<long>(::getpid())) return true;  // meant for another process
  long count = 0;
  if (!parse_count(fds_value.c_str(), &count) || count > 1024) {
    *error = "LISTEN_FDS is not a count of sockets: '" + fds_value + "'";
    return false;
  }
  for (int fd = kFirstInheritedFd; fd < kFirstInheritedFd + count; ++fd) {
    InheritedSocket socket;
    if (!bound_address(fd, &socket, error)) {
      sockets->clear();
      return false;
    }
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) {
      *error = "cannot mark inherited fd " + std::to_string(fd) + " close-on-exec: " + std::strerror(errno);
      sockets->clear();
      return false;
    }
    sockets->push_back(socket);
  }
  return true;
}

int find_inherited_socket(const std::vector<InheritedSocket>& sockets, const std::string& wanted) {
  std::string host;
  int port = 0;
  if (!split_host_port(wanted, &host, &port, /*allow_port_zero=*/true)) return -1;
  std::string canonical = canonical_host(host);
  if (canonical.empty()) return -1;
  for (const InheritedSocket& socket : sockets)
    if (socket.host == canonical && (port == 0 || socket.port == port)) return socket.fd;
  return -1;
}

}  // namespace fsr
