// probe: the container health check. The images have no shell, so Docker's
// HEALTHCHECK runs this program directly (exec form). Exit 0 means healthy.
//
//   probe listening PORT        a socket of this network namespace listens on
//                               PORT (read from /proc/net/tcp{,6}); opens no
//                               connection at all
//   probe tcp HOST:PORT         a TCP connect succeeds within 2 s; sends nothing
//   probe http HOST:PORT PATH   `GET PATH` answers status 200 within 2 s
//
// The file servers' checks never send an HTTP request: each request takes one
// of a file server's 10 slots, and every connection counts against its limit
// of 10, so their check is `listening` (or at most a bare `tcp` connect).
// Only plain C library calls, so the program needs nothing beyond libc
// (deploy/build-images.sh builds it with -fno-exceptions for the scratch
// images); that is why it alone does not use CLI11. Like every program here,
// -h/--help prints the usage and exits 0, and a usage error exits 2.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kTimeoutMs = 2000;

constexpr const char* kUsage = "usage: probe listening PORT | probe tcp HOST:PORT | probe http HOST:PORT PATH\n";

int usage() {
  std::fputs(kUsage, stderr);
  return 2;
}

// True when /proc/net/<file> lists a socket in state LISTEN (0A) on port.
bool listed_as_listening(const char* file, long port) {
  FILE* in = std::fopen(file, "r");
  if (in == nullptr) return false;
  char line[512];
  bool found = false;
  std::fgets(line, sizeof line, in);  // header
  while (!found && std::fgets(line, sizeof line, in) != nullptr) {
    // "  0: 00000000:04D2 00000000:0000 0A ..." (tcp6: 32 hex digits of address)
    char local[80], remote[80], state[8];
    if (std::sscanf(line, "%*s %79s %79s %7s", local, remote, state) != 3) continue;
    const char* colon = std::strrchr(local, ':');
    if (colon == nullptr) continue;
    found = std::strtol(colon + 1, nullptr, 16) == port && std::strcmp(state, "0A") == 0;
  }
  std::fclose(in);
  return found;
}

int probe_listening(const char* port_text) {
  long port = std::strtol(port_text, nullptr, 10);
  if (port <= 0 || port > 65535) return usage();
  if (listed_as_listening("/proc/net/tcp", port) || listed_as_listening("/proc/net/tcp6", port)) {
    return 0;
  }
  std::fprintf(stderr, "probe: nothing listens on port %ld\n", port);
  return 1;
}

// Connects to host:port with a deadline; returns the socket or -1.
int connect_with_timeout(const char* address) {
  char host[256];
  const char* colon = std::strrchr(address, ':');
  if (colon == nullptr || static_cast<size_t>(colon - address) >= sizeof host) return -1;
  std::memcpy(host, address, colon - address);
  host[colon - address] = '\0';

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host, colon + 1, &hints, &found) != 0 || found == nullptr) {
    std::fprintf(stderr, "probe: cannot resolve %s\n", address);
    return -1;
  }
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int result = fd < 0 ? -1 : connect(fd, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (fd < 0) return -1;
  if (result != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int error = ETIMEDOUT;
    socklen_t length = sizeof error;
    if (poll(&p, 1, kTimeoutMs) == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    result = error == 0 ? 0 : -1;
    errno = error;
  }
  if (result != 0) {
    std::fprintf(stderr, "probe: connect %s: %s\n", address, std::strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

int probe_tcp(const char* address) {
  int fd = connect_with_timeout(address);
  if (fd < 0) return 1;
  close(fd);
  return 0;
}

int probe_http(const char* address, const char* path) {
  int fd = connect_with_timeout(address);
  if (fd < 0) return 1;
  char request[512];
  int length = std::snprintf(request, sizeof request,
                             "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
                             address);
  if (length <= 0 || length >= static_cast<int>(sizeof request) ||
      send(fd, request, length, MSG_NOSIGNAL) != length) {
    close(fd);
    return 1;
  }
  // Only the status line matters: "HTTP/1.1 200 ...".
  char answer[64] = {};
  size_t got = 0;
  while (got < 12) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kTimeoutMs) != 1) break;
    ssize_t n = recv(fd, answer + got, sizeof answer - 1 - got, 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  if (got >= 12 && std::strncmp(answer, "HTTP/1.", 7) == 0 && std::strncmp(answer + 9, "200", 3) == 0) {
    return 0;
  }
  std::fprintf(stderr, "probe: GET %s%s answered: %.12s\n", address, path, answer);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "listening") == 0) return probe_listening(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "tcp") == 0) return probe_tcp(argv[2]);
  if (argc == 4 && std::strcmp(argv[1], "http") == 0) return probe_http(argv[2], argv[3]);
  return usage();
}
