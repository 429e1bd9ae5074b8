// fsbench_put: a closed-loop HTTP/1.1 client for the benchmarks in
// scripts/bench-router.sh.
//
// Each of --connections connections sends one request, waits for the whole
// answer, and sends the next (keep-alive, reconnecting when the server closes
// or says `Connection: close`). PUT sends --body-size bytes; GET checks the
// status (200) and, with --expect-size, the body length. A refused or failed
// request (any other status, a timeout, a cut connection) is followed by a
// pause of --backoff-ms on that connection, then the same write is retried,
// so the acknowledgement latency of a write counts from its first attempt
// until a 2XX, retries included.
//
// One thread and epoll: the client itself needs little CPU, which matters when
// it shares the machine with the servers it measures. Requests completed
// during --warmup seconds are not counted; after --duration more seconds the
// run ends and requests still in flight are left (writes not yet acknowledged
// are reported with their age). --requests N instead issues N requests in all
// and waits for them (a preload: --name-mode sequence writes names 0..N-1).
//
// Output: one JSON object on stdout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <queue>
#include <random>
#include <string>
#include <vector>

namespace {

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string method = "PUT";
  int connections = 1000;
  double duration = 10;
  double warmup = 1;
  size_t body_size = 1024;
  std::string prefix = "bench-";
  long names = 0;                    // 0: one name per connection (writer mode)
  std::string name_mode = "writer";  // writer | sequence | random
  long requests = 0;                 // 0: run for the duration
  double backoff_ms = 100;
  long expect_size = -1;
  double timeout = 30;
};

[[noreturn]] void usage(const char* problem) {
  if (problem) std::fprintf(stderr, "fsbench_put: %s\n", problem);
  std::fprintf(stderr,
               "usage: fsbench_put --url http://HOST:PORT [--method PUT|GET] [--connections N]\n"
               "  [--duration S] [--warmup S] [--body-size BYTES] [--prefix P] [--names N]\n"
               "  [--name-mode writer|sequence|random] [--requests N] [--backoff-ms MS]\n"
               "  [--expect-size BYTES] [--timeout S]\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") usage(nullptr);
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    std::string v = argv[++i];
    if (a == "--url") {
      const std::string scheme = "http://";
      if (v.rfind(scheme, 0) != 0) usage("--url must start with http://");
      std::string rest = v.substr(scheme.size());
      auto slash = rest.find('/');
      if (slash != std::string::npos) rest.resize(slash);
      auto colon = rest.rfind(':');
      if (colon == std::string::npos) usage("--url needs a port");
      o.host = rest.substr(0, colon);
      o.port = std::atoi(rest.c_str() + colon + 1);
    } else if (a == "--method") {
      o.method = v;
    } else if (a == "--connections") {
      o.connections = std::atoi(v.c_str());
    } else if (a == "--duration") {
      o.duration = std::atof(v.c_str());
    } else if (a == "--warmup") {
      o.warmup = std::atof(v.c_str());
    } else if (a == "--body-size") {
      o.body_size = std::strtoul(v.c_str(), nullptr, 10);
    } else if (a == "--prefix") {
      o.prefix = v;
    } else if (a == "--names") {
      o.names = std::atol(v.c_str());
    } else if (a == "--name-mode") {
      o.name_mode = v;
    } else if (a == "--requests") {
      o.requests = std::atol(v.c_str());
    } else if (a == "--backoff-ms") {
      o.backoff_ms = std::atof(v.c_str());
    } else if (a == "--expect-size") {
      o.expect_size = std::atol(v.c_str());
    } else if (a == "--timeout") {
      o.timeout = std::atof(v.c_str());
    } else {
      usage(("unknown flag " + a).c_str());
    }
  }
  if (o.port <= 0) usage("--url is required");
  if (o.method != "PUT" && o.method != "GET") usage("--method must be PUT or GET");
  if (o.connections < 1 || o.connections > 20000) usage("--connections must be 1..20000");
  if (o.name_mode != "writer" && o.name_mode != "sequence" && o.name_mode != "random") usage("bad --name-mode");
  if (o.name_mode != "writer" && o.names <= 0) usage("--name-mode sequence/random needs --names");
  if (o.duration <= 0 || o.duration > 600) usage("--duration must be in (0, 600]");
  if (o.body_size > (64u << 20)) usage("--body-size at most 64 MiB");
  return o;
}

enum class State { kIdle, kConnecting, kWriting, kReading, kPaused };

struct Conn {
  int id = 0;
  int fd = -1;
  State state = State::kIdle;
  bool reused = false;        // the socket already carried a request
  bool resent = false;        // this request was resent once on a fresh socket
  long acks = 0;              // writes acknowledged within the measured window
  std::string out;            // request bytes
  size_t out_off = 0;
  std::string in;             // answer bytes so far
  double req_start = 0;       // this attempt
  double write_start = 0;     // first attempt of the current write (0: none)
  std::string name;
  // Parsed answer.
  bool head_done = false;
  int status = 0;
  long content_length = -1;
  bool chunked = false;
  bool close_after = false;
  size_t body_start = 0;
};

struct Stats {
  long completed = 0, ok = 0, s429 = 0, s5xx = 0, other_status = 0, errors = 0, timeouts = 0, size_mismatch = 0;
  std::map<int, long> statuses;
  std::vector<double> lat_all, lat_ok, lat_ack;
  // Per measured second: answers that succeeded, and the slowest of them.
  std::vector<long> sec_ok;
  std::vector<double> sec_max;
};

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Client {
 public:
  explicit Client(Options o) : o_(std::move(o)), rng_(12345) {
    body_.assign(o_.body_size, 'x');
    for (size_t i = 0; i < body_.size(); ++i) body_[i] = static_cast<char>('a' + i % 26);
    epfd_ = epoll_create1(0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(o_.port));
    if (inet_pton(AF_INET, o_.host.c_str(), &sa.sin_addr) != 1) usage("--url host must be an IPv4 address");
    addr_ = sa;
  }

  int run() {
    conns_.resize(o_.connections);
    t0_ = now_s();
    measure_from_ = t0_ + (o_.requests > 0 ? 0 : o_.warmup);
    end_at_ = measure_from_ + o_.duration;
    for (int i = 0; i < o_.connections; ++i) {
      conns_[i].id = i;
      start_request(conns_[i]);
    }
    std::vector<epoll_event> events(1024);
    double last_scan = now_s();
    while (true) {
      double now = now_s();
      if (now >= end_at_) break;
      if (o_.requests > 0 && issued_ >= o_.requests && active() == 0) break;
      int wait_ms = 5;
      int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), wait_ms);
      for (int k = 0; k < n; ++k) {
        Conn& c = conns_[events[k].data.u32];
        on_event(c, events[k].events);
      }
      now = now_s();
      while (!paused_.empty() && paused_.top().first <= now) {
        int id = paused_.top().second;
        paused_.pop();
        if (conns_[id].state == State::kPaused) {
          conns_[id].state = State::kIdle;
          start_request(conns_[id]);
        }
      }
      if (now - last_scan > 0.1) {
        last_scan = now;
        for (auto& c : conns_) {
          if ((c.state == State::kConnecting || c.state == State::kWriting || c.state == State::kReading) &&
              now - c.req_start > o_.timeout) {
            finish_failed(c, /*timeout=*/true);
          }
        }
      }
    }
    report();
    return 0;
  }

 private:
  long active() const {
    long a = 0;
    for (auto& c : conns_)
      if (c.state != State::kIdle) ++a;
    return a;
  }

  std::string next_name(Conn& c) {
    long idx;
    if (o_.name_mode == "writer") idx = o_.names > 0 ? c.id % o_.names : c.id;
    else if (o_.name_mode == "sequence") idx = seq_++ % o_.names;
    else idx = std::uniform_int_distribution<long>(0, o_.names - 1)(rng_);
    return o_.prefix + std::to_string(idx);
  }

  void close_fd(Conn& c) {
    if (c.fd >= 0) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
    }
    c.reused = false;
  }

  bool open_fd(Conn& c) {
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return false;
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = connect(c.fd, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_);
    if (r < 0 && errno != EINPROGRESS) {
      ::close(c.fd);
      c.fd = -1;
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
    ev.data.u32 = static_cast<uint32_t>(c.id);
    epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev);
    c.state = State::kConnecting;
    c.reused = false;
    return true;
  }

  void set_events(Conn& c, uint32_t e) {
    epoll_event ev{};
    ev.events = e | EPOLLRDHUP;
    ev.data.u32 = static_cast<uint32_t>(c.id);
    epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void start_request(Conn& c) {
    double now = now_s();
    if (now >= end_at_) return;
    if (o_.requests > 0 && issued_ >= o_.requests) return;
    ++issued_;
    if (c.write_start == 0) {
      c.write_start = now;
      c.name = next_name(c);
    }
    c.req_start = now;
    c.resent = false;
    build_request(c);
    send_on_socket(c);
  }

  void build_request(Conn& c) {
    c.out = o_.method + " /api/fileserver/" + c.name + " HTTP/1.1\r\nHost: " + o_.host + ":" +
            std::to_string(o_.port) + "\r\n";
    if (o_.method == "PUT") {
      c.out += "Content-Type: application/octet-stream\r\nContent-Length: " + std::to_string(body_.size()) + "\r\n\r\n";
      c.out += body_;
    } else {
      c.out += "\r\n";
    }
    c.out_off = 0;
    c.in.clear();
    c.head_done = false;
    c.status = 0;
    c.content_length = -1;
    c.chunked = false;
    c.close_after = false;
    c.body_start = 0;
  }

  void send_on_socket(Conn& c) {
    if (c.fd < 0) {
      if (!open_fd(c)) {
        finish_failed(c, false);
        return;
      }
      return;  // writes once connected
    }
    c.reused = true;
    c.state = State::kWriting;
    do_write(c);
  }

  void on_event(Conn& c, uint32_t ev) {
    if (c.fd < 0) return;
    if (c.state == State::kConnecting) {
      if (ev & (EPOLLERR | EPOLLHUP)) {
        finish_failed(c, false);
        return;
      }
      if (ev & EPOLLOUT) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          finish_failed(c, false);
          return;
        }
        c.state = State::kWriting;
        do_write(c);
      }
      return;
    }
    if (c.state == State::kWriting && (ev & EPOLLOUT)) do_write(c);
    if (c.fd >= 0 && c.state == State::kReading && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) do_read(c);
    if (c.fd >= 0 && (c.state == State::kIdle || c.state == State::kPaused) && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
      close_fd(c);  // the server closed an idle connection
    }
  }

  void do_write(Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_events(c, EPOLLOUT);
        return;
      }
      io_failed(c);
      return;
    }
    c.state = State::kReading;
    set_events(c, EPOLLIN);
  }

  // A reused keep-alive socket that fails before any answer byte: the server
  // closed it meanwhile; send the request again once on a fresh socket.
  void io_failed(Conn& c) {
    bool retry = c.reused && c.in.empty() && !c.resent;
    close_fd(c);
    if (retry) {
      c.resent = true;
      build_request(c);
      if (!open_fd(c)) finish_failed(c, false);
      return;
    }
    finish_failed(c, false);
  }

  void do_read(Conn& c) {
    char buf[65536];
    while (true) {
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (parse(c)) return;
        continue;
      }
      if (n == 0) {
        // End of stream: completes an answer without length, otherwise a failure.
        if (c.head_done && c.content_length < 0 && !c.chunked) {
          c.close_after = true;
          complete(c, c.in.size() - c.body_start);
          return;
        }
        io_failed(c);
        return;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      io_failed(c);
      return;
    }
  }

  // True when the answer is complete (and handled).
  bool parse(Conn& c) {
    if (!c.head_done) {
      auto end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      c.head_done = true;
      c.body_start = end + 4;
      std::string head = c.in.substr(0, end);
      size_t line_end = head.find("\r\n");
      std::string status_line = head.substr(0, line_end);
      auto sp = status_line.find(' ');
      c.status = sp == std::string::npos ? 0 : std::atoi(status_line.c_str() + sp + 1);
      if (status_line.rfind("HTTP/1.0", 0) == 0) c.close_after = true;
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string line = head.substr(pos, e - pos);
        pos = e + 2;
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string key = lower(line.substr(0, colon));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        if (key == "content-length") c.content_length = std::atol(value.c_str());
        else if (key == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) c.chunked = true;
        else if (key == "connection" && lower(value).find("close") != std::string::npos) c.close_after = true;
      }
    }
    if (c.chunked) {
      size_t pos = c.body_start, body = 0;
      while (true) {
        size_t e = c.in.find("\r\n", pos);
        if (e == std::string::npos) return false;
        size_t len = std::strtoul(c.in.c_str() + pos, nullptr, 16);
        if (len == 0) {
          // Trailer section ends with an empty line.
          if (c.in.size() < e + 4) return false;
          complete(c, body);
          return true;
        }
        if (c.in.size() < e + 2 + len + 2) return false;
        body += len;
        pos = e + 2 + len + 2;
      }
    }
    if (c.content_length >= 0) {
      if (c.in.size() - c.body_start < static_cast<size_t>(c.content_length)) return false;
      complete(c, static_cast<size_t>(c.content_length));
      return true;
    }
    if (c.status == 204 || c.status == 304 || (c.status >= 100 && c.status < 200)) {
      complete(c, 0);
      return true;
    }
    return false;  // read until the server closes
  }

  bool counting(double t) const { return t >= measure_from_ && t < end_at_; }

  void complete(Conn& c, size_t body_size) {
    double now = now_s();
    bool ok = o_.method == "PUT" ? (c.status >= 200 && c.status < 300) : c.status == 200;
    if (ok && o_.method == "GET" && o_.expect_size >= 0 && body_size != static_cast<size_t>(o_.expect_size)) {
      ok = false;
      if (counting(now)) ++st_.size_mismatch;
    }
    if (counting(now)) {
      ++st_.completed;
      ++st_.statuses[c.status];
      double lat = (now - c.req_start) * 1000;
      st_.lat_all.push_back(lat);
      if (ok) {
        ++st_.ok;
        st_.lat_ok.push_back(lat);
        size_t sec = static_cast<size_t>(now - measure_from_);
        if (st_.sec_ok.size() <= sec) {
          st_.sec_ok.resize(sec + 1, 0);
          st_.sec_max.resize(sec + 1, 0);
        }
        ++st_.sec_ok[sec];
        st_.sec_max[sec] = std::max(st_.sec_max[sec], lat);
        st_.lat_ack.push_back((now - c.write_start) * 1000);
        ++c.acks;
      } else if (c.status == 429) {
        ++st_.s429;
      } else if (c.status >= 500) {
        ++st_.s5xx;
      } else {
        ++st_.other_status;
      }
    }
    if (ok) ++ok_total_;
    if (c.close_after) close_fd(c);
    if (ok) {
      c.write_start = 0;
      c.state = State::kIdle;
      start_request(c);
    } else {
      pause(c);
    }
  }

  void finish_failed(Conn& c, bool timeout) {
    double now = now_s();
    if (counting(now)) {
      if (timeout) ++st_.timeouts;
      else ++st_.errors;
    }
    close_fd(c);
    pause(c);
  }

  void pause(Conn& c) {
    c.state = State::kPaused;
    paused_.push({now_s() + o_.backoff_ms / 1000.0, c.id});
  }

  void report() {
    double end = now_s();
    double span = std::min(end, end_at_) - measure_from_;
    std::vector<double> unacked_age;
    for (auto& c : conns_)
      if (c.write_start > 0 && c.state != State::kIdle) unacked_age.push_back((end - c.write_start) * 1000);
    long writers_acked = 0;
    for (auto& c : conns_)
      if (c.acks > 0) ++writers_acked;
    std::printf("{\"method\":\"%s\",\"connections\":%d,\"seconds\":%.3f,\"issued\":%ld,\"completed\":%ld,"
                "\"ok\":%ld,\"ok_total\":%ld,\"status_429\":%ld,\"status_5xx\":%ld,\"other_status\":%ld,"
                "\"errors\":%ld,\"timeouts\":%ld,\"size_mismatch\":%ld,",
                o_.method.c_str(), o_.connections, span, issued_, st_.completed, st_.ok, ok_total_, st_.s429,
                st_.s5xx, st_.other_status, st_.errors, st_.timeouts, st_.size_mismatch);
    std::printf("\"statuses\":{");
    bool first = true;
    for (auto& [s, n] : st_.statuses) {
      std::printf("%s\"%d\":%ld", first ? "" : ",", s, n);
      first = false;
    }
    std::printf("},");
    double ok_per_s = span > 0 ? st_.ok / span : 0;
    double completed_per_s = span > 0 ? st_.completed / span : 0;
    std::printf("\"ok_per_s\":%.1f,\"completed_per_s\":%.1f,", ok_per_s, completed_per_s);
    std::printf("\"all_p50_ms\":%.2f,\"all_p99_ms\":%.2f,", pct(st_.lat_all, 0.5), pct(st_.lat_all, 0.99));
    std::printf("\"ok_p50_ms\":%.2f,\"ok_p90_ms\":%.2f,\"ok_p99_ms\":%.2f,\"ok_p999_ms\":%.2f,\"ok_max_ms\":%.2f,",
                pct(st_.lat_ok, 0.5), pct(st_.lat_ok, 0.9), pct(st_.lat_ok, 0.99), pct(st_.lat_ok, 0.999),
                pct(st_.lat_ok, 1.0));
    std::printf("\"ack_p50_ms\":%.2f,\"ack_p99_ms\":%.2f,", pct(st_.lat_ack, 0.5), pct(st_.lat_ack, 0.99));
    std::printf("\"connections_with_ok\":%ld,", writers_acked);
    std::printf("\"per_second_ok\":[");
    for (size_t i = 0; i < st_.sec_ok.size(); ++i) std::printf("%s%ld", i ? "," : "", st_.sec_ok[i]);
    std::printf("],\"per_second_max_ms\":[");
    for (size_t i = 0; i < st_.sec_max.size(); ++i) std::printf("%s%.0f", i ? "," : "", st_.sec_max[i]);
    std::printf("],");
    std::printf("\"unacked_at_end\":%zu,\"unacked_age_p50_ms\":%.1f}\n", unacked_age.size(), pct(unacked_age, 0.5));
    std::fflush(stdout);
  }

  Options o_;
  std::mt19937_64 rng_;
  std::string body_;
  int epfd_ = -1;
  sockaddr_in addr_{};
  std::vector<Conn> conns_;
  std::priority_queue<std::pair<double, int>, std::vector<std::pair<double, int>>, std::greater<>> paused_;
  double t0_ = 0, measure_from_ = 0, end_at_ = 0;
  long issued_ = 0, ok_total_ = 0, seq_ = 0;
  Stats st_;
};

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  Options o = parse(argc, argv);
  Client client(std::move(o));
  return client.run();
}
