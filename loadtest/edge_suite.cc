#include "loadtest/edge_suite.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/checksum.h"
#include "common/flags.h"
#include "common/names.h"
#include "loadtest/body.h"
#include "loadtest/http_client.h"
#include "loadtest/raw_connection.h"
#include "loadtest/run_report.h"

namespace fsr::load {
namespace {

enum class Target { kRouter, kBackend };

struct EdgeOptions {
  std::string url = "http://127.0.0.1:8080";
  Target target = Target::kRouter;
  int64_t huge_size = 200 << 20;
  int64_t repeat = 1000;
  int64_t concurrency = 8;
  double timeout_sec = 30;
  uint64_t seed = 0;
  // The router's limits under test (its flags of the same names).
  int64_t max_header_bytes = 16384;
  int64_t max_body_bytes = int64_t{1} << 40;
  int64_t header_timeout_ms = 10000;
  // The router's process id: cases about memory read its VmRSS (0: not checked).
  int64_t router_pid = 0;
};

std::string describe(const HttpResult& r) {
  if (r.is_response()) return std::to_string(r.status);
  return std::string(outcome_name(r.outcome)) + " (" + r.error + ")";
}

std::string join(const std::vector<long>& codes) {
  std::string out;
  for (long c : codes) out += (out.empty() ? "" : "/") + std::to_string(c);
  return out;
}

// Collects what went wrong in one case.
class Check {
 public:
  void fail(const std::string& problem) {
    if (problems_.size() < 6) problems_.push_back(problem);
    ++count_;
  }
  bool status(const std::string& what, const HttpResult& r, const std::vector<long>& codes) {
    if (r.is_response() && std::find(codes.begin(), codes.end(), r.status) != codes.end()) return true;
    fail(what + ": expected " + join(codes) + ", got " + describe(r));
    return false;
  }
  bool not_success(const std::string& what, const HttpResult& r) {
    if (r.is_response() && (r.status < 200 || r.status >= 300)) return true;
    fail(what + ": expected a refusal (not 2XX), got " + describe(r));
    return false;
  }
  // Status 200 with exactly `size` bytes of that checksum.
  bool content(const std::string& what, const HttpResult& r, uint64_t size, const std::string& checksum) {
    if (!status(what, r, {200})) return false;
    if (r.body_bytes == size && r.body_checksum == checksum) return true;
    fail(what + ": expected " + std::to_string(size) + " bytes " + checksum.substr(0, 12) + ", got " +
         std::to_string(r.body_bytes) + " bytes " + r.body_checksum.substr(0, 12));
    return false;
  }
  bool body(const std::string& what, const HttpResult& r, const std::string& text) {
    return content(what, r, text.size(), checksum_of(text));
  }
  bool ok() const { return count_ == 0; }
  std::string summary() const {
    std::string out;
    for (const auto& p : problems_) out += (out.empty() ? "" : "; ") + p;
    if (count_ > problems_.size()) out += "; ... (" + std::to_string(count_) + " problems)";
    return out;
  }

 private:
  std::vector<std::string> problems_;
  size_t count_ = 0;
};

class EdgeContext {
 public:
  EdgeContext(const EdgeOptions& options)
      : options(options), client({options.url, 16, 5}), rng(options.seed) {
    prefix = "fsedge" + random_letters_name(rng, 6, 6) + "-";
    // http://HOST:PORT[/...]: where raw connections go.
    std::string rest = options.url.substr(options.url.find("://") == std::string::npos ? 0 : options.url.find("://") + 3);
    rest = rest.substr(0, rest.find('/'));
    if (!split_host_port(rest, &host, &port, false)) port = 0;
  }

  bool router() const { return options.target == Target::kRouter; }
  // A name unique to this run of the suite.
  std::string name(const std::string& tag) const { return prefix + tag; }
  static std::string path(const std::string& decoded) { return backend_path(decoded); }
  static std::string raw(const std::string& encoded) { return std::string(kApiPrefix) + encoded; }

  HttpRequest request(const std::string& method, const std::string& target) const {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.timeout_sec = options.timeout_sec;
    r.keep_body_bytes = 512;
    r.keep_headers = true;
    return r;
  }
  HttpResult put(const std::string& target, std::string body) {
    HttpRequest r = request("PUT", target);
    r.body = std::make_unique<StringBody>(std::move(body));
    return client.fetch(std::move(r));
  }
  HttpResult send(const std::string& method, const std::string& target) {
    return client.fetch(request(method, target));
  }
  HttpResult get(const std::string& target) { return send("GET", target); }
  HttpResult del(const std::string& target) { return send("DELETE", target); }
  std::string random_body(size_t size) { return random_text(rng(), size); }

  // PUT (expect 201), GET (exact), DELETE (200), GET (404).
  void round_trip(Check& check, const std::string& put_target, const std::string& get_target,
                  const std::string& body) {
    if (!check.status("PUT " + put_target, put(put_target, body), {201})) return;
    check.body("GET " + get_target, get(get_target), body);
    check.status("DELETE " + get_target, del(get_target), {200});
    check.status("GET after DELETE " + get_target, get(get_target), {404});
  }

  // A fresh raw connection to the server under test.
  std::unique_ptr<RawConnection> raw_connection() const { return std::make_unique<RawConnection>(host, port); }

  const EdgeOptions& options;
  std::string host;
  int port = 0;
  HttpClient client;
  std::mt19937_64 rng;
  std::string prefix;
};

struct EdgeCase {
  std::string name;
  std::string router_expectation, backend_expectation;
  std::function<void(EdgeContext&, Check&)> run;
};

// Requests that must be refused: 400 from the router, anything but 2XX from a backend.
void expect_refused(EdgeContext& ctx, Check& check, const std::string& method, const std::string& target,
                    std::vector<long> router_codes = {400}) {
  HttpResult r = method == "PUT" ? ctx.put(target, "must not be stored") : ctx.send(method, target);
  if (ctx.router())
    check.status(method + " " + target, r, router_codes);
  else
    check.not_success(method + " " + target, r);
  if (r.is_response() && r.status == 200 && r.body_prefix.find("root:") != std::string::npos)
    check.fail(method + " " + target + " served a file from outside the data directory");
}

void case_percent_encoded(EdgeContext& ctx, Check& check) {
  std::string plain = ctx.name("pct-ABC");
  std::string body = ctx.random_body(100);
  // %41%42%43 is ABC: both spellings name one file.
  ctx.round_trip(check, EdgeContext::raw(ctx.prefix + "pct-%41%42%43"), EdgeContext::path(plain), body);
  // A literal '%' travels as %25 and is decoded exactly once.
  std::string percent = ctx.name("pct-100%");
  if (check.status("PUT " + percent, ctx.put(EdgeContext::path(percent), body), {201})) {
    check.body("GET " + percent, ctx.get(EdgeContext::path(percent)), body);
    check.status("GET double-encoded " + percent, ctx.get(EdgeContext::raw(ctx.prefix + "pct-100%2525")), {404});
    check.status("DELETE " + percent, ctx.del(EdgeContext::path(percent)), {200});
  }
}

void case_space(EdgeContext& ctx, Check& check) {
  std::string body = ctx.random_body(64);
  ctx.round_trip(check, EdgeContext::path(ctx.name("a space name")), EdgeContext::path(ctx.name("a space name")),
                 body);
  // '+' in a path is a plus, not a space.
  std::string plus = ctx.prefix + "plus+sign";
  if (check.status("PUT " + plus, ctx.put(EdgeContext::raw(plus), body), {201})) {
    check.body("GET " + plus + " as %2B", ctx.get(EdgeContext::raw(ctx.prefix + "plus%2Bsign")), body);
    check.status("GET " + plus + " as a space", ctx.get(EdgeContext::raw(ctx.prefix + "plus%20sign")), {404});
    check.status("DELETE " + plus, ctx.del(EdgeContext::raw(plus)), {200});
  }
}

void case_utf8(EdgeContext& ctx, Check& check) {
  std::string name = ctx.name("utf8-Gr\xc3\xbc\xc3\x9f" "e-\xe5\x90\x8d\xe5\x89\x8d-\xd1\x84\xd0\xb0\xd0\xb9\xd0\xbb");
  std::string body = ctx.random_body(300);
  std::string upper = EdgeContext::path(name);  // percent_encode writes upper-case hex
  std::string lower = upper;
  for (size_t i = 0; i + 2 < lower.size(); ++i)
    if (lower[i] == '%') {
      lower[i + 1] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[i + 1])));
      lower[i + 2] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[i + 2])));
    }
  ctx.round_trip(check, upper, lower, body);
}

std::string name_of_length(const EdgeContext& ctx, size_t length) {
  std::string name = ctx.prefix;
  while (name.size() < length) name.push_back(static_cast<char>('a' + name.size() % 26));
  return name.substr(0, length);
}

void case_name_255(EdgeContext& ctx, Check& check) {
  std::string name = name_of_length(ctx, 255);
  ctx.round_trip(check, EdgeContext::path(name), EdgeContext::path(name), ctx.random_body(50));
}

void case_name_256(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(name_of_length(ctx, 256));
  HttpResult r = ctx.put(target, "x");
  check.status("PUT 256-byte name", r, {ctx.router() ? 400L : 500L});
  if (ctx.router()) check.status("GET 256-byte name", ctx.get(target), {400});
}

void case_dots(EdgeContext& ctx, Check& check) {
  for (const char* name : {".", "..", "%2E", "%2E%2E", "%2e%2e", ".%2E"})
    expect_refused(ctx, check, "PUT", EdgeContext::raw(name));
  for (const char* name : {".", ".."}) expect_refused(ctx, check, "GET", EdgeContext::raw(name), {400, 404});
}

void case_encoded_slash(EdgeContext& ctx, Check& check) {
  for (std::string name : {ctx.prefix + "a%2Fb", ctx.prefix + "a%2fb", std::string("%2F"), std::string("%2Fetc%2Fpasswd")}) {
    if (ctx.router()) expect_refused(ctx, check, "PUT", EdgeContext::raw(name));
    expect_refused(ctx, check, "GET", EdgeContext::raw(name), {400});
  }
}

void case_traversal(EdgeContext& ctx, Check& check) {
  for (const char* encoded : {"..%2F..%2Fetc%2Fpasswd", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "..%2f..%2f..%2fetc%2fhostname"})
    expect_refused(ctx, check, "GET", EdgeContext::raw(encoded), {400});
  // Raw dot segments: more than one path segment, so 400 or 404.
  for (const char* raw : {"../../etc/passwd", "x/../../../etc/passwd", "../fileserver/x"})
    expect_refused(ctx, check, "GET", EdgeContext::raw(raw), {400, 404});
  if (ctx.router()) {
    expect_refused(ctx, check, "PUT", EdgeContext::raw("..%2F" + ctx.prefix + "escape"));
    expect_refused(ctx, check, "PUT", EdgeContext::raw("../" + ctx.prefix + "escape"), {400, 404, 405});
  }
}

void case_control_bytes(EdgeContext& ctx, Check& check) {
  for (const char* bytes : {"%01", "%00", "%7F", "%0A", "%0D%0A", "%1B"}) {
    std::string target = EdgeContext::raw(ctx.prefix + "ctl" + bytes + "x");
    HttpResult r = ctx.put(target, "control");
    if (ctx.router()) {
      check.status("PUT " + target, r, {400});
    } else if (r.is_response() && r.status == 201) {
      ctx.del(target);  // a bare backend has no name rules; clean up
    }
  }
}

void case_empty_name(EdgeContext& ctx, Check& check) {
  check.status("PUT empty name", ctx.put(EdgeContext::raw(""), "x"), {400, 404, 405});
  check.status("GET empty name", ctx.get(EdgeContext::raw("")), {400, 404, 405});
}

void case_empty_body(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("empty-body"));
  ctx.round_trip(check, target, target, "");
}

void case_one_byte(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("one-byte"));
  ctx.round_trip(check, target, target, "z");
}

void case_huge(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("huge"));
  auto size = static_cast<uint64_t>(ctx.options.huge_size);
  HttpRequest put = ctx.request("PUT", target);
  put.body = std::make_unique<RandomTextBody>(ctx.rng(), size);
  put.timeout_sec = std::max(ctx.options.timeout_sec, 900.0);
  HttpResult up = ctx.client.fetch(std::move(put));
  if (!check.status("PUT " + std::to_string(size) + " bytes", up, {201})) return;
  HttpRequest get = ctx.request("GET", target);
  get.timeout_sec = std::max(ctx.options.timeout_sec, 900.0);
  check.content("GET " + std::to_string(size) + " bytes", ctx.client.fetch(std::move(get)), size, up.sent_checksum);
  check.status("DELETE huge", ctx.del(target), {200});
}

void case_chunked(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("chunked"));
  std::string body = ctx.random_body(100000);
  HttpRequest put = ctx.request("PUT", target);
  put.body = std::make_unique<StringBody>(body);
  put.chunked = true;
  HttpResult r = ctx.client.fetch(std::move(put));
  if (ctx.router()) {
    if (check.status("chunked PUT", r, {201})) check.body("GET after chunked PUT", ctx.get(target), body);
  } else {
    check.status("chunked PUT (no Content-Length)", r, {500});
  }
  ctx.del(target);
}

// Runs several requests at once and returns their results in order.
std::vector<HttpResult> run_together(EdgeContext& ctx, std::vector<HttpRequest> requests) {
  std::vector<HttpResult> results(requests.size());
  size_t done = 0;
  for (size_t i = 0; i < requests.size(); ++i)
    ctx.client.submit(std::move(requests[i]), [&, i](HttpResult& r) {
      results[i] = std::move(r);
      ++done;
    });
  while (done < results.size()) ctx.client.poll(std::chrono::milliseconds(100));
  return results;
}

void case_racing_writers(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("race"));
  for (int round = 0; round < 5; ++round) {
    std::string a = ctx.random_body(256 * 1024), b = ctx.random_body(256 * 1024);
    std::vector<HttpRequest> puts;
    for (const std::string* body : {&a, &b}) {
      HttpRequest r = ctx.request("PUT", target);
      r.body = std::make_unique<StringBody>(*body);
      puts.push_back(std::move(r));
    }
    auto results = run_together(ctx, std::move(puts));
    bool a_ok = check.status("racing PUT A", results[0], {201});
    bool b_ok = check.status("racing PUT B", results[1], {201});
    if (!a_ok || !b_ok) break;
    HttpResult r = ctx.get(target);
    std::string sum_a = checksum_of(a), sum_b = checksum_of(b);
    if (!check.status("GET after race", r, {200})) break;
    if (r.body_checksum != sum_a && r.body_checksum != sum_b)
      check.fail("round " + std::to_string(round) + ": GET after race returned " + std::to_string(r.body_bytes) +
                 " bytes matching neither acknowledged body");
  }
  ctx.del(target);
}

// `repeat` times: PUT a new body, GET it at once; `concurrency` names in parallel.
void case_put_get_repeat(EdgeContext& ctx, Check& check) {
  struct Lane {
    std::string target, body;
  };
  int64_t lanes_count = std::max<int64_t>(1, std::min(ctx.options.concurrency, ctx.options.repeat));
  std::vector<Lane> lanes(static_cast<size_t>(lanes_count));
  for (size_t i = 0; i < lanes.size(); ++i) lanes[i].target = EdgeContext::path(ctx.name("repeat-" + std::to_string(i)));
  int64_t started = 0, finished = 0, exact = 0;
  std::function<void(Lane*)> start = [&](Lane* lane) {
    if (started >= ctx.options.repeat) return;
    ++started;
    lane->body = ctx.random_body(1 + ctx.rng() % 4096);
    HttpRequest put = ctx.request("PUT", lane->target);
    put.body = std::make_unique<StringBody>(lane->body);
    ctx.client.submit(std::move(put), [&, lane](HttpResult& r) {
      if (!check.status("PUT " + lane->target, r, {201})) {
        ++finished;
        start(lane);
        return;
      }
      ctx.client.submit(ctx.request("GET", lane->target), [&, lane](HttpResult& g) {
        if (check.body("GET at once " + lane->target, g, lane->body)) ++exact;
        ++finished;
        start(lane);
      });
    });
  };
  for (auto& lane : lanes) start(&lane);
  while (finished < ctx.options.repeat) ctx.client.poll(std::chrono::milliseconds(100));
  for (auto& lane : lanes) ctx.del(lane.target);
  if (exact != ctx.options.repeat)
    check.fail(std::to_string(exact) + " of " + std::to_string(ctx.options.repeat) + " reads were exact");
}

void case_missing(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("never-written"));
  check.status("DELETE missing", ctx.del(target), {200});
  check.status("GET missing", ctx.get(target), {404});
  if (ctx.router()) check.status("HEAD missing", ctx.send("HEAD", target), {404});
  check.status("DELETE missing again", ctx.del(target), {200});
}

void case_overwrite_big_small(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("big-then-small"));
  auto big = static_cast<size_t>(std::clamp<int64_t>(ctx.options.huge_size, 64 * 1024, 4 << 20));
  if (!check.status("PUT big", ctx.put(target, ctx.random_body(big)), {201})) return;
  std::string small = "tiny";
  if (check.status("PUT small over big", ctx.put(target, small), {201}))
    check.body("GET after overwrite (no stale tail)", ctx.get(target), small);
  ctx.del(target);
}

void case_unsupported_methods(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("methods"));
  for (const char* method : {"POST", "PATCH"}) {
    HttpRequest r = ctx.request(method, target);
    r.body = std::make_unique<StringBody>("x");
    HttpResult result = ctx.client.fetch(std::move(r));
    if (ctx.router()) {
      if (check.status(std::string(method), result, {405})) {
        std::string allow = result.header("Allow");
        for (const char* needed : {"GET", "PUT", "DELETE"})
          if (allow.find(needed) == std::string::npos)
            check.fail(std::string(method) + ": Allow header '" + allow + "' lacks " + needed);
      }
    } else {
      check.status(method, result, {400, 404, 405});
    }
  }
  if (ctx.router()) check.status("GET after refused methods", ctx.get(target), {404});
}

void case_aborted_upload(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("aborted"));
  std::string old_body = ctx.random_body(1000);
  if (!check.status("PUT old value", ctx.put(target, old_body), {201})) return;
  HttpRequest cut = ctx.request("PUT", target);
  cut.body = std::make_unique<RandomTextBody>(ctx.rng(), 1 << 20);
  cut.abort_upload_after = 256 * 1024;
  HttpResult r = ctx.client.fetch(std::move(cut));
  if (r.is_response() && r.status >= 200 && r.status < 300)
    check.fail("an upload cut after 256 KiB of 1 MiB was acknowledged with " + std::to_string(r.status));
  if (ctx.router()) {
    // Read at once, then again once the server has surely seen the cut.
    check.body("GET right after the cut", ctx.get(target), old_body);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    check.body("GET a second after the cut", ctx.get(target), old_body);
  }
  ctx.del(target);
}

void case_query_string(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("query"));
  std::string body = ctx.random_body(200);
  if (!check.status("PUT with ?x=1", ctx.put(target + "?x=1", body), {201})) return;
  check.body("GET without query", ctx.get(target), body);
  check.body("GET with ?a=b&c", ctx.get(target + "?a=b&c"), body);
  check.status("GET of the query as a name", ctx.get(target + "%3Fx%3D1"), {404});
  check.status("DELETE with ?z=9", ctx.del(target + "?z=9"), {200});
  check.status("GET after DELETE", ctx.get(target), {404});
}

void case_case_distinct(EdgeContext& ctx, Check& check) {
  std::vector<std::string> names = {ctx.name("caseTEST"), ctx.name("casetest"), ctx.name("CASETEST")};
  std::vector<std::string> bodies;
  for (const auto& n : names) {
    bodies.push_back(ctx.random_body(100 + bodies.size()));
    check.status("PUT " + n, ctx.put(EdgeContext::path(n), bodies.back()), {201});
  }
  for (size_t i = 0; i < names.size(); ++i) check.body("GET " + names[i], ctx.get(EdgeContext::path(names[i])), bodies[i]);
  for (const auto& n : names) ctx.del(EdgeContext::path(n));
}

void case_head(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("head"));
  std::string body = ctx.random_body(1234);
  if (!check.status("PUT", ctx.put(target, body), {201})) return;
  HttpResult r = ctx.send("HEAD", target);
  if (ctx.router()) {
    if (check.status("HEAD", r, {200})) {
      if (r.body_bytes != 0) check.fail("HEAD returned a body");
      std::string length = r.header("Content-Length");
      if (!length.empty() && length != "1234") check.fail("HEAD Content-Length " + length + ", expected 1234");
    }
  } else {
    check.status("HEAD", r, {200, 404, 405});
  }
  ctx.del(target);
}

// ------------------------------------------------- the router's front door
// Raw requests no HTTP library would send, each refusal with its status
// and, where the framing cannot be trusted, a closed connection. Against a
// bare backend these cases check nothing (it has no such limits).

// A reply read from a raw connection: status line, head, body, closed.
struct RawReply {
  std::string status;  // "HTTP/1.1 431 Request Header Fields Too Large", or empty
  std::string head, body;
  int replies = 0;  // status lines seen (a second one would be a smuggled request's)
  bool closed = false;
  std::string header(const std::string& name) const {
    std::string lower_head = head, key = "\r\n" + name + ":";
    for (auto& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t at = lower_head.find(key);
    if (at == std::string::npos) return "";
    size_t from = at + key.size(), end = head.find("\r\n", from);
    std::string v = head.substr(from, end - from);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }
};

RawReply read_reply(RawConnection& c, std::chrono::milliseconds patience) {
  const std::string& got = c.read_to_close(patience);
  RawReply r;
  r.status = status_line(got);
  size_t end = got.find("\r\n\r\n");
  r.head = got.substr(0, end == std::string::npos ? got.size() : end);
  if (end != std::string::npos) r.body = got.substr(end + 4);
  r.replies = count_of(got, "HTTP/1.1 ");
  r.closed = c.closed();
  return r;
}

// Sends `request` whole on a new connection and reads until the close.
RawReply raw_exchange(EdgeContext& ctx, const std::string& request,
                      std::chrono::milliseconds patience = std::chrono::seconds(10)) {
  auto c = ctx.raw_connection();
  if (!c->connected()) return {};
  c->send(request);
  return read_reply(*c, patience);
}

std::string code_of(const RawReply& r) { return r.status.size() >= 12 ? r.status.substr(9, 3) : ""; }

// One reply with `code`, then the connection closed.
void expect_refusal(Check& check, const std::string& what, const RawReply& r, const std::string& code) {
  if (code_of(r) != code) return check.fail(what + ": expected " + code + ", got '" + r.status + "'");
  if (!r.closed) check.fail(what + ": " + code + " but the connection stayed open");
  if (r.replies != 1) check.fail(what + ": " + std::to_string(r.replies) + " replies on the connection");
}

// The name was never stored.
void expect_not_stored(EdgeContext& ctx, Check& check, const std::string& name) {
  check.status("GET " + name + " (must not be stored)", ctx.get(EdgeContext::path(name)), {404});
}

std::string put_head(const std::string& name, const std::string& fields) {
  return "PUT " + EdgeContext::path(name) + " HTTP/1.1\r\nHost: edge\r\n" + fields + "\r\n";
}

// VmRSS of the router in KiB, or -1 when not told its pid (or it is gone).
int64_t router_rss_kib(const EdgeContext& ctx) {
  if (ctx.options.router_pid <= 0) return -1;
  FILE* f = std::fopen(("/proc/" + std::to_string(ctx.options.router_pid) + "/status").c_str(), "r");
  if (!f) return -1;
  char line[256];
  int64_t kib = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  std::fclose(f);
  return kib;
}

// The router's resident memory grew by less than `limit_mib` over `run`.
void expect_rss_bounded(EdgeContext& ctx, Check& check, const std::string& what, int64_t limit_mib,
                        const std::function<void()>& run) {
  int64_t before = router_rss_kib(ctx);
  run();
  if (before < 0) return;
  int64_t after = router_rss_kib(ctx);
  if (after < 0) return check.fail(what + ": the router (pid " + std::to_string(ctx.options.router_pid) + ") is gone");
  if (after - before >= limit_mib * 1024)
    check.fail(what + ": the router's RSS grew by " + std::to_string((after - before) / 1024) + " MiB (limit " +
               std::to_string(limit_mib) + ")");
}

void case_front_header_too_large(EdgeContext& ctx, Check& check) {
  if (!ctx.router()) return;
  size_t limit = static_cast<size_t>(ctx.options.max_header_bytes);
  expect_refusal(check, "header block over the limit",
                 raw_exchange(ctx, "GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Big: " + std::string(limit + 1024, 'a') +
                                       "\r\n\r\n"),
                 "431");
  // A header line that never ends: answered without waiting for its end,
  // and the router holds none of it.
  expect_rss_bounded(ctx, check, "endless header line", 16, [&] {
    auto c = ctx.raw_connection();
    c->send("GET /healthz HTTP/1.1\r\nX-Endless: ");
    std::string chunk(256 * 1024, 'b');
    for (int i = 0; i < 256 && c->send(chunk); ++i) {  // up to 64 MiB, until the router closes
    }
    RawReply r = read_reply(*c, std::chrono::seconds(10));
    if (code_of(r) != "431") check.fail("endless header line: expected 431, got '" + r.status + "'");
  });
}

void case_front_too_many_fields(EdgeContext& ctx, Check& check) {
  if (!ctx.router()) return;
  std::string request = "GET /healthz HTTP/1.1\r\nHost: edge\r\n";
  for (int i = 0; i < 101; ++i) request += "X-F" + std::to_string(i) + ": v\r\n";
  expect_refusal(check, "101 header fields", raw_exchange(ctx, request + "\r\n"), "431");
}

void case_front_long_target(EdgeContext& ctx, Check& check) {
  if (!ctx.router()) return;
  std::string target = EdgeContext::raw(std::string(static_cast<size_t>(ctx.options.max_header_bytes) + 16, 'n'));
  expect_refusal(check, "request line over the limit", raw_exchange(ctx, "GET " + target + " HTTP/1.1\r\nHost: edge\r\n\r\n"),
                 "414");
}

void case_front_body_too_large(EdgeContext& ctx, Check& check) {
  if (!ctx.router()) return;
  uint64_t limit = static_cast<uint64_t>(ctx.options.max_body_bytes);
  std::string name = ctx.name("too-big");
  // Refused from the head alone: no body byte is sent.
  expect_refusal(check, "Content-Length over the limit",
                 raw_exchange(ctx, put_head(name, "Content-Length: " + std::to_string(limit + 1) + "\r\n")), "413");
  // Chunked: refused once the body crosses the limit (sent only when that is cheap).
  if (limit <= (64u << 20)) {
    expect_rss_bounded(ctx, check, "chunked body over the limit", 16, [&] {
      auto c = ctx.raw_connection();
      c->send(put_head(name, "Transfer-Encoding: chunked\r\n"));
      std::string chunk(64 * 1024, 'c');
      char size_line[32];
      std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
      std::string framed = size_line + chunk + "\r\n";
      for (uint64_t sent = 0; sent <= limit && c->send(framed); sent += chunk.size()) {
      }
      c->send("0\r\n\r\n");
      expect_refusal(check, "chunked body over the limit", read_reply(*c, std::chrono::seconds(10)), "413");
    });
  }
  expect_not_stored(ctx, check, name);
}

void case_front_content_encoding(EdgeContext& ctx, Check& check) {
  if (!ctx.router()) return;
  std::string name = ctx.name("gzipped");
  expect_refusal(check, "Content-Encoding: gzip",
                 raw_exchange(ctx, put_head(name, "Content-Encoding: gzip\r\nContent-Length: 4\r\n") + "abcd"), "415");
  // A "gzip bomb": a compressed body (up to 1 MiB) that would inflate a thousandfold.
  // It is refused from its head and never inflated.
  expect_rss_bounded(ctx, check, "compressed body", 16, [&] {
    // Within --max-body-bytes, so that the encoding is what is refused.
    size_t size = static_cast<size_t>(std::clamp<int64_t>(ctx.options.max_body_bytes, 16, 1 << 20));
    std::string bomb = std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10) + std::string(size - 10, '\0');
    auto c = ctx.raw_connection();
    c->send(put_head(name, "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(bomb.size()) + "\r\n"));
    c->send(bomb);
    expect_refusal(check, "compressed body", read_reply(*c, std::chrono::seconds(10)), "415");
  });
  expect_not_stored(ctx, check, name);
}

void case_front_ambiguous_framing(EdgeContext& ctx, Check& check) {
  if (!ctx.router()) return;
  std::string name = ctx.name("smuggled");
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"Content-Length and Transfer-Encoding",
       "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"},
      {"duplicate Content-Length", "Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd"},
      {"Content-Length not a number", "Content-Length: 4x\r\n\r\nabcd"},
      {"Transfer-Encoding other than chunked", "Transfer-Encoding: gzip, chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"},
      {"bad chunk size", "Transfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n"},
  };
  for (const auto& [what, rest] : requests) {
    std::string head = "PUT " + EdgeContext::path(name) + " HTTP/1.1\r\nHost: edge\r\n";
    expect_refusal(check, what, raw_exchange(ctx, head + rest), "400");
  }
  // A chunked body cut before its last chunk: no reply claims success, the
  // connection ends, nothing is stored. The router tells a client that
  // only half-closed why (400); another server may just close.
  auto c = ctx.raw_connection();
  c->send(put_head(name, "Transfer-Encoding: chunked\r\n") + "4\r\nabcd\r\n");
  c->shutdown_send();
  RawReply cut = read_reply(*c, std::chrono::seconds(10));
  if (!cut.closed) check.fail("cut chunked body: the connection stayed open");
  if (ctx.router() && cut.status.empty()) check.fail("cut chunked body: closed without the 400");
  if (!cut.status.empty() && code_of(cut) != "400")
    check.fail("cut chunked body: expected 400 or no reply, got '" + cut.status + "'");
  expect_not_stored(ctx, check, name);
}

void case_front_slowloris(EdgeContext& ctx, Check& check) {
  if (!ctx.router()) return;
  // A head trickled a byte at a time never completes within the head timeout.
  auto c = ctx.raw_connection();
  std::string head = "GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Slow: ";
  auto began = std::chrono::steady_clock::now();
  auto timeout = std::chrono::milliseconds(ctx.options.header_timeout_ms);
  auto step = std::max(std::chrono::milliseconds(10), timeout / 20);
  RawReply r;
  for (size_t i = 0; !c->closed(); ++i) {
    if (!c->send(std::string(1, i < head.size() ? head[i] : 'z'))) break;
    c->read_until([](const std::string& got) { return !got.empty(); }, step);
    if (!c->received().empty() || std::chrono::steady_clock::now() - began > timeout * 3) break;
  }
  r = read_reply(*c, std::chrono::seconds(5));
  expect_refusal(check, "head trickled a byte at a time", r, "408");
  auto took = std::chrono::steady_clock::now() - began;
  if (took < timeout)
    check.fail("408 after " +
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
               " ms, before the head timeout of " + std::to_string(ctx.options.header_timeout_ms) + " ms");
}

void case_front_expect_continue(EdgeContext& ctx, Check& check) {
  if (!ctx.router()) return;
  const std::string expect = "Expect: 100-continue\r\n";
  {
    RawReply r = raw_exchange(ctx, "PUT " + EdgeContext::raw("%2e%2e") + " HTTP/1.1\r\nHost: edge\r\nContent-Length: 4\r\n" +
                                       expect + "\r\n");
    expect_refusal(check, "Expect with a bad name", r, "400");
    if (r.head.find("100 Continue") != std::string::npos) check.fail("Expect with a bad name: 100 Continue was sent");
  }
  {
    std::string name = ctx.name("expect-big");
    uint64_t over = static_cast<uint64_t>(ctx.options.max_body_bytes) + 1;
    RawReply r = raw_exchange(ctx, put_head(name, "Content-Length: " + std::to_string(over) + "\r\n" + expect));
    expect_refusal(check, "Expect with a body over the limit", r, "413");
    if (r.head.find("100 Continue") != std::string::npos)
      check.fail("Expect with a body over the limit: 100 Continue was sent");
  }
  std::string name = ctx.name("expect-ok");
  auto c = ctx.raw_connection();
  c->send(put_head(name, "Content-Length: 4\r\n" + expect));
  std::string first = status_line(c->read_head());
  if (first != "HTTP/1.1 100 Continue") return check.fail("Expect with a good request: got '" + first + "'");
  c->clear();
  c->send("abcd");
  std::string second = status_line(c->read_head());
  if (second != "HTTP/1.1 201 Created") check.fail("PUT after 100 Continue: got '" + second + "'");
  check.body("GET after 100 Continue", ctx.get(EdgeContext::path(name)), "abcd");
  ctx.del(EdgeContext::path(name));
}

void case_front_unknown_method(EdgeContext& ctx, Check& check) {
  if (!ctx.router()) return;
  std::string name = ctx.name("frob");
  RawReply r = raw_exchange(ctx, "FROB " + EdgeContext::path(name) + " HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n");
  if (code_of(r) != "405") return check.fail("FROB: expected 405, got '" + r.status + "'");
  std::string allow = r.header("Allow");
  for (const char* needed : {"GET", "HEAD", "PUT", "DELETE"})
    if (allow.find(needed) == std::string::npos) check.fail("FROB: Allow header '" + allow + "' lacks " + needed);
  expect_not_stored(ctx, check, name);
}

void case_range(EdgeContext& ctx, Check& check) {
  if (!ctx.router()) return;
  std::string name = ctx.name("range");
  std::string body = ctx.random_body(1000);
  if (!check.status("PUT", ctx.put(EdgeContext::path(name), body), {201})) return;
  auto get = [&](const std::string& range) {
    return raw_exchange(ctx, "GET " + EdgeContext::path(name) + " HTTP/1.1\r\nHost: edge\r\nRange: " + range +
                                 "\r\nConnection: close\r\n\r\n");
  };
  RawReply single = get("bytes=10-19");
  if (code_of(single) != "206") check.fail("single range: expected 206, got '" + single.status + "'");
  else if (single.body != body.substr(10, 10) || single.header("Content-Range") != "bytes 10-19/1000")
    check.fail("single range: Content-Range '" + single.header("Content-Range") + "', " +
               std::to_string(single.body.size()) + " bytes");
  RawReply beyond = get("bytes=5000-");
  if (code_of(beyond) != "416") check.fail("range beyond the end: expected 416, got '" + beyond.status + "'");
  else if (beyond.header("Content-Range") != "bytes */1000")
    check.fail("range beyond the end: Content-Range '" + beyond.header("Content-Range") + "'");
  RawReply several = get("bytes=0-1,5-9");
  if (code_of(several) != "200" || several.body != body)
    check.fail("several ranges: expected 200 with the whole body, got '" + several.status + "', " +
               std::to_string(several.body.size()) + " bytes");
  ctx.del(EdgeContext::path(name));
}

// Validators, conditional requests and verified uploads (docs/architecture.md,
// "Validators and verified uploads"). A backend stand-in knows none of them:
// there each case only checks that nothing is stored it should not be.
HttpResult send_with(EdgeContext& ctx, const std::string& method, const std::string& target,
                     std::vector<std::string> header_lines, const std::string* body = nullptr) {
  HttpRequest r = ctx.request(method, target);
  r.header_lines = std::move(header_lines);
  if (body) r.body = std::make_unique<StringBody>(*body);
  return ctx.client.fetch(std::move(r));
}

void case_conditional_read(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("etag-read"));
  std::string body = ctx.random_body(2000);
  HttpResult put = ctx.put(target, body);
  if (!check.status("PUT", put, {201}) || !ctx.router()) return (void)ctx.del(target);
  std::string tag = put.header("ETag");
  if (tag.empty() || tag.front() != '"') check.fail("PUT answer without a strong ETag: '" + tag + "'");
  HttpResult get = ctx.get(target);
  if (check.body("GET", get, body) && get.header("ETag") != tag)
    check.fail("GET ETag " + get.header("ETag") + " differs from the PUT's " + tag);
  if (get.header("Last-Modified").empty()) check.fail("GET without Last-Modified");
  HttpResult same = send_with(ctx, "GET", target, {"If-None-Match: " + tag});
  if (check.status("GET If-None-Match current", same, {304}) && same.body_bytes != 0) check.fail("304 with a body");
  check.status("HEAD If-None-Match current", send_with(ctx, "HEAD", target, {"If-None-Match: " + tag}), {304});
  check.status("GET If-Modified-Since Last-Modified",
               send_with(ctx, "GET", target, {"If-Modified-Since: " + get.header("Last-Modified")}), {304});
  check.body("GET If-None-Match other, If-Modified-Since Last-Modified",
             send_with(ctx, "GET", target,
                       {"If-None-Match: \"other\"", "If-Modified-Since: " + get.header("Last-Modified")}),
             body);
  ctx.del(target);
}

void case_conditional_write(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("etag-write"));
  std::string first = ctx.random_body(100), second = ctx.random_body(100), late = ctx.random_body(100);
  HttpResult put = ctx.put(target, first);
  if (!check.status("PUT", put, {201}) || !ctx.router()) return (void)ctx.del(target);
  std::string tag = put.header("ETag");
  HttpResult next = send_with(ctx, "PUT", target, {"If-Match: " + tag}, &second);
  if (!check.status("PUT If-Match current", next, {201})) return (void)ctx.del(target);
  check.status("PUT If-Match stale", send_with(ctx, "PUT", target, {"If-Match: " + tag}, &late), {412});
  check.status("PUT If-None-Match * on a present name", send_with(ctx, "PUT", target, {"If-None-Match: *"}, &late),
               {412});
  check.status("DELETE If-Match stale", send_with(ctx, "DELETE", target, {"If-Match: " + tag}), {412});
  check.body("GET after refused writes", ctx.get(target), second);
  check.status("DELETE If-Match current", send_with(ctx, "DELETE", target, {"If-Match: " + next.header("ETag")}),
               {200});
  check.status("PUT If-None-Match * on a deleted name", send_with(ctx, "PUT", target, {"If-None-Match: *"}, &late),
               {201});
  check.body("GET", ctx.get(target), late);
  ctx.del(target);
}

// Two clients race with the same If-Match: one 201, one 412.
void case_conditional_race(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("etag-race"));
  for (int round = 0; round < 5; ++round) {
    HttpResult base = ctx.put(target, ctx.random_body(100));
    if (!check.status("PUT base", base, {201}) || !ctx.router()) break;
    std::string a = ctx.random_body(64 * 1024), b = ctx.random_body(64 * 1024);
    std::vector<HttpRequest> puts;
    for (const std::string* body : {&a, &b}) {
      HttpRequest r = ctx.request("PUT", target);
      r.header_lines = {"If-Match: " + base.header("ETag")};
      r.body = std::make_unique<StringBody>(*body);
      puts.push_back(std::move(r));
    }
    auto results = run_together(ctx, std::move(puts));
    int won = -1, wins = 0;
    for (int i = 0; i < 2; ++i) {
      if (!check.status("racing If-Match PUT", results[i], {201, 412})) continue;
      if (results[i].status == 201) ++wins, won = i;
    }
    if (wins != 1) {
      check.fail("round " + std::to_string(round) + ": " + std::to_string(wins) + " racing If-Match PUTs won, not 1");
      break;
    }
    check.body("GET after the race", ctx.get(target), won == 0 ? a : b);
  }
  ctx.del(target);
}

void case_verified_upload(EdgeContext& ctx, Check& check) {
  std::string target = EdgeContext::path(ctx.name("digest"));
  std::string body = ctx.random_body(100000);
  // The digest of other bytes (sha-256 of "abc"), a malformed one, an MD5 of other bytes.
  const std::string wrong_sha256 = "Content-Digest: sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:";
  if (ctx.router()) {
    check.status("PUT with a wrong Content-Digest", send_with(ctx, "PUT", target, {wrong_sha256}, &body), {400});
    check.status("PUT with a malformed Content-Digest",
                 send_with(ctx, "PUT", target, {"Content-Digest: sha-256=abc"}, &body), {400});
    check.status("PUT with a wrong Content-MD5",
                 send_with(ctx, "PUT", target, {"Content-MD5: kAFQmDzST7DWlj99KOF/cg=="}, &body), {400});
    check.status("GET after refused uploads", ctx.get(target), {404});
    check.status("PUT with an unknown algorithm only",
                 send_with(ctx, "PUT", target, {"Content-Digest: unixsum=:AAAA:"}, &body), {201});
    HttpResult got = send_with(ctx, "GET", target, {"Want-Content-Digest: sha-256=1"});
    if (check.body("GET Want-Content-Digest", got, body)) {
      std::string digest = got.header("Content-Digest");
      if (digest.rfind("sha-256=:", 0) != 0 || digest.size() != 9 + 44 + 1)
        check.fail("Want-Content-Digest answered with Content-Digest '" + digest + "'");
    }
  } else {
    check.status("PUT", send_with(ctx, "PUT", target, {wrong_sha256}, &body), {201, 400});
  }
  ctx.del(target);
}

std::vector<EdgeCase> validator_cases() {
  return {
      {"etag-conditional-read", "ETag and Last-Modified on GET; If-None-Match / If-Modified-Since 304; If-None-Match wins",
       "PUT 201 only", case_conditional_read},
      {"etag-conditional-write", "If-Match current 201, stale 412 (PUT and DELETE); If-None-Match * 412 / 201",
       "PUT 201 only", case_conditional_write},
      {"etag-race", "two PUTs with the same If-Match: one 201, one 412, GET the winner's (5 rounds)", "PUT 201 only",
       case_conditional_race},
      {"upload-digest", "wrong or malformed Content-Digest / Content-MD5 400, nothing stored; unknown algorithm "
       "ignored; Want-Content-Digest answered", "PUT 201 or 400", case_verified_upload},
  };
}

std::vector<EdgeCase> all_cases() {
  const std::string round_trip = "201, exact GET, DELETE 200, then 404";
  std::vector<EdgeCase> cases = {
      {"name-percent-encoded", round_trip + "; %41 and A name one file; %25 decoded once", "same", case_percent_encoded},
      {"name-space", round_trip + "; '+' stays '+'", "same", case_space},
      {"name-utf8", round_trip + "; escapes in either case", "same", case_utf8},
      {"name-255-bytes", round_trip, "same", case_name_255},
      {"name-256-bytes", "PUT and GET 400", "PUT 500", case_name_256},
      {"name-dots", "'.', '..' and encoded dots: 400", "not 2XX", case_dots},
      {"name-encoded-slash", "%2F in a name: 400", "GET not 2XX", case_encoded_slash},
      {"name-traversal", "encoded traversal 400, raw dot segments 400/404, nothing served", "not 2XX", case_traversal},
      {"name-control-bytes", "NUL, CR, LF, DEL and other control bytes: 400", "any (no name rules)", case_control_bytes},
      {"name-empty", "400/404/405", "400/404/405", case_empty_name},
      {"body-empty", round_trip + " with 0 bytes", "same", case_empty_body},
      {"body-one-byte", round_trip + " with 1 byte", "same", case_one_byte},
      {"body-huge", "streamed PUT 201, GET same size and checksum", "same", case_huge},
      {"upload-chunked", "201 and exact GET", "500 (needs Content-Length)", case_chunked},
      {"race-two-writers", "both 201, final GET equals one of them (5 rounds)", "same", case_racing_writers},
      {"put-then-get-repeat", "every GET right after its PUT is exact", "same", case_put_get_repeat},
      {"missing-names", "DELETE 200, GET 404, HEAD 404, DELETE 200", "DELETE 200, GET 404, DELETE 200", case_missing},
      {"overwrite-big-with-small", "GET returns only the small body (no stale tail)", "same", case_overwrite_big_small},
      {"unsupported-methods", "POST, PATCH: 405 with Allow: GET, PUT, DELETE; nothing stored", "400/404/405",
       case_unsupported_methods},
      {"aborted-upload", "cut upload not acknowledged; old value stays", "cut upload not acknowledged",
       case_aborted_upload},
      {"query-string-ignored", "PUT/GET/DELETE ignore ?query", "same", case_query_string},
      {"names-case-distinct", "caseTEST, casetest, CASETEST are three files", "same", case_case_distinct},
      {"head-request", "HEAD 200, no body, Content-Length of the file", "200/404/405", case_head},
      {"front-header-too-large", "431 and closed; an endless header line too, router RSS +16 MiB at most",
       "not checked", case_front_header_too_large},
      {"front-too-many-fields", "101 header fields: 431 and closed", "not checked", case_front_too_many_fields},
      {"front-long-target", "request line over --max-header-bytes: 414 and closed", "not checked",
       case_front_long_target},
      {"front-body-too-large", "over --max-body-bytes: 413 and closed (Content-Length, chunked); nothing stored",
       "not checked", case_front_body_too_large},
      {"front-content-encoding", "Content-Encoding gzip: 415, a compressed body never inflated; nothing stored",
       "not checked", case_front_content_encoding},
      {"front-ambiguous-framing",
       "CL+TE, duplicate CL, bad CL, TE not chunked, bad chunk size: 400 and closed; cut chunked body: closed, "
       "nothing stored",
       "not checked", case_front_ambiguous_framing},
      {"front-slowloris", "a head trickled a byte at a time: 408 after --header-timeout-ms, closed", "not checked",
       case_front_slowloris},
      {"front-expect-continue", "Expect: 100-continue refused (400, 413) without 100; a good PUT gets 100 then 201",
       "not checked", case_front_expect_continue},
      {"front-unknown-method", "an unknown method (FROB): 405 with Allow: GET, HEAD, PUT, DELETE", "not checked",
       case_front_unknown_method},
      {"range-requests", "single Range 206 with Content-Range, beyond the end 416, several ranges 200 whole body",
       "not checked", case_range},
  };
  auto validators = validator_cases();
  cases.insert(cases.end(), std::make_move_iterator(validators.begin()), std::make_move_iterator(validators.end()));
  return cases;
}

int usage_error(const std::string& message) {
  std::cerr << "fsload edge: " << message << " (see fsload edge --help)\n";
  return 2;
}

// `fsload edge`'s flags.
struct EdgeFlags {
  EdgeOptions options;
  std::string target = "router", only, skip, json_path;
  int64_t seed = 0;
  bool list = false;
};

int run_edge(EdgeFlags& flags) {
  EdgeOptions& options = flags.options;
  const std::string& target = flags.target;
  const std::string& json_path = flags.json_path;
  options.target = target == "backend" ? Target::kBackend : Target::kRouter;
  options.seed = flags.seed != 0 ? static_cast<uint64_t>(flags.seed) : std::random_device{}();

  std::vector<EdgeCase> cases = all_cases();
  std::set<std::string> known;
  for (const auto& c : cases) known.insert(c.name);
  std::vector<std::string> only_list = split_list(flags.only), skip_list = split_list(flags.skip);
  for (const auto& n : only_list)
    if (!known.count(n)) return usage_error("unknown case '" + n + "'");
  for (const auto& n : skip_list)
    if (!known.count(n)) return usage_error("unknown case '" + n + "'");
  bool router = options.target == Target::kRouter;
  if (flags.list) {
    for (const auto& c : cases)
      std::cout << c.name << "\n    expected: "
                << (router || c.backend_expectation == "same" ? c.router_expectation : c.backend_expectation) << "\n";
    return 0;
  }

  EdgeContext ctx(options);
  nlohmann::json results = nlohmann::json::array();
  int passed = 0, failed = 0;
  std::cout << "fsload edge  " << options.url << "  (target " << target << ", names " << ctx.prefix << "*)\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-26s %-6s %8s  %s\n", "case", "result", "seconds", "expected / problem");
  std::cout << line;
  for (const auto& c : cases) {
    if (!only_list.empty() && std::find(only_list.begin(), only_list.end(), c.name) == only_list.end()) continue;
    if (std::find(skip_list.begin(), skip_list.end(), c.name) != skip_list.end()) continue;
    std::string expected = router || c.backend_expectation == "same" ? c.router_expectation : c.backend_expectation;
    Check check;
    auto began = std::chrono::steady_clock::now();
    c.run(ctx, check);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    bool ok = check.ok();
    (ok ? passed : failed)++;
    std::snprintf(line, sizeof line, "%-26s %-6s %8.2f  %s\n", c.name.c_str(), ok ? "PASS" : "FAIL", seconds,
                  expected.c_str());
    std::cout << line;
    if (!ok) std::cout << std::string(43, ' ') << "problem: " << check.summary() << "\n";
    std::cout << std::flush;
    results.push_back({{"name", c.name},
                       {"expected", expected},
                       {"passed", ok},
                       {"problems", ok ? "" : check.summary()},
                       {"seconds", std::round(seconds * 1000) / 1000}});
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  int code = failed > 0 ? 1 : 0;
  nlohmann::json doc = {{"mode", "edge"},   {"url", options.url}, {"target", target}, {"cases", results},
                        {"passed", passed}, {"failed", failed},   {"exit_code", code}};
  if (!json_path.empty() && !write_text_file(json_path, doc.dump(2) + "\n")) return 1;
  return code;
}

}  // namespace

std::function<int()> add_edge_subcommand(CLI::App& fsload) {
  auto flags = std::make_shared<EdgeFlags>();
  std::string summary =
      "Named edge cases with expected outcomes, a pass/fail table.\n"
      "Runs them against /api/fileserver/{name}, each with the outcome expected from the --target\n"
      "profile. Exit status: 0 every case passed, 1 a case failed, 2 usage error.\n\nCases:\n";
  for (const auto& c : all_cases()) summary += "  " + c.name + "\n";
  summary.pop_back();
  CLI::App& edge = *fsload.add_subcommand("edge", summary);
  use_flag_conventions(edge, "fsload edge --url http://HOST:PORT [flags]");
  add_env_option(edge, "url", "FSLOAD_URL", &flags->options.url, "base URL of the server under test");
  add_env_option(edge, "target", "FSLOAD_EDGE_TARGET", &flags->target,
                 "expected-outcome profile: router (fsrouter) or backend (a bare file server)")
      ->check(one_of({"router", "backend"}));
  add_env_option(edge, "only", "FSLOAD_EDGE_ONLY", &flags->only, "comma-separated cases to run (default all)");
  add_env_option(edge, "skip", "FSLOAD_EDGE_SKIP", &flags->skip, "comma-separated cases to leave out");
  add_env_option(edge, "huge-size", "FSLOAD_HUGE_SIZE", &flags->options.huge_size, "bytes of the body-huge case")
      ->check(at_least(0));
  add_env_option(edge, "repeat", "FSLOAD_EDGE_REPEAT", &flags->options.repeat,
                 "PUT-then-GET pairs of put-then-get-repeat")
      ->check(at_least(0));
  add_env_option(edge, "concurrency", "FSLOAD_EDGE_CONCURRENCY", &flags->options.concurrency,
                 "names worked on in parallel by put-then-get-repeat")
      ->check(at_least(1));
  add_env_option(edge, "timeout", "FSLOAD_TIMEOUT", &flags->options.timeout_sec,
                 "client timeout per request, seconds (body-huge allows at least 900)")
      ->check(more_than(0));
  add_env_option(edge, "seed", "FSLOAD_SEED", &flags->seed, "random seed for names and bodies; 0 = from the clock");
  add_env_option(edge, "max-header-bytes", "FSLOAD_EDGE_MAX_HEADER_BYTES", &flags->options.max_header_bytes,
                 "the router's --max-header-bytes, crossed by the front-* cases")
      ->check(at_least(1));
  add_env_option(edge, "max-body-bytes", "FSLOAD_EDGE_MAX_BODY_BYTES", &flags->options.max_body_bytes,
                 "the router's --max-body-bytes (a chunked body crosses it only when at most 64 MiB)")
      ->check(at_least(0));
  add_env_option(edge, "header-timeout-ms", "FSLOAD_EDGE_HEADER_TIMEOUT_MS", &flags->options.header_timeout_ms,
                 "the router's --header-timeout-ms, outwaited by front-slowloris")
      ->check(at_least(1));
  add_env_option(edge, "router-pid", "FSLOAD_EDGE_ROUTER_PID", &flags->options.router_pid,
                 "the router's process id on this machine: memory cases check its VmRSS (0: not checked)")
      ->check(at_least(0));
  add_env_option(edge, "json", "FSLOAD_JSON", &flags->json_path, "write the results (JSON) here");
  add_env_switch(edge, "list", "", &flags->list, "print the cases with their expected outcomes and exit");
  return [flags] { return run_edge(*flags); };
}

}  // namespace fsr::load
