// A raw client connection to a server on loopback, for the router tests of
// framing, limits and early answers: fsload's RawConnection
// (loadtest/raw_connection.h) with a port-only constructor.
#pragma once

#include "loadtest/raw_connection.h"

namespace fsr::test {

using load::count_of;
using load::status_line;

class RawConnection : public load::RawConnection {
 public:
  explicit RawConnection(int port) : load::RawConnection("127.0.0.1", port) {}
};

}  // namespace fsr::test
