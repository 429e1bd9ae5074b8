// fsbench_closed_loop: the closed-loop client of scripts/bench-router.sh, on
// its own lean keep-alive client (loadtest/bench/keepalive_client.h): the
// client shares the cores with the server it measures, so it must cost far
// less per request than the server does.
//
// Each of --connections workers sends one request, waits for the whole
// answer, and sends the next; connections are kept alive and reused. PUT
// sends --body-size bytes (the letters a..z repeated); GET checks the status
// (200) and, with --expect-size, the body length. A refused or failed
// request (any other status, a timeout, a cut connection) is followed by a
// pause of --backoff-ms for that worker, then the same write is retried, so
// the acknowledgement latency of a write counts from its first attempt until
// a 2XX, retries included.
//
// Requests completed during --warmup seconds are not counted; after
// --duration more seconds the run ends and requests still in flight are
// dropped (writes not yet acknowledged are reported with their age).
// --requests N instead issues N requests in all and waits for them (a
// preload: --name-mode sequence writes names 0..N-1).
//
// Output: one JSON object on stdout (see report()).
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/flags.h"
#include "loadtest/bench/keepalive_client.h"

namespace fsr::load {
namespace {

using bench::Clock;
using Seconds = std::chrono::duration<double>;

struct Options {
  std::string url;
  std::string method = "PUT";
  int connections = 1000;
  double duration = 10;
  double warmup = 1;
  uint64_t body_size = 1024;
  std::string prefix = "bench-";
  long names = 0;                    // 0: one name per worker (writer mode)
  std::string name_mode = "writer";  // writer | sequence | random
  long requests = 0;                 // 0: run for the duration
  double backoff_ms = 100;
  long expect_size = -1;
  double timeout = 30;
};

struct Worker {
  int id = 0;
  std::string name;
  bool writing = false;             // a write is under way (first attempt made, no 2XX yet)
  Clock::time_point write_start{};  // its first attempt
  Clock::time_point attempt_start{};
  bool busy = false;  // a request in flight or a pause pending
  long acks = 0;      // writes acknowledged within the measured window
};

struct Stats {
  long completed = 0, ok = 0, s429 = 0, s5xx = 0, other_status = 0, errors = 0, timeouts = 0, size_mismatch = 0;
  std::map<long, long> statuses;
  std::vector<double> lat_all, lat_ok, lat_ack;
  // Per measured second: answers that succeeded, and the slowest of them.
  std::vector<long> sec_ok;
  std::vector<double> sec_max;
};

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// The value at quantile p of v (sorted in place); -1 when empty.
double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double round_to(double value, int decimals) {
  double scale = decimals == 2 ? 100 : decimals == 1 ? 10 : 1;
  return std::round(value * scale) / scale;
}

// "http://HOST:PORT" (checked by main): HOST, and PORT (80 if absent).
std::string host_of(const std::string& url) {
  std::string rest = url.substr(7);
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest.front() == '[') return rest.substr(1, rest.find(']') - 1);
  return rest.substr(0, rest.rfind(':') == std::string::npos ? rest.size() : rest.rfind(':'));
}
int port_of(const std::string& url) {
  std::string rest = url.substr(7);
  rest = rest.substr(0, rest.find('/'));
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || (rest.front() == '[' && colon < rest.find(']'))) return 80;
  return std::stoi(rest.substr(colon + 1));
}

class ClosedLoop {
 public:
  explicit ClosedLoop(Options options)
      : o_(std::move(options)),
        client_(host_of(o_.url), port_of(o_.url), static_cast<size_t>(o_.connections)),
        rng_(12345) {
    body_.resize(o_.body_size);
    for (size_t i = 0; i < body_.size(); ++i) body_[i] = static_cast<char>('a' + i % 26);
  }

  void run() {
    workers_.resize(o_.connections);
    start_ = Clock::now();
    measure_from_ = start_ + std::chrono::duration_cast<Clock::duration>(Seconds(o_.requests > 0 ? 0 : o_.warmup));
    end_at_ = measure_from_ + std::chrono::duration_cast<Clock::duration>(Seconds(o_.duration));
    for (int i = 0; i < o_.connections; ++i) {
      workers_[i].id = i;
      start_request(workers_[i]);
    }
    while (true) {
      auto now = Clock::now();
      if (now >= end_at_) break;
      if (o_.requests > 0 && issued_ >= o_.requests && client_.in_flight() == 0 && paused_.empty()) break;
      auto wait = std::chrono::microseconds(5000);
      if (!paused_.empty()) {
        auto until_resume = std::chrono::duration_cast<std::chrono::microseconds>(paused_.top().first - now);
        wait = std::clamp(until_resume, std::chrono::microseconds(0), wait);
      }
      client_.poll(wait);
      now = Clock::now();
      while (!paused_.empty() && paused_.top().first <= now) {
        Worker& w = workers_[paused_.top().second];
        paused_.pop();
        w.busy = false;
        start_request(w);
      }
    }
    client_.abandon_all();
    report();
  }

 private:
  std::string next_name(const Worker& w) {
    long index;
    if (o_.name_mode == "writer") index = o_.names > 0 ? w.id % o_.names : w.id;
    else if (o_.name_mode == "sequence") index = sequence_++ % o_.names;
    else index = std::uniform_int_distribution<long>(0, o_.names - 1)(rng_);
    return o_.prefix + std::to_string(index);
  }

  void start_request(Worker& w) {
    auto now = Clock::now();
    if (now >= end_at_) return;
    if (o_.requests > 0 && issued_ >= o_.requests) return;
    ++issued_;
    if (!w.writing) {
      w.writing = true;
      w.write_start = now;
      w.name = next_name(w);
    }
    w.attempt_start = now;
    w.busy = true;
    client_.submit(static_cast<size_t>(w.id), o_.method, "/api/fileserver/" + w.name,
                   o_.method == "PUT" ? &body_ : nullptr, o_.timeout,
                   [this, &w](const bench::Answer& answer) { complete(w, answer); });
  }

  bool counting(Clock::time_point t) const { return t >= measure_from_ && t < end_at_; }

  void complete(Worker& w, const bench::Answer& r) {
    auto now = Clock::now();
    if (!r.is_response()) {
      if (counting(now)) ++(r.outcome == bench::Answer::Outcome::kTimeout ? st_.timeouts : st_.errors);
      pause(w, now);
      return;
    }
    bool ok = o_.method == "PUT" ? (r.status >= 200 && r.status < 300) : r.status == 200;
    if (ok && o_.method == "GET" && o_.expect_size >= 0 && r.body_bytes != static_cast<uint64_t>(o_.expect_size)) {
      ok = false;
      if (counting(now)) ++st_.size_mismatch;
    }
    if (counting(now)) {
      ++st_.completed;
      ++st_.statuses[r.status];
      double latency = ms_between(w.attempt_start, now);
      st_.lat_all.push_back(latency);
      if (ok) {
        ++st_.ok;
        st_.lat_ok.push_back(latency);
        auto second = static_cast<size_t>(Seconds(now - measure_from_).count());
        if (st_.sec_ok.size() <= second) {
          st_.sec_ok.resize(second + 1, 0);
          st_.sec_max.resize(second + 1, 0);
        }
        ++st_.sec_ok[second];
        st_.sec_max[second] = std::max(st_.sec_max[second], latency);
        st_.lat_ack.push_back(ms_between(w.write_start, now));
        ++w.acks;
      } else if (r.status == 429) {
        ++st_.s429;
      } else if (r.status >= 500) {
        ++st_.s5xx;
      } else {
        ++st_.other_status;
      }
    }
    if (!ok) {
      pause(w, now);
      return;
    }
    ++ok_total_;
    w.writing = false;
    w.busy = false;
    start_request(w);
  }

  void pause(Worker& w, Clock::time_point now) {
    auto resume = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(o_.backoff_ms));
    paused_.push({resume, w.id});
  }

  void report() {
    auto end = Clock::now();
    double span = Seconds(std::min(end, end_at_) - measure_from_).count();
    std::vector<double> unacked_age;
    long workers_acked = 0;
    for (auto& w : workers_) {
      if (w.writing && w.busy) unacked_age.push_back(ms_between(w.write_start, end));
      if (w.acks > 0) ++workers_acked;
    }
    nlohmann::ordered_json j;
    j["method"] = o_.method;
    j["connections"] = o_.connections;
    j["seconds"] = round_to(span, 2);
    j["issued"] = issued_;
    j["completed"] = st_.completed;
    j["ok"] = st_.ok;
    j["ok_total"] = ok_total_;
    j["status_429"] = st_.s429;
    j["status_5xx"] = st_.s5xx;
    j["other_status"] = st_.other_status;
    j["errors"] = st_.errors;
    j["timeouts"] = st_.timeouts;
    j["size_mismatch"] = st_.size_mismatch;
    nlohmann::ordered_json statuses = nlohmann::ordered_json::object();
    for (auto& [status, n] : st_.statuses) statuses[std::to_string(status)] = n;
    j["statuses"] = statuses;
    j["ok_per_s"] = round_to(span > 0 ? st_.ok / span : 0, 1);
    j["completed_per_s"] = round_to(span > 0 ? st_.completed / span : 0, 1);
    j["all_p50_ms"] = round_to(percentile(st_.lat_all, 0.5), 2);
    j["all_p99_ms"] = round_to(percentile(st_.lat_all, 0.99), 2);
    j["ok_p50_ms"] = round_to(percentile(st_.lat_ok, 0.5), 2);
    j["ok_p90_ms"] = round_to(percentile(st_.lat_ok, 0.9), 2);
    j["ok_p99_ms"] = round_to(percentile(st_.lat_ok, 0.99), 2);
    j["ok_p999_ms"] = round_to(percentile(st_.lat_ok, 0.999), 2);
    j["ok_max_ms"] = round_to(percentile(st_.lat_ok, 1.0), 2);
    j["ack_p50_ms"] = round_to(percentile(st_.lat_ack, 0.5), 2);
    j["ack_p99_ms"] = round_to(percentile(st_.lat_ack, 0.99), 2);
    j["connections_with_ok"] = workers_acked;
    j["per_second_ok"] = st_.sec_ok;
    std::vector<double> sec_max;
    for (double m : st_.sec_max) sec_max.push_back(std::round(m));
    j["per_second_max_ms"] = sec_max;
    j["unacked_at_end"] = unacked_age.size();
    j["unacked_age_p50_ms"] = round_to(percentile(unacked_age, 0.5), 1);
    std::cout << j.dump() << std::endl;
  }

  Options o_;
  bench::KeepAliveClient client_;
  std::mt19937_64 rng_;
  std::string body_;
  std::vector<Worker> workers_;
  using Resume = std::pair<Clock::time_point, int>;
  std::priority_queue<Resume, std::vector<Resume>, std::greater<>> paused_;
  Clock::time_point start_, measure_from_, end_at_;
  long issued_ = 0, ok_total_ = 0, sequence_ = 0;
  Stats st_;
};

}  // namespace
}  // namespace fsr::load

int main(int argc, char** argv) {
  using fsr::add_env_option;
  fsr::load::Options o;
  CLI::App app{"Closed-loop HTTP client of scripts/bench-router.sh: --connections workers, each sending its next\n"
               "request once the last one was answered. Prints one JSON object of counts and latencies.",
               "fsbench_closed_loop"};
  fsr::use_flag_conventions(app, "fsbench_closed_loop --url http://HOST:PORT [flags]");
  add_env_option(app, "url", "", &o.url, "server to load, http://HOST:PORT")->required();
  add_env_option(app, "method", "", &o.method, "PUT or GET")->check(fsr::one_of({"PUT", "GET"}));
  add_env_option(app, "connections", "", &o.connections, "closed-loop workers, one request in flight each")
      ->check(fsr::between(1, 20000));
  add_env_option(app, "duration", "", &o.duration, "seconds measured after the warm-up")
      ->check(fsr::between(0.001, 600));
  add_env_option(app, "warmup", "", &o.warmup, "seconds run before measuring")->check(fsr::at_least(0));
  add_env_option(app, "body-size", "", &o.body_size, "bytes of each PUT body")->check(fsr::between(0, 64 << 20));
  add_env_option(app, "prefix", "", &o.prefix, "file names are PREFIX followed by a number");
  add_env_option(app, "names", "", &o.names, "how many names (writer mode: 0 gives each worker its own)")
      ->check(fsr::at_least(0));
  add_env_option(app, "name-mode", "", &o.name_mode,
                 "writer (a worker keeps its name), sequence (0, 1, ... in turn) or random")
      ->check(fsr::one_of({"writer", "sequence", "random"}));
  add_env_option(app, "requests", "", &o.requests, "issue this many requests in all and wait for them (0: run for the duration)")
      ->check(fsr::at_least(0));
  add_env_option(app, "backoff-ms", "", &o.backoff_ms, "pause of a worker after a failed request")
      ->check(fsr::at_least(0));
  add_env_option(app, "expect-size", "", &o.expect_size, "GET: the body length that counts as success (-1: any)");
  add_env_option(app, "timeout", "", &o.timeout, "seconds before one attempt counts as timed out")
      ->check(fsr::more_than(0));
  if (int code = fsr::parse_command_line(app, argc, argv); code >= 0) return code;
  if (o.url.rfind("http://", 0) != 0) {
    std::cerr << "fsbench_closed_loop: --url must start with http://\n";
    return 2;
  }
  if (o.name_mode != "writer" && o.names <= 0) {
    std::cerr << "fsbench_closed_loop: --name-mode sequence/random needs --names\n";
    return 2;
  }
  fsr::load::ClosedLoop(std::move(o)).run();
  return 0;
}
