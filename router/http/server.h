// The client-facing HTTP/1.1 server: Boost.Beast parsing and serializing on
// Boost.Asio sockets, one io_context per event-loop thread (io_threads), in
// front of a Handler (router/http/exchange.h).
//
// - A connection costs no thread: idle, reading and writing are all
//   asynchronous. Connections are dealt to the loops in turn and stay on
//   theirs, so a connection's steps never run concurrently (no strand) and
//   the loops never contend for one scheduler. Work that waits
//   (Exchange::finish) runs on a bounded pool of blocking threads and the
//   session resumes on its loop afterwards.
// - A read whose bytes are there already (a body that came with its head)
//   and a reply the socket has room for are done at once, not through the
//   loop's queue, at most 16 steps in a row per connection before the loop
//   runs again (so a burst of pipelined requests cannot recurse unbounded).
// - Timeouts cost no timer per request: each connection keeps one deadline
//   (a store), and one sweep checks them all every eighth of the shortest
//   timeout (at most 250 ms), so a timeout fires that much late at most.
// - Bodies stream both ways in chunks of at most 64 KiB; a session holds
//   its chunk buffer only while a body moves.
// - The listening socket has SO_REUSEADDR and a backlog of 4096; accepted
//   sockets have TCP_NODELAY. Given an inherited_fd (a socket a supervisor
//   bound and shares, common/listen_fds.h), bind() adopts it as it is: no
//   bind(2), no listen(2), no option changed on it.
// - A reply sent before the request's body was read closes the connection:
//   unread body bytes are never parsed as a request.
// - Limits (ServerOptions): a head over header_limit bytes is 431 (414 when
//   the request line alone is), router/http/request_head.h's checks refuse
//   what is malformed or too large before the body is read, a chunked body
//   crossing max_body_bytes is 413, a head not complete within
//   header_timeout or a body still for body_idle_timeout is 408, a stream
//   the client ends partway through a head or a body is 400 (read by a
//   client that only half-closed); each of these replies closes the
//   connection, and an exchange whose body did not complete is aborted
//   (nothing committed). Past max_connections no
//   connection is accepted until one closes. Memory per connection is
//   bounded by header_limit and one 64 KiB chunk; an idle one holds neither.
// - A single Range on a 200 answer to GET is served as 206 with
//   Content-Range (416 when unsatisfiable); several ranges get the whole body.
// - An exception out of the handler (start, an exchange's body, finish or
//   finish_async) fails its request with 500; one out of a reply body's
//   reader cuts that reply short. The loop and the other connections go on.
// - A request that has arrived when its connection's keep-alive deadline
//   fires is answered, not dropped by the close.
// - Closing is lingering: the write side shuts first and what the client
//   still sends is read and dropped for a moment, so a reply is not reset.
// - stop() is graceful: no new connection is accepted, idle connections
//   close, requests in flight are answered (with any request already
//   pipelined behind them) on connections that then close;
//   it returns once every connection is gone (or after drain_max). On a
//   socket it bound itself, new SYNs are dropped first (a socket filter,
//   where the kernel allows it: CAP_NET_ADMIN), and the connections the
//   kernel already took in, queued or still mid-handshake, are accepted and
//   answered before the socket closes (closing it would reset them): it
//   asks the kernel until none is left, for at most 3 s
//   (router/http/listen_socket.h). Without the filter, what is queued when
//   the stop begins is accepted, then the socket closes. With an inherited
//   socket, stop() only stops accepting and closes this process's fd: no
//   socket filter, no shutdown(2), so the socket keeps listening for its
//   owner and connections waiting in its queue are left for the next
//   process that accepts.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "router/http/exchange.h"

namespace fsr::router::http {

class ServerState;

// Told of what the server does, for metrics. Called on event-loop threads,
// often: must be cheap and must not block.
class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  // A reply is about to be written (its status and source final): elapsed
  // runs from the first byte of the request. Requests refused before their
  // head was parsed (431, 414, 408, 400) have an empty method.
  virtual void answered(const RequestHead& head, const Response& res, std::chrono::steady_clock::duration elapsed) = 0;
  virtual void body_bytes_received(uint64_t n) = 0;  // request body bytes, as they arrive
  virtual void body_bytes_sent(uint64_t n) = 0;      // response body bytes, as they are written
};

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 8080;  // 0: any free port (bind() returns it)
  int io_threads = 2;
  int blocking_threads = 64;
  int max_connections = 10000;                       // past it, new connections wait in the accept queue
  std::chrono::seconds keep_alive{75};               // an idle connection closes after this
  std::chrono::milliseconds header_timeout{10000};   // a request head not complete in this: 408
  std::chrono::milliseconds body_idle_timeout{30000};  // a body that does not move for this: 408
  std::chrono::milliseconds io_timeout{30000};       // a write not complete in this closes the connection
  size_t header_limit = 16 * 1024;                   // request line and header fields: 431 (414) past it
  size_t max_header_fields = 100;                    // 431 past it
  uint64_t max_body_bytes = UINT64_MAX;              // 413 past it
  std::chrono::milliseconds drain_max{30000};        // stop() waits at most this for requests in flight
  RequestObserver* observer = nullptr;  // outlives the server; nullptr: none
  int inherited_fd = -1;  // >= 0: a listening socket to adopt instead of binding host:port (taken over, closed on stop)
};

class Server {
 public:
  Server(Handler& handler, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens, binds and listens (or adopts inherited_fd); returns the bound
  // port, or -1 with the reason in *error.
  int bind(std::string* error);
  // Starts the event-loop and blocking threads; connections are accepted from here on.
  void start();
  // Graceful stop as above; blocks until done. Call once, after start().
  void stop();

  int open_connections() const;

 private:
  std::shared_ptr<ServerState> state_;
};

}  // namespace fsr::router::http
