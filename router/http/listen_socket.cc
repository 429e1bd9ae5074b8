#include "router/http/listen_socket.h"

#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fsr::router::http {
namespace {

// A TCP socket's filter sees the segment from its TCP header on: byte 13
// holds the flags, 0x02 is SYN. A filter's return is how many bytes to
// keep: 0 drops the segment.
constexpr uint32_t kTcpFlagsOffset = 13;
constexpr uint32_t kSyn = 0x02;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The local address a count matches: a port, and an address unless the
// socket is bound to the wildcard (4 or 16 bytes, network order).
struct LocalAddress {
  int family = 0;
  uint16_t port = 0;
  bool any = true;
  bool mapped = false;  // IPv6, ::ffff:a.b.c.d
  unsigned char address[16] = {};
};

bool matches(const LocalAddress& local, int family, const inet_diag_sockid& id) {
  if (ntohs(id.idiag_sport) != local.port) return false;
  if (local.any) return true;
  // An IPv6 socket bound to an IPv4-mapped address may see its clients
  // listed under IPv4, by the IPv4 address.
  if (family == AF_INET && local.family == AF_INET6)
    return local.mapped && std::memcmp(id.idiag_src, local.address + 12, 4) == 0;
  if (family != local.family) return false;
  return std::memcmp(id.idiag_src, local.address, family == AF_INET ? 4 : 16) == 0;
}

// Counts one family's SYN_RECV sockets matching `local`; -1 on an error.
int count_family(int nl, int family, const LocalAddress& local) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = static_cast<uint8_t>(family);
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = 1u << TCP_SYN_RECV;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl, &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return -1;
  int count = 0;
  alignas(nlmsghdr) char buffer[32 * 1024];
  for (;;) {
    ssize_t n = ::recv(nl, buffer, sizeof buffer, MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0 || static_cast<size_t>(n) > sizeof buffer) return -1;
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return count;
      if (h->nlmsg_type == NLMSG_ERROR) return -1;
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      const auto* socket = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (socket->idiag_state == TCP_SYN_RECV && matches(local, family, socket->id)) ++count;
    }
  }
}

}  // namespace

bool refuse_new_handshakes(int listen_fd) {
  sock_filter program[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kTcpFlagsOffset),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, kSyn, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0),           // SYN: dropped
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff),  // anything else: kept whole
  };
  sock_fprog filter{static_cast<unsigned short>(sizeof program / sizeof program[0]), program};
  return ::setsockopt(listen_fd, SOL_SOCKET, SO_ATTACH_FILTER, &filter, sizeof filter) == 0;
}

int handshakes_under_way(int listen_fd) {
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) return -1;
  LocalAddress local;
  local.family = bound.ss_family;
  if (bound.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&bound);
    local.port = ntohs(a->sin_port);
    local.any = a->sin_addr.s_addr == htonl(INADDR_ANY);
    std::memcpy(local.address, &a->sin_addr, 4);
  } else if (bound.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&bound);
    local.port = ntohs(a->sin6_port);
    local.any = IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr);
    local.mapped = IN6_IS_ADDR_V4MAPPED(&a->sin6_addr);
    std::memcpy(local.address, &a->sin6_addr, 16);
  } else {
    return -1;
  }
  Fd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (nl.get() < 0) return -1;
  // Called on an event loop: a kernel that does not answer is "cannot tell".
  timeval patience{1, 0};
  ::setsockopt(nl.get(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
  // An IPv4 socket takes IPv4 clients only; an IPv6 one may take both.
  int v4 = 0;
  if (local.family == AF_INET || local.any || local.mapped) {
    v4 = count_family(nl.get(), AF_INET, local);
    if (v4 < 0) return -1;
  }
  if (local.family == AF_INET) return v4;
  int v6 = count_family(nl.get(), AF_INET6, local);
  if (v6 < 0) return -1;
  return v4 + v6;
}

}  // namespace fsr::router::http
