// Listening sockets inherited from a supervisor (systemd's LISTEN_FDS
// convention): the parent binds the sockets, and the program it starts finds
// them open as fds 3, 4, ... 3+LISTEN_FDS-1, with LISTEN_PID naming the
// process they are meant for. The parent keeps its own copies, so the
// sockets (and the connections waiting in their accept queues) outlive the
// program. fsrouter-supervisor is such a parent.
//
// What holds after take_inherited_sockets() returns true:
//   - LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES are gone from the environment,
//     so a program this one starts never takes them for its own;
//   - every returned fd is marked FD_CLOEXEC;
//   - the list is empty when the variables are absent or LISTEN_PID is
//     another process (the sockets were not meant for this one).
// The sockets are shared with the parent: shutdown(2), a socket filter or a
// new listen(2) backlog on one changes the parent's copy too. Stop accepting
// by closing this process's fd, never by shutting the socket down.
#pragma once

#include <string>
#include <vector>

namespace fsr {

struct InheritedSocket {
  int fd = -1;
  std::string host;     // bound address, numeric ("0.0.0.0", "127.0.0.1", "::")
  int port = 0;         // bound port
  std::string address;  // "host:port" ("[v6]:port" for IPv6), for logs
};

// Reads and unsets the variables; fills *sockets (possibly empty). Returns
// false, with *error, when the variables are malformed or an announced fd is
// not a bound socket.
bool take_inherited_sockets(std::vector<InheritedSocket>* sockets, std::string* error);

// The fd of the socket bound to wanted ("host:port", numeric host, empty host
// = 0.0.0.0), or -1 when none is. Port 0 in wanted ("any free port") matches
// the first socket bound to that host.
int find_inherited_socket(const std::vector<InheritedSocket>& sockets, const std::string& wanted);

}  // namespace fsr
