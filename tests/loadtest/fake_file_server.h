// An in-memory /api/fileserver/{name} server on loopback for testing fsload,
// correct by default (router rules: names validated with common/names.h,
// 405 with Allow for other methods, chunked uploads accepted) or with one
// deliberate fault. Each fault is injected only where a client cannot have
// seen it as legitimate (no write of that name in flight or overlapping,
// the last write ended well before), and every injection is counted, so a
// correct verifier must report exactly faults_injected().
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace fsr::test {

class FakeFileServer {
 public:
  enum class Fault {
    kNone,
    kStaleReads,  // every n-th eligible GET returns the state before the last write
    kSome429,     // every n-th request is answered 429 without effect
    kDropWrites,  // every n-th eligible overwrite is acknowledged but not applied
    kSlowReads,   // every n-th GET is answered after `slow_ms`
  };
  struct Options {
    Fault fault = Fault::kNone;
    int every = 5;
    int slow_ms = 1500;
    // A write or read this close to another write of the same name is never
    // faulted: a client stalled this long could legitimately have seen the
    // two overlap. Wide, so that a busy machine keeps counts exact.
    std::chrono::milliseconds margin{500};
    // false: accept any name, like a bare file server (edge-case tests).
    bool name_rules = true;
    // > 0: store only this many leading bytes of each body (edge-case tests).
    size_t truncate_at = 0;
    // > 0: each GET/PUT/DELETE waits up to this many ms (random) before and
    // after taking effect, so that operations on one name overlap.
    int jitter_ms = 0;
  };

  explicit FakeFileServer(Options options);
  ~FakeFileServer();
  FakeFileServer(const FakeFileServer&) = delete;
  FakeFileServer& operator=(const FakeFileServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Answers that a verifier must count: stale or dropped-write reads, 429s, or slow reads.
  uint64_t faults_injected() const { return faults_; }
  uint64_t requests() const { return requests_; }
  // Number of names stored now.
  size_t stored_names();

 private:
  using Clock = std::chrono::steady_clock;
  struct NameState {
    std::optional<std::string> current;   // the acknowledged state
    std::optional<std::string> previous;  // the state before it
    std::optional<std::string> served;    // what GET serves after a dropped write
    bool dropped = false;
    int writes_in_progress = 0;
    uint64_t arrivals = 0;
    Clock::time_point last_write_end{};
    bool ever_written = false;
    bool tainted = false;  // writes overlapped or came too close: never fault this name
  };

  void handle_write(const httplib::Request& req, httplib::Response& res, bool is_delete);
  void handle_get(const httplib::Request& req, httplib::Response& res);
  // The decoded, validated name, or false after answering 400/404.
  bool name_of(const httplib::Request& req, httplib::Response& res, std::string* name);
  bool take_429(httplib::Response& res);
  void jitter();

  Options options_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
  std::mutex mu_;
  std::map<std::string, NameState> names_;
  uint64_t eligible_reads_ = 0, eligible_writes_ = 0;
  std::atomic<uint64_t> faults_{0}, requests_{0}, gets_{0};
};

}  // namespace fsr::test
