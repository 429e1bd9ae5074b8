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

// Counts one family's SYN_RECV sockets on `port`; -1 on an error.
int count_family(int nl, int family, uint16_t port) {
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
      if (socket->idiag_state == TCP_SYN_RECV && ntohs(socket->id.idiag_sport) == port) ++count;
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

int handshakes_under_way(uint16_t port) {
  Fd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (nl.get() < 0) return -1;
  // Called on an event loop: a kernel that does not answer is "cannot tell".
  timeval patience{1, 0};
  ::setsockopt(nl.get(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
  // Both families: a socket may listen on either (an IPv4 client of an
  // IPv6 socket is listed under IPv6).
  int v4 = count_family(nl.get(), AF_INET, port);
  if (v4 < 0) return -1;
  int v6 = count_family(nl.get(), AF_INET6, port);
  if (v6 < 0) {
    // A kernel without IPv6 has nothing to count there; anything else is unknown.
    Fd probe(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe.get() >= 0) return -1;
    v6 = 0;
  }
  return v4 + v6;
}

}  // namespace fsr::router::http
