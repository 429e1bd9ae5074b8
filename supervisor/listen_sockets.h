// The supervisor's listening sockets: bound once at start and kept open for
// the supervisor's whole life, so connections wait in the kernel's accept
// queue while no child runs. Each child receives them as fds 3, 4, ... in
// the order given (common/listen_fds.h is the child's side).
#pragma once

#include <string>
#include <vector>

namespace fsr::supervisor {

struct ListenSocket {
  int fd = -1;             // FD_CLOEXEC in the supervisor; the child gets a copy at 3+i
  std::string requested;   // as given to --listen
  std::string address;     // bound address, "host:port" (the real port when 0 was asked)
};

// Binds every "host:port" (SO_REUSEADDR, listen(backlog)). On failure closes
// what it opened and returns false with *error naming the address.
bool bind_listen_sockets(const std::vector<std::string>& addresses, int backlog,
                         std::vector<ListenSocket>* sockets, std::string* error);

}  // namespace fsr::supervisor
