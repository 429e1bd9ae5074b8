// The load generator's event-driven HTTP client: one curl multi handle driven
// by epoll from a single thread, so thousands of requests can be in flight
// at once without a thread each.
//
// Contract: an HttpClient belongs to the thread that created it. submit()
// starts a request at once; poll() waits for socket events or curl timers and
// runs the completion callbacks of finished requests on that same thread
// (a callback may submit further requests). Response bodies are hashed while
// they stream in and never held whole (only the first keep_body_bytes bytes
// are kept); upload bodies stream from a BodySource and are hashed as they
// are handed to curl.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <curl/curl.h>

#include "loadtest/body.h"

namespace fsr::load {

using Clock = std::chrono::steady_clock;

struct HttpRequest {
  std::string method = "GET";
  // Path and query, sent exactly as given (no dot-segment removal).
  std::string target;
  // Uploaded when set (with Content-Length unless `chunked`).
  std::unique_ptr<BodySource> body;
  bool chunked = false;
  // Extra request header fields ("Name: value").
  std::vector<std::string> header_lines;
  // Sends `Connection: close` and never reuses the connection.
  bool close_connection = false;
  double timeout_sec = 5;
  // When > 0, the upload is aborted once this many body bytes were read.
  uint64_t abort_upload_after = 0;
  // How many leading bytes of the response body to keep in HttpResult::body_prefix.
  size_t keep_body_bytes = 0;
  bool keep_headers = false;
  // Called once the last byte of a known-size body has been handed to curl,
  // before it can reach the server, with the body's size and checksum.
  std::function<void(uint64_t size, const std::string& checksum)> on_body_complete;
};

struct HttpResult {
  enum class Outcome { kResponse, kTimeout, kConnectionError, kAborted };
  Outcome outcome = Outcome::kConnectionError;
  long status = 0;
  std::string error;  // curl's reason when there is no response
  uint64_t body_bytes = 0;
  std::string body_checksum;  // fsr::Checksum hex of the whole response body
  std::string body_prefix;
  std::string seq;  // X-Fsrouter-Seq, when the server sent one
  std::vector<std::pair<std::string, std::string>> headers;  // when keep_headers
  uint64_t sent_bytes = 0;
  std::string sent_checksum;  // of the uploaded body, once complete
  bool new_connection = false;  // the request opened a connection (none was reused)
  Clock::time_point started, finished;

  bool is_response() const { return outcome == Outcome::kResponse; }
  // Value of the first header of that name (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

const char* outcome_name(HttpResult::Outcome outcome);

class HttpClient {
 public:
  struct Options {
    std::string base_url;  // "http://127.0.0.1:8080"
    // Idle keep-alive connections kept for reuse (curl's connection cache).
    long idle_connections = 2;
    double connect_timeout_sec = 5;
    // Close connections with a reset (SO_LINGER 0) instead of FIN, so this
    // client leaves no TIME_WAIT sockets behind: at thousands of new
    // connections a second these exhaust the local ports within a minute.
    bool close_with_reset = false;
  };
  using Callback = std::function<void(HttpResult&)>;

  explicit HttpClient(Options options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void submit(HttpRequest request, Callback done);
  // Progresses transfers for up to `max_wait` (returns earlier after any
  // completion) and runs completion callbacks.
  void poll(std::chrono::microseconds max_wait);
  size_t in_flight() const { return active_.size(); }
  // Drops every running transfer without calling its callback; returns how many.
  size_t abandon_all();
  // Sequential use: submit and poll until this request is done.
  HttpResult fetch(HttpRequest request);

 private:
  struct Transfer;
  // One curl multi handle and its connection cache. libcurl scans a
  // multi's connections for every new request and completed one, so a
  // single multi with thousands of transfers in flight costs O(n) per
  // request; new transfers go to the first shard with room, and a client
  // opens more shards only while the earlier ones are busy.
  struct Shard {
    HttpClient* client = nullptr;
    uint32_t index = 0;
    CURLM* multi = nullptr;
    std::optional<Clock::time_point> timer_deadline;
    size_t in_flight = 0;
  };
  static constexpr size_t kShardRoom = 64;
  static constexpr size_t kMaxShards = 32;

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* shard, void* socket_data);
  static int on_timer(CURLM* multi, long timeout_ms, void* shard);
  Shard& pick_shard();
  void run_due_timeouts();
  size_t finish_completed(Shard& shard);
  CURL* take_easy();
  void recycle_easy(CURL* easy);

  Options options_;
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unordered_set<Transfer*> active_;
  std::vector<CURL*> idle_easy_;
};

}  // namespace fsr::load
