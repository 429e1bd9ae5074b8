// What a graceful stop needs from the kernel about a listening TCP socket
// it owns, so that closing it resets no connection a client already has.
//
// A listening socket's close resets every connection still in its accept
// queue, and every handshake still under way: the client of either believes
// it is connected and may have sent its request. So a stop first refuses
// new handshakes, then accepts until the queue is empty and no handshake is
// left (handshakes_under_way), and only then closes.
#pragma once

#include <cstdint>

namespace fsr::router::http {

// Attaches a socket filter that drops every segment with SYN set: new
// connection attempts go unanswered (the client retries its SYN and then
// finds the port closed), while handshakes already under way complete and
// reach the accept queue. Returns false (errno set) when the kernel refused:
// recent kernels want CAP_NET_ADMIN for a filter on a TCP socket.
bool refuse_new_handshakes(int listen_fd);

// How many TCP connections to the listening socket's address and port are
// between the client's SYN and the ACK that completes them (SYN_RECV),
// asked of the kernel through NETLINK_SOCK_DIAG (no capability needed); -1
// when it cannot tell. The kernel lists them by local address and port,
// not by socket: a socket bound to one address counts only that address's
// (another address on the same port is another socket); one bound to the
// wildcard counts every address of its family, and an IPv6 one IPv4's too
// (an IPv4 client of a dual-stack socket may be listed under IPv4). Another
// socket sharing the address and port (SO_REUSEPORT) is counted as well,
// which only makes a stop wait longer.
int handshakes_under_way(int listen_fd);

}  // namespace fsr::router::http
