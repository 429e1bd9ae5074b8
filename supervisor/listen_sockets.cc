#include "supervisor/listen_sockets.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/flags.h"

namespace fsr::supervisor {
namespace {

int bind_one(const std::string& requested, int backlog, std::string* error) {
  std::string host;
  int port = 0;
  if (!split_host_port(requested, &host, &port, /*allow_port_zero=*/true)) {
    *error = "not HOST:PORT: '" + requested + "'";
    return -1;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0) {
    *error = requested + ": " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  std::string last_error = "no address";
  for (addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
    fd = ::socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC, candidate->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, candidate->ai_addr, candidate->ai_addrlen) == 0 && ::listen(fd, backlog) == 0) break;
    last_error = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd < 0) *error = requested + ": " + last_error;
  return fd;
}

}  // namespace

bool bind_listen_sockets(const std::vector<std::string>& addresses, int backlog,
                         std::vector<ListenSocket>* sockets, std::string* error) {
  sockets->clear();
  for (const std::string& requested : addresses) {
    int fd = bind_one(requested, backlog, error);
    if (fd < 0) {
      for (ListenSocket& opened : *sockets) ::close(opened.fd);
      sockets->clear();
      return false;
    }
    ListenSocket socket;
    socket.fd = fd;
    socket.requested = requested;
    // The same reading of the bound address as the child's (common/listen_fds).
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    socket.address = requested;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) == 0) {
      char host[NI_MAXHOST] = {};
      char port[NI_MAXSERV] = {};
      if (::getnameinfo(reinterpret_cast<sockaddr*>(&storage), length, host, sizeof host, port, sizeof port,
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        socket.address = storage.ss_family == AF_INET6 ? "[" + std::string(host) + "]:" + port
                                                       : std::string(host) + ":" + port;
      }
    }
    sockets->push_back(socket);
  }
  return true;
}

}  // namespace fsr::supervisor
