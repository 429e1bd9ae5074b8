#include "tests/loadtest/fake_file_server.h"

#include <random>
#include <stdexcept>

#include "common/http_server.h"
#include "common/names.h"

namespace fsr::test {

FakeFileServer::FakeFileServer(Options options) : options_(options) {
  HttpServerOptions server_options;
  server_options.threads = 128;
  configure_server(server_, server_options);
  // cpp-httplib matches routes against the decoded path, and `.` does not
  // match a decoded newline (%0A): match any byte.
  const char* pattern = R"(/api/fileserver/[\s\S]*)";
  server_.Put(pattern, [this](const httplib::Request& req, httplib::Response& res) { handle_write(req, res, false); });
  server_.Delete(pattern, [this](const httplib::Request& req, httplib::Response& res) { handle_write(req, res, true); });
  server_.Get(pattern, [this](const httplib::Request& req, httplib::Response& res) { handle_get(req, res); });
  auto refuse = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_header("Allow", "GET, HEAD, PUT, DELETE");
    res.set_content("method not allowed\n", "text/plain");
  };
  server_.Post(pattern, refuse);
  server_.Patch(pattern, refuse);
  std::string error;
  port_ = bind_server(server_, "127.0.0.1", 0, &error);
  if (port_ < 0) throw std::runtime_error(error);
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!server_.is_running() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeFileServer::~FakeFileServer() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

size_t FakeFileServer::stored_names() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [name, state] : names_)
    if (state.current) ++n;
  return n;
}

bool FakeFileServer::name_of(const httplib::Request& req, httplib::Response& res, std::string* name) {
  auto raw = raw_name_from_target(req.target);
  if (!raw) {
    res.status = 404;
    return false;
  }
  auto decoded = percent_decode(*raw);
  std::string problem = !decoded ? "malformed escape" : options_.name_rules ? name_problem(*decoded) : "";
  if (!problem.empty()) {
    res.status = 400;
    res.set_content(problem + "\n", "text/plain");
    return false;
  }
  *name = *decoded;
  return true;
}

void FakeFileServer::jitter() {
  if (options_.jitter_ms <= 0) return;
  thread_local std::mt19937 rng(std::random_device{}());
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % (options_.jitter_ms * 1000)));
}

bool FakeFileServer::take_429(httplib::Response& res) {
  if (options_.fault != Fault::kSome429 || requests_ % static_cast<uint64_t>(options_.every) != 0) return false;
  ++faults_;
  res.status = 429;
  res.set_content("Too many requests. Slow down.", "text/plain");
  return true;
}

void FakeFileServer::handle_write(const httplib::Request& req, httplib::Response& res, bool is_delete) {
  ++requests_;
  if (take_429(res)) return;
  std::string name;
  if (!name_of(req, res, &name)) return;
  jitter();
  // Answers after the effect, also delayed when jitter is on.
  struct JitterOnExit {
    FakeFileServer* server;
    ~JitterOnExit() { server->jitter(); }
  } after{this};
  auto arrival = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  NameState& s = names_[name];
  // The body is already read: the write happens at once, under the lock,
  // so "in progress" is only this call. Nearness to the previous write
  // still decides whether a client may have overlapped the two.
  bool isolated = !s.ever_written || arrival - s.last_write_end > options_.margin;
  if (!isolated) s.tainted = true;
  std::optional<std::string> next;
  if (!is_delete) next = req.body;
  if (next && options_.truncate_at > 0 && next->size() > options_.truncate_at) next->resize(options_.truncate_at);
  bool drop = false;
  if (options_.fault == Fault::kDropWrites && !is_delete && !s.tainted && s.current && !s.dropped)
    drop = ++eligible_writes_ % static_cast<uint64_t>(options_.every) == 0;
  if (drop) {
    s.served = s.current;
    s.dropped = true;
  } else {
    s.dropped = false;
    s.served.reset();
  }
  s.previous = s.current;
  s.current = next;
  s.ever_written = true;
  s.last_write_end = Clock::now();
  if (is_delete) {
    res.status = 200;
    res.set_content("", "text/plain");
  } else {
    res.status = 201;
  }
}

void FakeFileServer::handle_get(const httplib::Request& req, httplib::Response& res) {
  ++requests_;
  if (take_429(res)) return;
  std::string name;
  if (!name_of(req, res, &name)) return;
  uint64_t get_number = ++gets_;
  if (options_.fault == Fault::kSlowReads && get_number % static_cast<uint64_t>(options_.every) == 0) {
    ++faults_;
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.slow_ms));
  }
  jitter();
  std::optional<std::string> answer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find(name);
    if (it != names_.end()) {
      NameState& s = it->second;
      answer = s.current;
      bool settled = !s.tainted && s.ever_written && Clock::now() - s.last_write_end > options_.margin;
      if (options_.fault == Fault::kDropWrites && s.dropped) {
        // Serve the old body only where no client can take it for a legal answer.
        if (settled) {
          answer = s.served;
          ++faults_;
        }
      } else if (options_.fault == Fault::kStaleReads && settled && s.previous != s.current &&
                 ++eligible_reads_ % static_cast<uint64_t>(options_.every) == 0) {
        answer = s.previous;
        ++faults_;
      }
    }
  }
  jitter();
  if (!answer) {
    res.status = 404;
    res.set_content("File not found.", "text/plain");
    return;
  }
  res.status = 200;
  res.set_content(*answer, "application/octet-stream");
}

}  // namespace fsr::test
