#include "router/http/server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/log.h"
#include "router/http/listen_socket.h"
#include "router/http/request_head.h"

namespace fsr::router::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

std::string_view RequestHead::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

const std::string* RequestHead::field(std::string_view name) const {
  for (const auto& [key, value] : fields)
    if (beast::iequals(key, name)) return &value;
  return nullptr;
}

void plain(Response& res, unsigned status, const std::string& text) {
  res.status = status;
  res.content_type = "text/plain; charset=utf-8";
  res.body = text + "\n";
  res.stream = nullptr;
  res.stream_size = 0;
}

namespace {

constexpr size_t kChunk = 64 * 1024;
// What a request is read into from the socket (at most the header limit),
// taken once its first bytes are there and given back once it is read: a
// small request's head and body arrive in one read, a large body in reads
// of this size (Beast reads at most the buffer's free space, and at least
// 512 bytes, at a time). A connection that is idle, waiting for its answer
// or writing it holds none (unless the next request's bytes are in it).
constexpr size_t kReadBuffer = 16 * 1024;
// After the write side is shut down, unread bytes are drained for at most
// this long and this many bytes before the socket closes, so the client
// reads the reply instead of a reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
// At stop, how long handshakes begun before it are waited for (a lost ACK
// is retried by the kernel's SYN-ACK retransmit after 1 s).
constexpr auto kHandshakeWait = std::chrono::seconds(3);
constexpr size_t kLingerBytes = 1 << 20;
// What a lingering close reads into: small, since the bytes are dropped, and
// a burst of thousands of closes then costs no large allocations.
constexpr size_t kLingerChunk = 4096;

class Session;

// A session in the server's list: the weak pointer to reach it, and the raw
// one to read its deadline while the list's mutex is held (a session leaves
// the list in its destructor's body, under that mutex, so the object is
// whole while listed).
struct Listed {
  Session* raw;
  std::weak_ptr<Session> weak;
};
using SessionList = std::list<Listed>;

std::vector<std::unique_ptr<net::io_context>> make_loops(int count) {
  std::vector<std::unique_ptr<net::io_context>> loops;
  // Concurrency hint 1: each loop is run by one thread only.
  for (int i = 0; i < std::max(1, count); ++i) loops.push_back(std::make_unique<net::io_context>(1));
  return loops;
}

}  // namespace

// One io_context per event-loop thread: a connection stays on the loop that
// accepted it, so its handlers never run concurrently and need no strand,
// and no two loops contend for one scheduler or wake each other. The
// acceptor and the deadline sweep run on the first loop.
class ServerState : public std::enable_shared_from_this<ServerState> {
 public:
  ServerState(Handler& h, ServerOptions o)
      : handler(h),
        options(std::move(o)),
        loops(make_loops(options.io_threads)),
        acceptor(loops[0]->get_executor()),
        accept_retry(loops[0]->get_executor()),
        sweep_timer(loops[0]->get_executor()) {}

  Handler& handler;
  ServerOptions options;
  std::vector<std::unique_ptr<net::io_context>> loops;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;
  net::steady_timer sweep_timer;
  bool sweep_stopped = false;  // on loops[0]
  bool accept_stopped = false;  // on loops[0]: stop() drains the accept queue itself
  bool stop_accept_warned = false;  // on loops[0]: drain_backlog's accept failure, logged once
  size_t next_loop = 0;        // on loops[0]: where the next connection goes
  std::unique_ptr<net::thread_pool> blocking;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};

  std::mutex mu;
  std::condition_variable drained;
  SessionList sessions;         // guarded by mu
  int open = 0;                 // guarded by mu
  bool accept_paused = false;   // guarded by mu: at max_connections

  void accept();
  void serve(tcp::socket socket);
  void sweep();
  // stop()'s close of a listening socket it owns, on loops[0]: see Server::stop.
  void drain_backlog(bool filtered, std::chrono::steady_clock::time_point give_up, int quiet_checks,
                     std::function<void()> closed);
  // How often deadlines are checked: a small part of the shortest timeout,
  // so a timeout fires at most that late; cheap at 10,000 connections.
  std::chrono::milliseconds sweep_interval() const {
    auto shortest = std::min({std::chrono::milliseconds(options.keep_alive), options.header_timeout,
                              options.body_idle_timeout, std::chrono::milliseconds(options.io_timeout),
                              std::chrono::milliseconds(kLingerTime)});
    return std::clamp(shortest / 8, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
  }
  SessionList::iterator add(const std::shared_ptr<Session>& s) {
    std::lock_guard lock(mu);
    ++open;
    return sessions.insert(sessions.end(), Listed{s.get(), s});
  }
  void remove(SessionList::iterator it) {
    std::lock_guard lock(mu);
    sessions.erase(it);
    --open;
    drained.notify_all();
    if (accept_paused && open < options.max_connections) {
      accept_paused = false;
      net::post(acceptor.get_executor(), [self = shared_from_this()] { self->accept(); });
    }
  }
  // After a new connection: true when the cap is reached and accepting pauses.
  bool pause_if_full() {
    std::lock_guard lock(mu);
    accept_paused = open >= options.max_connections;
    return accept_paused;
  }
};

namespace {

// What the exception being handled says; called in a catch (...).
std::string current_error() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception of an unknown type";
  }
}

bool is_parse_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

// One client connection: reads a request head, hands it to the handler,
// streams the body to its exchange, writes the reply, and loops while the
// connection is kept alive. Every step runs on the connection's loop (one
// thread), so none runs concurrently with another.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<ServerState> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    // The parser keeps a line it has not seen the end of (a chunk size with
    // an endless extension, a trailer field) in the buffer and asks for
    // more: the buffer's own limit ends that (buffer_overflow, a 400), so
    // memory never follows what a client sends. A head fits in it whole.
    buffer_.max_size(options().header_limit + kChunk);
  }
  ~Session() {
    if (exchange_) exchange_->aborted();
    if (registered_) server_->remove(self_in_list_);
  }

  void run() {
    self_in_list_ = server_->add(shared_from_this());
    registered_ = true;
    // Non-blocking for the steps tried at once (try_now): a read or write
    // that would wait returns would_block and goes through the loop instead.
    beast::error_code ec;
    stream_.non_blocking(true, ec);
    inline_ok_ = !ec;  // a blocking socket would freeze the loop in a step tried at once
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_head(); });
  }

  // At stop. A connection busy with a request finishes it and then closes.
  // One between two requests closes now (its next request finds the close,
  // as after any keep-alive timeout). A connection that has not sent its
  // first request yet is given the head timeout for it: a client that
  // connected before the stop has its request answered, not cut.
  void stop_if_idle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->new_turn();
      if (self->phase_ != Phase::kIdle) return;
      beast::error_code ec;
      if (self->stream_.available(ec) > 0 && !ec) return;  // a request is arriving
      if (self->served_ == 0) return self->arm(self->options().header_timeout);
      self->close();
    });
  }

  // From the sweep, under the server's mutex (any thread): when the
  // deadline has passed, the session checks it again on its own loop.
  void check_deadline(int64_t now, const std::weak_ptr<Session>& weak) {
    int64_t d = deadline_.load(std::memory_order_relaxed);
    if (d == 0 || d > now) return;
    if (auto self = weak.lock())
      net::post(stream_.get_executor(), [self = std::move(self)] {
        self->new_turn();
        self->on_deadline();
      });
  }

 private:
  enum class Phase { kIdle, kHead, kBody, kWorking, kWriting, kClosing };

  const ServerOptions& options() const { return server_->options; }

  // The one deadline, of whatever the connection waits for (a request, a
  // body's next bytes, a write, a lingering close): a store, no timer. The
  // server's sweep finds it passed (ServerState::sweep), and on_deadline
  // cancels the pending operation, whose handler sees timed_out_. A
  // deadline disarmed or moved on before on_deadline runs is left alone.
  // A passed deadline stays set until the operation's handler disarms it,
  // so a composed read or write (several reads or writes in turn) whose
  // step was between two calls when the cancel came is cancelled again at
  // the next sweep: a timeout is never lost.
  template <class Duration>
  void arm(Duration d) {
    timed_out_ = false;
    auto at = std::chrono::steady_clock::now() + d;
    deadline_.store(at.time_since_epoch().count(), std::memory_order_relaxed);
  }
  void disarm() { deadline_.store(0, std::memory_order_relaxed); }
  void on_deadline() {
    int64_t d = deadline_.load(std::memory_order_relaxed);
    if (d == 0 || d > std::chrono::steady_clock::now().time_since_epoch().count()) return;
    timed_out_ = true;
    beast::error_code ignored;
    stream_.cancel(ignored);
  }

  // A read or write whose bytes are there already (a body that came with
  // its head, a reply the socket has room for) is done at once instead of
  // through the loop's queue: each trip through the queue waits behind
  // every other connection's steps, and under 1,000 writers that wait,
  // three times per request, was most of a PUT's latency. The steps done
  // at once in a row are bounded (a client pipelining thousands of
  // requests would otherwise recurse without end); past the bound, and
  // whenever a step would wait, it goes through the loop, which resets the
  // count.
  // A body streaming in fast is read at once for one chunk's worth per turn
  // of the loop at most (inline_body_bytes_), so that a large upload does
  // not hold its loop from the other connections' steps.
  static constexpr int kMaxInlineSteps = 16;
  bool try_now() { return inline_ok_ && inline_steps_++ < kMaxInlineSteps; }
  // At the start of every handler the loop runs: the stack is fresh.
  void new_turn() {
    inline_steps_ = 0;
    inline_body_bytes_ = 0;
  }

  // Idle: wait for the first byte of the next request, holding no buffer.
  void read_head() {
    phase_ = Phase::kIdle;
    parser_.reset();
    head_ = RequestHead{};
    // A request pipelined behind the last one is here already: it is
    // answered even when a stop began meanwhile (during the last reply's
    // write, which promised to keep the connection open); its own reply
    // then closes the connection.
    if (buffer_.size() > 0) return read_header();
    // Stopping: a kept-alive connection closes; a new one still gets its
    // first request answered (stop_if_idle).
    if (server_->stopping && served_ > 0) return close();
    buffer_.shrink_to_fit();
    arm(server_->stopping ? options().header_timeout : options().keep_alive);
    stream_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      self->new_turn();
      // Closed meanwhile (stop_if_idle): the close owns the deadline now.
      if (self->phase_ != Phase::kIdle) return;
      self->disarm();
      if (ec) {
        // The keep-alive deadline cancelled the wait just as a request came
        // in: the request is answered, not dropped by a lingering close.
        beast::error_code error;
        if (ec == net::error::operation_aborted && self->stream_.available(error) > 0 && !error)
          return self->read_header();
        return self->close();
      }
      self->read_header();
    });
  }

  void read_header() {
    phase_ = Phase::kHead;
    request_started_ = std::chrono::steady_clock::now();
    ranges_ = true;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options().header_limit));
    parser_->body_limit(boost::none);  // Content-Length is checked by check_request_head
    buffer_.reserve(std::min(kReadBuffer, options().header_limit));
    arm(options().header_timeout);
    if (try_now()) {
      beast::error_code ec;
      bhttp::read_header(stream_, buffer_, *parser_, ec);
      if (ec != net::error::would_block) return on_head(ec);
    }
    bhttp::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->new_turn();
      self->on_head(ec);
    });
  }

  // 414 when the request line alone is over the limit (the parser never
  // got to the fields), else 431.
  void reply_header_too_large() {
    if (parser_->get().target().empty()) return reply_error(414, "request target too long");
    reply_error(431, "request header too large");
  }

  void on_head(beast::error_code ec) {
    disarm();
    if (ec) {
      if (timed_out_) return reply_error(408, "request head not received in time");
      if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) return reply_header_too_large();
      if (is_parse_error(ec)) return reply_error(400, "malformed request");
      // The client ended its stream partway through a head: a client that
      // only half-closed still reads why nothing was done.
      if (ec == bhttp::error::partial_message) return reply_error(400, "request head cut short");
      if (ec == bhttp::error::end_of_stream) return close_at_once();
      return close();
    }
    phase_ = Phase::kWorking;
    auto& req = parser_->get();
    head_.method = std::string(req.method_string());
    head_.target = std::string(req.target());
    for (const auto& f : req) head_.fields.emplace_back(std::string(f.name_string()), std::string(f.value()));
    head_.chunked = parser_->chunked();
    head_.content_length = parser_->content_length().value_or(0);
    head_.has_body = !parser_->is_done();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    is_head_ = req.method() == bhttp::verb::head;

    HeadVerdict verdict = check_request_head(head_, HeadLimits{options().max_header_fields, options().max_body_bytes});
    if (!verdict.accepted()) return reply_error(verdict.status, verdict.reason);
    parser_->body_limit(options().max_body_bytes);

    Response res;
    try {
      exchange_ = server_->handler.start(head_, &res);
    } catch (...) {
      log_error("request_failed").kv("target", head_.target).kv("error", current_error());
      exchange_.reset();
      plain(res, 500, "internal error");
    }
    if (!exchange_) {
      if (!parser_->is_done()) res.close = true;  // its body was not read
      return write(std::move(res));
    }
    if (parser_->is_done()) return finish(true);
    // 100 Continue only now: the method, the name and the size passed.
    auto expect = req.find(bhttp::field::expect);
    if (expect != req.end() && beast::iequals(expect->value(), "100-continue") && buffer_.size() == 0) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      arm(options().io_timeout);
      net::async_write(stream_, net::buffer(kContinue), [self = shared_from_this()](beast::error_code ec, size_t) {
        self->new_turn();
        self->disarm();
        if (ec) return self->write_failed();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    phase_ = Phase::kBody;
    if (!chunk_) chunk_ = std::make_unique_for_overwrite<char[]>(kChunk);
    auto& body = parser_->get().body();
    body.data = chunk_.get();
    body.size = kChunk;
    arm(options().body_idle_timeout);
    if (inline_body_bytes_ < kChunk && try_now()) {
      beast::error_code ec;
      bhttp::read_some(stream_, buffer_, *parser_, ec);
      if (ec != net::error::would_block) {
        inline_body_bytes_ += kChunk - parser_->get().body().size;
        return on_body(ec);
      }
    }
    bhttp::async_read_some(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->new_turn();
      self->on_body(ec);
    });
  }

  void on_body(beast::error_code ec) {
    disarm();
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      exchange_->aborted();
      exchange_.reset();
      if (timed_out_) return reply_error(408, "request body stalled");
      if (ec == bhttp::error::body_limit)
        return reply_error(413, "body larger than " + std::to_string(options().max_body_bytes) + " bytes");
      if (is_parse_error(ec)) return reply_error(400, "malformed request body");
      // The stream ended before the body did (Content-Length not reached,
      // no last chunk): nothing is committed, and a client that only
      // half-closed reads the 400.
      if (ec == bhttp::error::partial_message) return reply_error(400, "request body cut short");
      return close();
    }
    size_t got = kChunk - parser_->get().body().size;
    if (got > 0 && options().observer) options().observer->body_bytes_received(got);
    bool more = true;
    if (got > 0) {
      try {
        more = exchange_->body(chunk_.get(), got);
      } catch (...) {
        // A handler's fault must not end the process: this request fails
        // alone, and the rest of its body is not read.
        log_error("request_failed").kv("target", head_.target).kv("error", current_error());
        exchange_->aborted();
        exchange_.reset();
        return reply_error(500, "internal error");
      }
    }
    if (!more) return finish(false);
    if (parser_->is_done()) return finish(true);
    read_body();
  }

  // Lets the exchange answer through its own callback, or runs its finish
  // on the blocking pool; either way the reply is written here.
  void finish(bool complete) {
    phase_ = Phase::kWorking;
    chunk_.reset();
    release_read_buffer();
    // The reply is taken once, for this request only (awaited_reply_ is
    // its one-shot token): a second call, or one that comes after the
    // session moved on (a finish_async that threw after handing its reply
    // out), is dropped, whatever the session is doing by then.
    uint64_t request = ++requests_;
    awaited_reply_ = request;
    Reply reply = [self = shared_from_this(), complete, request](Response res) {
      if (!complete) res.close = true;
      net::post(self->stream_.get_executor(), [self, res = std::move(res), request]() mutable {
        self->new_turn();
        self->take_reply(request, std::move(res));
      });
    };
    RunBlocking blocking = [self = shared_from_this()](std::function<void()> work) {
      net::post(self->server_->blocking->get_executor(), std::move(work));
    };
    try {
      if (exchange_->finish_async(complete, reply, std::move(blocking))) return;
    } catch (...) {
      // The body is whole, so not aborted(): the exchange is dropped as it
      // is, and a reply it handed out before it threw finds the request over.
      log_error("request_failed").kv("target", head_.target).kv("error", current_error());
      Response res;
      plain(res, 500, "internal error");
      res.close = !complete;
      return take_reply(request, std::move(res));
    }
    net::post(server_->blocking->get_executor(), [self = shared_from_this(), complete, request] {
      Response res;
      try {
        self->exchange_->finish(complete, &res);
      } catch (...) {
        log_error("request_failed").kv("target", self->head_.target).kv("error", current_error());
        plain(res, 500, "internal error");
      }
      if (!complete) res.close = true;
      net::post(self->stream_.get_executor(), [self, res = std::move(res), request]() mutable {
        self->new_turn();
        self->take_reply(request, std::move(res));
      });
    });
  }

  // The awaited reply to request number `request` is written; any other is dropped.
  void take_reply(uint64_t request, Response res) {
    if (awaited_reply_ != request || phase_ != Phase::kWorking) return;
    awaited_reply_ = 0;
    exchange_.reset();
    write(std::move(res));
  }

  void reply_error(unsigned status, const std::string& text) {
    Response res;
    plain(res, status, text);
    res.close = true;
    keep_alive_ = false;
    is_head_ = false;
    ranges_ = false;
    write(std::move(res));
  }

  // A single satisfiable Range on a 200 answer to GET: 206 with that part.
  void apply_range(Response& res) {
    if (!ranges_ || head_.method != "GET" || res.status != 200) return;
    const std::string* header = head_.field("Range");
    if (!header) return;
    uint64_t size = res.stream ? res.stream_size : res.body.size();
    ByteRange range;
    switch (parse_range(*header, size, &range)) {
      case RangeKind::kWhole:
        return;
      case RangeKind::kUnsatisfiable:
        plain(res, 416, "range not satisfiable");
        res.set_header("Content-Range", "bytes */" + std::to_string(size));
        return;
      case RangeKind::kSingle:
        break;
    }
    res.status = 206;
    res.set_header("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                        std::to_string(range.first + range.length - 1) + "/" + std::to_string(size));
    if (res.stream) {
      stream_base_ = range.first;
      res.stream_size = range.length;
    } else {
      res.body = res.body.substr(static_cast<size_t>(range.first), static_cast<size_t>(range.length));
    }
  }

  // This request is read (or will not be): the read buffer goes back unless
  // it holds the next request's bytes. Only between reads: no read into
  // the buffer is outstanding when a request is finished or answered.
  void release_read_buffer() {
    if (buffer_.size() == 0) buffer_.shrink_to_fit();
  }

  void write(Response res) {
    release_read_buffer();
    phase_ = Phase::kWriting;
    res_ = std::move(res);
    stream_base_ = 0;
    apply_range(res_);
    if (options().observer)
      options().observer->answered(head_, res_, std::chrono::steady_clock::now() - request_started_);
    keep_alive_ = keep_alive_ && !res_.close && !server_->stopping;
    msg_ = {};
    msg_.version(version_ == 10 ? 10 : 11);
    msg_.result(res_.status);
    uint64_t length = res_.stream ? res_.stream_size : res_.body.size();
    if (length > 0 || !res_.body.empty()) msg_.set(bhttp::field::content_type, res_.content_type);
    for (const auto& [name, value] : res_.headers) msg_.insert(name, value);
    msg_.keep_alive(keep_alive_);
    // A 304 has no content; a Content-Length there would have to be the
    // 200's (RFC 9110 section 8.6), so none is sent.
    if (res_.status != 304) msg_.content_length(length);
    arm(options().io_timeout);
    if (!res_.stream || is_head_) {
      body_bytes_unsent_ = is_head_ ? 0 : res_.body.size();
      if (!is_head_) msg_.body() = std::move(res_.body);
      serializer_.emplace(msg_);
      if (try_now()) {
        beast::error_code ec;
        bhttp::write(stream_, *serializer_, ec);
        if (ec != net::error::would_block) return on_written(ec);
      }
      bhttp::async_write(stream_, *serializer_, [self = shared_from_this()](beast::error_code ec, size_t) {
        self->new_turn();
        self->on_written(ec);
      });
      return;
    }
    serializer_.emplace(msg_);
    stream_offset_ = 0;
    bhttp::async_write_header(stream_, *serializer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->new_turn();
      self->disarm();
      if (ec) return self->write_failed();
      self->write_chunk();
    });
  }

  void write_chunk() {
    if (stream_offset_ >= res_.stream_size) return on_written({});
    if (!chunk_) chunk_ = std::make_unique_for_overwrite<char[]>(kChunk);
    size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, res_.stream_size - stream_offset_));
    long n = -1;
    std::string error = "read failed";
    try {
      n = res_.stream(stream_base_ + stream_offset_, chunk_.get(), want);
    } catch (...) {
      error = current_error();
    }
    if (n <= 0) {
      // The header promised a length: the only honest end now is a cut connection.
      log_error("response_body_read_failed")
          .kv("target", head_.target)
          .kv("offset", stream_base_ + stream_offset_)
          .kv("error", n == 0 ? "ended early" : error);
      return close();
    }
    arm(options().io_timeout);
    net::async_write(stream_, net::buffer(chunk_.get(), static_cast<size_t>(n)),
                     [self = shared_from_this()](beast::error_code ec, size_t written) {
                       self->new_turn();
                       self->disarm();
                       if (ec) return self->write_failed();
                       if (self->options().observer) self->options().observer->body_bytes_sent(written);
                       self->stream_offset_ += written;
                       self->write_chunk();
                     });
  }

  void on_written(beast::error_code ec) {
    disarm();
    serializer_.reset();
    res_ = Response{};
    msg_ = {};
    chunk_.reset();
    if (ec) return write_failed();
    if (body_bytes_unsent_ > 0 && options().observer) options().observer->body_bytes_sent(body_bytes_unsent_);
    body_bytes_unsent_ = 0;
    ++served_;
    if (!keep_alive_) return close();
    read_head();
  }

  // A write failed or timed out: a client that took nothing for io_timeout
  // is not reading, so nothing is drained for it.
  void write_failed() { timed_out_ ? close_at_once() : close(); }

  // Lingering close: the write side is shut down at once (the client sees
  // the end of the reply), and what the client still sends is read and
  // dropped for a moment, so the close does not reset a reply in flight.
  // The client ended the stream between two requests: no reply is in
  // flight and nothing is left unread, so no lingering is needed (a client
  // closing its idle keep-alive connections costs one close each).
  void close_at_once() {
    if (phase_ == Phase::kClosing) return;
    phase_ = Phase::kClosing;
    disarm();
    if (exchange_) exchange_->aborted();
    exchange_.reset();
    parser_.reset();
    chunk_.reset();
    beast::error_code ignored;
    stream_.close(ignored);
  }

  void close() {
    if (phase_ == Phase::kClosing) return;
    phase_ = Phase::kClosing;
    disarm();
    if (exchange_) exchange_->aborted();
    exchange_.reset();
    parser_.reset();
    beast::error_code ignored;
    stream_.shutdown(tcp::socket::shutdown_send, ignored);
    chunk_ = std::make_unique_for_overwrite<char[]>(kLingerChunk);
    linger_bytes_ = 0;
    arm(kLingerTime);
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(chunk_.get(), kLingerChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->new_turn();
                              self->linger_bytes_ += n;
                              if (!ec && self->linger_bytes_ < kLingerBytes) return self->drain();
                              self->disarm();
                              beast::error_code ignored;
                              self->stream_.close(ignored);
                              self->chunk_.reset();
                            });
  }

  tcp::socket stream_;
  std::shared_ptr<ServerState> server_;
  // steady_clock ticks; 0: none. Written on the loop, read by the sweep.
  std::atomic<int64_t> deadline_{0};
  bool timed_out_ = false;
  bool inline_ok_ = false;       // the socket is non-blocking: steps may be tried at once
  int inline_steps_ = 0;         // steps done at once since the loop last ran one of this session's handlers
  size_t inline_body_bytes_ = 0;  // body bytes read at once since then
  SessionList::iterator self_in_list_;
  bool registered_ = false;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> parser_;
  std::unique_ptr<char[]> chunk_;  // only while a body moves
  Phase phase_ = Phase::kIdle;
  RequestHead head_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool is_head_ = false;
  bool ranges_ = true;  // false for the server's own error replies: no Range applies
  std::chrono::steady_clock::time_point request_started_;  // first byte of the request
  uint64_t body_bytes_unsent_ = 0;  // a whole reply's body, counted sent once written
  uint64_t served_ = 0;  // replies written on this connection
  uint64_t requests_ = 0;       // requests handed to finish(): each reply's number
  uint64_t awaited_reply_ = 0;  // the number of the reply to write next; 0: none awaited
  std::unique_ptr<Exchange> exchange_;
  Response res_;
  bhttp::response<bhttp::string_body> msg_;
  std::optional<bhttp::response_serializer<bhttp::string_body>> serializer_;
  uint64_t stream_base_ = 0;  // where a ranged stream starts
  uint64_t stream_offset_ = 0;
  size_t linger_bytes_ = 0;
};

}  // namespace

void ServerState::accept() {
  if (accept_stopped) return;
  // Connections go to the loops in turn.
  auto& loop = *loops[next_loop++ % loops.size()];
  acceptor.async_accept(loop.get_executor(), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (ec) {
      if (!self->acceptor.is_open() || self->accept_stopped) return;
      // Out of descriptors, most likely: wait a moment instead of spinning.
      log_warn("accept_failed").kv("error", ec.message());
      self->accept_retry.expires_after(std::chrono::milliseconds(50));
      self->accept_retry.async_wait([self](beast::error_code) { self->accept(); });
      return;
    }
    self->serve(std::move(socket));
    if (!self->acceptor.is_open()) return;
    // At the cap, the next connections wait in the kernel's accept queue
    // until one closes (ServerState::remove resumes accepting).
    if (!self->pause_if_full()) self->accept();
  });
}

void ServerState::serve(tcp::socket socket) {
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  // Accepted before stop() closed the acceptor: answered like any other.
  std::make_shared<Session>(std::move(socket), shared_from_this())->run();
}

// Asks the kernel whether a handshake is still under way on the port (one
// that began before refuse_new_handshakes), then accepts every connection
// it has completed, in that order, so that a handshake done between the
// two is in the queue the accepts empty. While one is under way it is
// waited for, a poll at a time, since its client believes it is connected.
// Closes once two checks in a row (the second covers a SYN the kernel was
// taking in while the filter went on) found none and the accepts emptied
// the queue after each, or at give_up (a client that vanished mid-handshake
// is retried by the kernel for a minute). A kernel that cannot tell is
// given the same two checks, 100 ms apart. Without the filter (the kernel
// refused it) new handshakes never stop: one pass of accepts, then the
// close. Past max_connections too: the queue is bounded by the backlog.
void ServerState::drain_backlog(bool filtered, std::chrono::steady_clock::time_point give_up, int quiet_checks,
                                std::function<void()> closed) {
  beast::error_code ec;
  int under_way = filtered ? handshakes_under_way(acceptor.native_handle()) : 0;
  acceptor.non_blocking(true, ec);
  if (!ec) acceptor.set_option(net::socket_base::enable_connection_aborted(true), ec);
  if (ec) {  // a blocking accept on an empty queue would hold this loop for good
    log_warn("stop_accept_failed").kv("error", ec.message());
    acceptor.close(ec);
    return closed();
  }
  for (;;) {
    tcp::socket socket(*loops[next_loop % loops.size()]);
    acceptor.accept(socket, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) break;
    if (ec == net::error::connection_aborted || ec == net::error::interrupted) continue;
    if (ec) {
      // Out of descriptors: what is left in the queue cannot be taken.
      if (!stop_accept_warned) log_warn("stop_accept_failed").kv("error", ec.message());
      stop_accept_warned = true;
      break;
    }
    ++next_loop;
    serve(std::move(socket));
  }
  quiet_checks = under_way > 0 ? 0 : quiet_checks + 1;
  bool gave_up = std::chrono::steady_clock::now() >= give_up;
  if (!filtered || quiet_checks >= 2 || gave_up) {
    if (gave_up && under_way > 0) log_warn("stop_handshakes_dropped").kv("connections", under_way);
    acceptor.close(ec);
    return closed();
  }
  accept_retry.expires_after(std::chrono::milliseconds(under_way < 0 ? 100 : 5));
  accept_retry.async_wait([self = shared_from_this(), give_up, quiet_checks, closed](beast::error_code) {
    self->drain_backlog(true, give_up, quiet_checks, closed);
  });
}

void ServerState::sweep() {
  if (sweep_stopped) return;
  {
    int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    std::lock_guard lock(mu);
    for (auto& listed : sessions) listed.raw->check_deadline(now, listed.weak);
  }
  sweep_timer.expires_after(sweep_interval());
  sweep_timer.async_wait([self = shared_from_this()](beast::error_code) { self->sweep(); });
}

Server::Server(Handler& handler, ServerOptions options)
    : state_(std::make_shared<ServerState>(handler, std::move(options))) {}

Server::~Server() {
  if (!state_->threads.empty()) stop();
}

int Server::bind(std::string* error) {
  ServerState& s = *state_;
  auto fail = [&](const std::string& what, const beast::error_code& ec) {
    if (error)
      *error = "cannot bind " + s.options.host + ":" + std::to_string(s.options.port) + ": " + what + ": " +
               ec.message();
    return -1;
  };
  beast::error_code ec;
  if (s.options.inherited_fd >= 0) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::getsockname(s.options.inherited_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      return fail("getsockname", beast::error_code(errno, beast::system_category()));
    s.acceptor.assign(address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), s.options.inherited_fd, ec);
    if (ec) return fail("adopt inherited socket", ec);
    return s.acceptor.local_endpoint().port();
  }
  tcp::resolver resolver(*s.loops[0]);
  auto results = resolver.resolve(s.options.host, std::to_string(s.options.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) return fail("resolve", ec);
  tcp::endpoint endpoint = results.begin()->endpoint();
  s.acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open", ec);
  s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  s.acceptor.bind(endpoint, ec);
  if (ec) return fail("bind", ec);
  s.acceptor.listen(4096, ec);
  if (ec) return fail("listen", ec);
  return s.acceptor.local_endpoint().port();
}

void Server::start() {
  ServerState& s = *state_;
  s.blocking = std::make_unique<net::thread_pool>(static_cast<size_t>(std::max(1, s.options.blocking_threads)));
  for (auto& loop : s.loops) s.work.push_back(net::make_work_guard(*loop));
  net::post(s.acceptor.get_executor(), [state = state_] {
    state->accept();
    state->sweep();
  });
  for (size_t i = 0; i < s.loops.size(); ++i)
    s.threads.emplace_back([loop = s.loops[i].get(), name = "fsr-loop-" + std::to_string(i)] {
      pthread_setname_np(pthread_self(), name.c_str());  // for top -H and perf
      loop->run();
    });
}

void Server::stop() {
  ServerState& s = *state_;
  if (s.stopping.exchange(true)) return;
  {
    std::promise<void> closed;
    net::post(s.acceptor.get_executor(), [&] {
      // From here on only this step accepts: the accept in flight is
      // cancelled, and neither a retry nor ServerState::remove starts another.
      s.accept_stopped = true;
      beast::error_code ignored;
      s.accept_retry.cancel();
      s.acceptor.cancel(ignored);
      // An inherited socket is shared with its owner: a filter would outlive
      // this process, so it is only closed here, and the connections in its
      // queue are left for the next process that accepts.
      if (s.options.inherited_fd >= 0 || !s.acceptor.is_open()) {
        s.acceptor.close(ignored);
        return closed.set_value();
      }
      // Owned: new clients are refused, and every client the kernel already
      // took in (queued, or mid-handshake) is accepted and answered before
      // the close, which would reset it.
      // Attaching a filter to a TCP socket takes CAP_NET_ADMIN on recent
      // kernels: without it, what is queued now is still answered.
      bool filtered = refuse_new_handshakes(s.acceptor.native_handle());
      if (!filtered) log_info("stop_filter_unavailable").kv("error", std::strerror(errno));
      s.drain_backlog(filtered, std::chrono::steady_clock::now() + kHandshakeWait, 0, [&] { closed.set_value(); });
    });
    closed.get_future().wait();
  }
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(s.mu);
    for (auto& w : s.sessions)
      if (auto p = w.weak.lock()) live.push_back(std::move(p));
  }
  for (auto& p : live) p->stop_if_idle();
  live.clear();
  {
    std::unique_lock lock(s.mu);
    s.drained.wait_for(lock, s.options.drain_max, [&] { return s.open == 0; });
    if (s.open > 0) log_warn("stop_drain_timeout").kv("open_connections", s.open);
  }
  {
    std::promise<void> swept;
    net::post(s.acceptor.get_executor(), [&] {
      s.sweep_stopped = true;
      s.sweep_timer.cancel();
      swept.set_value();
    });
    swept.get_future().wait();
  }
  s.work.clear();
  for (auto& loop : s.loops) loop->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  s.blocking->join();
  // Completion handlers still queued (the aborted accept, the sweep's last
  // wait, a session's last step) hold the state, which owns the io_contexts
  // that hold them: run them out here, so that the state is freed with the
  // Server.
  for (auto& loop : s.loops) {
    loop->restart();
    loop->poll();
  }
}

int Server::open_connections() const {
  std::lock_guard lock(state_->mu);
  return state_->open;
}

}  // namespace fsr::router::http
