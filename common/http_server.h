// Server-side settings every HTTP server of the project needs with Debian's
// cpp-httplib 0.11.4, whose defaults do not fit a loaded server:
// - a thread pool of `threads` workers (its default is 8);
// - SO_REUSEADDR (its socket-options hook replaces the default that sets it);
// - TCP_NODELAY (off by default; small answers otherwise wait on delayed ACKs);
// - a listen backlog of 4096 instead of 5 (bursts of new connections
//   otherwise meet SYN retransmits and seconds of latency);
// - keep-alive for many requests per connection, and read/write timeouts.
#pragma once

#include <httplib.h>

#include <string>

namespace fsr {

struct HttpServerOptions {
  int threads = 64;
  int backlog = 4096;
  int keep_alive_max_count = 10000;
  int keep_alive_timeout_sec = 30;
  int read_timeout_sec = 30;
  int write_timeout_sec = 30;
};

// Applies the options. Call before bind_and_listen.
void configure_server(httplib::Server& server, const HttpServerOptions& options);

// Binds host:port (port 0 picks a free one), raises the backlog, and returns
// the bound port, or -1 with errno-style text in *error.
// *listen_fd, when given, receives the listening socket's descriptor.
int bind_server(httplib::Server& server, const std::string& host, int port, std::string* error,
                int* listen_fd = nullptr);

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
long raise_open_file_limit();

}  // namespace fsr
