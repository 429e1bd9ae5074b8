#include "loadtest/http_client.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "common/checksum.h"
#include "common/text.h"

namespace fsr::load {
namespace {

int set_linger_zero(void*, curl_socket_t fd, curlsocktype) {
  linger option{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof option);
  return CURL_SOCKOPT_OK;
}

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

const char* outcome_name(HttpResult::Outcome outcome) {
  switch (outcome) {
    case HttpResult::Outcome::kResponse:
      return "response";
    case HttpResult::Outcome::kTimeout:
      return "timeout";
    case HttpResult::Outcome::kConnectionError:
      return "connection_error";
    case HttpResult::Outcome::kAborted:
      return "aborted";
  }
  return "unknown";
}

std::string HttpResult::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name)) return value;
  return "";
}

struct HttpClient::Transfer {
  Shard* shard = nullptr;
  CURL* easy = nullptr;
  HttpRequest request;
  HttpResult result;
  Callback done;
  curl_slist* headers = nullptr;
  std::string url;
  std::optional<Checksum> upload_sum, download_sum;
  bool upload_announced = false;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  // Finishes the upload checksum once every byte was read, and tells the caller.
  void announce_upload() {
    if (upload_announced) return;
    upload_announced = true;
    result.sent_checksum = upload_sum->hex();
    if (request.on_body_complete) request.on_body_complete(result.sent_bytes, result.sent_checksum);
  }

  static size_t on_read(char* buffer, size_t size, size_t count, void* data) {
    auto* t = static_cast<Transfer*>(data);
    size_t want = size * count;
    uint64_t abort_after = t->request.abort_upload_after;
    if (abort_after > 0) {
      if (t->result.sent_bytes >= abort_after) return CURL_READFUNC_ABORT;
      want = static_cast<size_t>(std::min<uint64_t>(want, abort_after - t->result.sent_bytes));
    }
    size_t n = t->request.body->read(buffer, want);
    t->upload_sum->update(buffer, n);
    t->result.sent_bytes += n;
    bool complete = t->request.chunked ? n == 0 : t->result.sent_bytes == t->request.body->size();
    if (complete && abort_after == 0) t->announce_upload();
    return n;
  }

  static int on_seek(void* data, curl_off_t offset, int origin) {
    auto* t = static_cast<Transfer*>(data);
    if (origin != SEEK_SET || offset != 0) return CURL_SEEKFUNC_CANTSEEK;
    t->request.body->rewind();
    t->upload_sum.emplace();
    t->result.sent_bytes = 0;
    t->upload_announced = false;
    return CURL_SEEKFUNC_OK;
  }

  static size_t on_write(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t n = size * count;
    t->download_sum->update(data, n);
    t->result.body_bytes += n;
    size_t keep = t->request.keep_body_bytes;
    if (t->result.body_prefix.size() < keep)
      t->result.body_prefix.append(data, std::min(n, keep - t->result.body_prefix.size()));
    return n;
  }

  static size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t n = size * count;
    std::string_view line(data, n);
    if (line.substr(0, 5) == "HTTP/") {
      // A new response (after `100 Continue` or similar) starts over.
      t->result.headers.clear();
      t->result.seq.clear();
      return n;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return n;
    std::string_view key = trim(line.substr(0, colon), " \t\r\n"), value = trim(line.substr(colon + 1), " \t\r\n");
    if (iequals(key, "X-Fsrouter-Seq")) t->result.seq = std::string(value);
    if (t->request.keep_headers) t->result.headers.emplace_back(std::string(key), std::string(value));
    return n;
  }
};

HttpClient::HttpClient(Options options) : options_(std::move(options)) {
  global_init_once();
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

HttpClient::~HttpClient() {
  abandon_all();
  for (CURL* easy : idle_easy_) curl_easy_cleanup(easy);
  for (auto& shard : shards_) curl_multi_cleanup(shard->multi);
  ::close(epoll_fd_);
}

HttpClient::Shard& HttpClient::pick_shard() {
  Shard* least = nullptr;
  for (auto& shard : shards_) {
    if (shard->in_flight < kShardRoom) return *shard;
    if (!least || shard->in_flight < least->in_flight) least = shard.get();
  }
  if (least && shards_.size() >= kMaxShards) return *least;
  auto shard = std::make_unique<Shard>();
  shard->client = this;
  shard->index = static_cast<uint32_t>(shards_.size());
  shard->multi = curl_multi_init();
  CURLM* m = shard->multi;
  curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, &HttpClient::on_socket);
  curl_multi_setopt(m, CURLMOPT_SOCKETDATA, shard.get());
  curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, &HttpClient::on_timer);
  curl_multi_setopt(m, CURLMOPT_TIMERDATA, shard.get());
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, std::max(1L, options_.idle_connections));
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
  shards_.push_back(std::move(shard));
  return *shards_.back();
}

int HttpClient::on_socket(CURL*, curl_socket_t fd, int what, void* shard_data, void* socket_data) {
  auto* shard = static_cast<Shard*>(shard_data);
  int epoll_fd = shard->client->epoll_fd_;
  if (what == CURL_POLL_REMOVE) {
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    return 0;
  }
  epoll_event event{};
  event.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  event.data.u64 = (static_cast<uint64_t>(shard->index) << 32) | static_cast<uint32_t>(fd);
  // curl hands back `socket_data` for a socket it already told us about, and
  // forgets it after CURL_POLL_REMOVE: it says whether to add or modify.
  if (socket_data) {
    ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event);
  } else {
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
    curl_multi_assign(shard->multi, fd, shard);
  }
  return 0;
}

int HttpClient::on_timer(CURLM*, long timeout_ms, void* shard_data) {
  auto* shard = static_cast<Shard*>(shard_data);
  if (timeout_ms < 0)
    shard->timer_deadline.reset();
  else
    shard->timer_deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  return 0;
}

CURL* HttpClient::take_easy() {
  if (idle_easy_.empty()) return curl_easy_init();
  CURL* easy = idle_easy_.back();
  idle_easy_.pop_back();
  curl_easy_reset(easy);
  return easy;
}

void HttpClient::recycle_easy(CURL* easy) {
  if (idle_easy_.size() < 1024)
    idle_easy_.push_back(easy);
  else
    curl_easy_cleanup(easy);
}

void HttpClient::submit(HttpRequest request, Callback done) {
  Shard& shard = pick_shard();
  auto* t = new Transfer;
  t->shard = &shard;
  t->request = std::move(request);
  t->done = std::move(done);
  t->easy = take_easy();
  t->url = options_.base_url + t->request.target;
  t->download_sum.emplace();
  t->upload_sum.emplace();
  CURL* e = t->easy;
  curl_easy_setopt(e, CURLOPT_URL, t->url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error_buffer);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t->request.timeout_sec * 1000));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_sec * 1000));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  if (options_.close_with_reset) curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, &set_linger_zero);
  // Never wait for `100 Continue`: the servers under test do not need it.
  t->headers = curl_slist_append(t->headers, "Expect:");
  for (const auto& line : t->request.header_lines) t->headers = curl_slist_append(t->headers, line.c_str());
  if (t->request.close_connection) {
    t->headers = curl_slist_append(t->headers, "Connection: close");
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
  }
  const std::string& method = t->request.method;
  if (t->request.body) {
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &Transfer::on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, t);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, &Transfer::on_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, t);
    if (!t->request.chunked)
      curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t->request.body->size()));
    if (method != "PUT") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
  } else if (method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  t->result.started = Clock::now();
  // curl may never read an empty body: its checksum is known now.
  if (t->request.body && !t->request.chunked && t->request.body->size() == 0 &&
      t->request.abort_upload_after == 0)
    t->announce_upload();
  active_.insert(t);
  ++shard.in_flight;
  curl_multi_add_handle(shard.multi, e);
}

void HttpClient::run_due_timeouts() {
  auto now = Clock::now();
  for (auto& shard : shards_) {
    if (!shard->timer_deadline || now < *shard->timer_deadline) continue;
    shard->timer_deadline.reset();
    int running = 0;
    curl_multi_socket_action(shard->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
}

void HttpClient::poll(std::chrono::microseconds max_wait) {
  auto now = Clock::now();
  auto wait = max_wait;
  for (auto& shard : shards_)
    if (shard->timer_deadline)
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::microseconds>(*shard->timer_deadline - now));
  int wait_ms = wait.count() <= 0 ? 0 : static_cast<int>((wait.count() + 999) / 1000);
  // Handles every ready socket before returning, so that a caller that is
  // behind and issues many requests per round never starves completions.
  constexpr int kMaxEvents = 1024;
  epoll_event events[kMaxEvents];
  for (int round = 0; round < 64; ++round) {
    int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, round == 0 ? wait_ms : 0);
    int running = 0;
    for (int i = 0; i < n; ++i) {
      int flags = 0;
      if (events[i].events & EPOLLIN) flags |= CURL_CSELECT_IN;
      if (events[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
      auto index = static_cast<size_t>(events[i].data.u64 >> 32);
      auto fd = static_cast<curl_socket_t>(events[i].data.u64 & 0xffffffffu);
      if (index < shards_.size()) curl_multi_socket_action(shards_[index]->multi, fd, flags, &running);
    }
    if (n < kMaxEvents) break;
  }
  run_due_timeouts();
  // Shards may be added by callbacks; index, not iterators.
  for (size_t i = 0; i < shards_.size(); ++i) finish_completed(*shards_[i]);
}

size_t HttpClient::finish_completed(Shard& shard) {
  std::vector<std::pair<Transfer*, CURLcode>> finished;
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(shard.multi, &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    finished.emplace_back(t, msg->data.result);
  }
  for (auto& [t, code] : finished) {
    curl_multi_remove_handle(shard.multi, t->easy);
    --shard.in_flight;
    active_.erase(t);
    HttpResult& r = t->result;
    r.finished = Clock::now();
    if (code == CURLE_OK) {
      r.outcome = HttpResult::Outcome::kResponse;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r.status);
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
      r.outcome = HttpResult::Outcome::kTimeout;
    } else if (code == CURLE_ABORTED_BY_CALLBACK) {
      r.outcome = HttpResult::Outcome::kAborted;
    } else {
      r.outcome = HttpResult::Outcome::kConnectionError;
    }
    if (code != CURLE_OK) r.error = t->error_buffer[0] ? t->error_buffer : curl_easy_strerror(code);
    long connects = 0;
    curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects);
    r.new_connection = connects > 0;
    r.body_checksum = t->download_sum->hex();
    curl_slist_free_all(t->headers);
    recycle_easy(t->easy);
    std::unique_ptr<Transfer> owned(t);
    if (owned->done) owned->done(r);
  }
  return finished.size();
}

size_t HttpClient::abandon_all() {
  size_t count = active_.size();
  for (Transfer* t : active_) {
    curl_multi_remove_handle(t->shard->multi, t->easy);
    --t->shard->in_flight;
    curl_slist_free_all(t->headers);
    curl_easy_cleanup(t->easy);
    delete t;
  }
  active_.clear();
  return count;
}

HttpResult HttpClient::fetch(HttpRequest request) {
  HttpResult out;
  bool done = false;
  submit(std::move(request), [&](HttpResult& r) {
    out = std::move(r);
    done = true;
  });
  while (!done) poll(std::chrono::milliseconds(100));
  return out;
}

}  // namespace fsr::load
