// What the client-facing HTTP server (router/http/server.h) hands to the
// code that answers requests, and what it gets back.
//
// A request arrives in two steps. Handler::start sees the head (method,
// target, header fields) on an event-loop thread and must not block: it
// either answers at once or returns an Exchange. The Exchange takes the
// body chunk by chunk, in order, on the same connection's event loop (so a body
// is never whole in memory), then finish() runs on the blocking pool, where
// waiting (a backend read) holds no event-loop thread. An exchange whose
// wait has a callback of its own (a queued journal commit) answers through
// finish_async instead and holds no thread at all while it waits.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fsr::router::http {

struct RequestHead {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // as sent, still percent-encoded, query included
  std::vector<std::pair<std::string, std::string>> fields;
  bool has_body = false;  // Content-Length above 0, or chunked
  uint64_t content_length = 0;  // when known (not chunked)
  bool chunked = false;

  // The target without its query string.
  std::string_view path() const;
  // The first field of that name (case-insensitive), or nullptr.
  const std::string* field(std::string_view name) const;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // A streamed body instead of `body`: its size, and a reader of the range
  // at an offset (returns the count, 0 at the end, -1 on an error). The
  // server pulls it a chunk at a time as the client takes it.
  uint64_t stream_size = 0;
  std::function<long(uint64_t offset, char* buf, size_t n)> stream;
  bool close = false;  // close the connection after this reply
  // What answered, for the request metrics: a fixed word ("journal",
  // "backend"), never anything taken from the request. nullptr: neither.
  const char* source = nullptr;

  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

// Fills res with a one-line plain-text answer (a newline is added).
void plain(Response& res, unsigned status, const std::string& text);

// Delivers an exchange's reply, once, from any thread.
using Reply = std::function<void(Response)>;
// Runs work on the blocking pool (the --threads pool).
using RunBlocking = std::function<void(std::function<void()>)>;

class Exchange {
 public:
  virtual ~Exchange() = default;
  // The next chunk of the body, on the connection's event loop; must not wait
  // on anything but the local disk. False refuses the rest: the server
  // stops reading, calls finish(false, ..) and closes after the reply.
  virtual bool body(const char* data, size_t n) { return true; }
  // On the blocking pool, once: after the whole body (complete) or after
  // body() refused it. Fills the reply.
  virtual void finish(bool complete, Response* res) = 0;
  // Tried first, on the connection's event loop; must not block. True: the
  // exchange calls reply exactly once, from any thread, and finish() is not
  // called; work of its own that blocks goes to `blocking`. False: finish()
  // runs on the blocking pool.
  virtual bool finish_async(bool complete, Reply reply, RunBlocking blocking) { return false; }
  // The connection ended before the body was complete (client gone, body
  // malformed or too slow); finish() is never called then. Must not throw.
  virtual void aborted() {}
  // An exception out of start, body, finish or finish_async fails the
  // request with 500 (a reply handed out before it is then dropped; work
  // already queued still runs, so it must not refer to the exchange).
  // A Reply called more than once delivers the first call only.
};

class Handler {
 public:
  virtual ~Handler() = default;
  // On an event-loop thread, must not block: answer at once (fill *res,
  // return nullptr) or return the exchange that takes the request from here.
  virtual std::unique_ptr<Exchange> start(const RequestHead& head, Response* res) = 0;
};

}  // namespace fsr::router::http
