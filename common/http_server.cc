#include "common/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace fsr {
namespace {
// The listening socket's descriptor, captured by the socket-options hook, so
// that bind_server can listen() on it again with a larger backlog.
struct ListenFd {
  int fd = -1;
};
}  // namespace

void configure_server(httplib::Server& server, const HttpServerOptions& options) {
  int threads = options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(static_cast<size_t>(options.keep_alive_max_count));
  server.set_keep_alive_timeout(options.keep_alive_timeout_sec);
  server.set_read_timeout(options.read_timeout_sec, 0);
  server.set_write_timeout(options.write_timeout_sec, 0);
}

int bind_server(httplib::Server& server, const std::string& host, int port, std::string* error, int* listen_fd_out) {
  auto listen_fd = std::make_shared<ListenFd>();
  server.set_socket_options([listen_fd](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    listen_fd->fd = sock;
  });
  int bound = 0;
  if (port == 0) {
    bound = server.bind_to_any_port(host);
  } else {
    bound = server.bind_to_port(host, port) ? port : -1;
  }
  if (bound <= 0) {
    if (error) *error = std::string("cannot bind ") + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
    return -1;
  }
  if (listen_fd->fd >= 0) ::listen(listen_fd->fd, 4096);
  if (listen_fd_out) *listen_fd_out = listen_fd->fd;
  return bound;
}

long raise_open_file_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return -1;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return static_cast<long>(lim.rlim_cur);
}

}  // namespace fsr
