// GET /metrics on --admin-listen, scraped from a real router after known
// traffic: counts by method and code, the journal's sequence numbers, the
// backends' series, the text format line by line, and labels that never
// carry a file name.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/stack.h"

namespace fsr::test {
namespace {

using namespace std::chrono_literals;

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Scrape {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // family name -> counter, gauge, histogram...
  std::vector<std::string> errors;           // lines that are neither a comment nor a sample

  // The samples with this name whose labels include `labels`.
  std::vector<const Sample*> find(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    std::vector<const Sample*> found;
    for (const Sample& s : samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) match = false;
      }
      if (match) found.push_back(&s);
    }
    return found;
  }
};

// Parses the Prometheus text format (0.0.4) strictly: every line is a
// `# HELP name text`, a `# TYPE name type`, or `name{label="value",...} value`.
Scrape parse(const std::string& text) {
  static const std::regex help(R"(^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$)");
  static const std::regex label(R"(^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)\"(,|$))");
  Scrape out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, help)) continue;
    if (std::regex_match(line, m, type)) {
      out.types[m[1]] = m[2];
      continue;
    }
    if (!std::regex_match(line, m, sample)) {
      out.errors.push_back(line);
      continue;
    }
    Sample s;
    s.name = m[1];
    std::string labels = m[3];
    while (!labels.empty()) {
      std::smatch lm;
      if (!std::regex_search(labels, lm, label)) {
        out.errors.push_back(line);
        break;
      }
      s.labels[lm[1]] = lm[2];
      labels = lm.suffix();
    }
    std::string value = m[4];
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') out.errors.push_back(line);
    out.samples.push_back(std::move(s));
  }
  return out;
}

// A histogram's samples carry its family name with a suffix.
std::string family_of(const Sample& s, const Scrape& scrape) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string n = s.name;
    std::string sfx = suffix;
    if (n.size() > sfx.size() && n.compare(n.size() - sfx.size(), sfx.size(), sfx) == 0) {
      std::string base = n.substr(0, n.size() - sfx.size());
      if (scrape.types.count(base) && scrape.types.at(base) == "histogram") return base;
    }
  }
  return s.name;
}

class RouterMetrics : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack_ = new Stack("metrics");
    stack_->start_backends(2, 5);
    // What fsrouter-supervisor hands a router started after 3 deaths.
    ::setenv("FSROUTER_RESTARTS", "3", 1);
    started_ = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    stack_->start_router({"--scrub-slots", "0"});
    ::unsetenv("FSROUTER_RESTARTS");
  }
  static void TearDownTestSuite() { delete stack_; }

  static std::string scrape_text() {
    httplib::Client c("127.0.0.1", stack_->router_admin_port());
    auto r = c.Get("/metrics");
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return r->body;
  }
  static double value(const Scrape& s, const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    auto found = s.find(name, labels);
    EXPECT_EQ(found.size(), 1u) << name;
    return found.size() == 1 ? found[0]->value : -1;
  }

  static Stack* stack_;
  static double started_;
};
Stack* RouterMetrics::stack_ = nullptr;
double RouterMetrics::started_ = 0;

TEST_F(RouterMetrics, ScrapeCountsRequestsByMethodAndCodeAndReportsTheJournalsSequenceAndEveryBackend) {
  // Requests before this one (the stack's /readyz polls on --listen, other tests' writes) are counted too:
  // compare with a first scrape, once their writes are applied.
  ASSERT_TRUE(stack_->wait_drained(20s));
  Scrape before = parse(scrape_text());
  auto counted = [&](const Scrape& s, const std::string& name, const std::map<std::string, std::string>& labels) {
    auto earlier = before.find(name, labels);
    EXPECT_LE(earlier.size(), 1u);
    return value(s, name, labels) - (earlier.empty() ? 0 : earlier[0]->value);
  };
  auto c = stack_->client();
  std::vector<std::string> bodies = {"alpha", std::string(1000, 'b'), std::string(70000, 'c')};  // the last in a file
  uint64_t body_bytes = 0;
  uint64_t last_seq = 0;
  for (size_t i = 0; i < bodies.size(); ++i) {
    last_seq = stack_->put("count-" + std::to_string(i), bodies[i]);
    ASSERT_GT(last_seq, 0u) << stack_->last_error();
    body_bytes += bodies[i].size();
  }
  ASSERT_TRUE(stack_->wait_drained(20s));
  for (int i = 0; i < 2; ++i) {
    auto get = c->Get(api("count-0").c_str());
    ASSERT_TRUE(get);
    ASSERT_EQ(get->status, 200);
  }
  auto unknown = c->Get(api("count-never-written").c_str());  // read through from a backend
  ASSERT_TRUE(unknown);
  ASSERT_EQ(unknown->status, 404);
  last_seq = stack_->del("count-1");
  ASSERT_GT(last_seq, 0u) << stack_->last_error();
  auto tombstone = c->Get(api("count-1").c_str());
  ASSERT_TRUE(tombstone);
  ASSERT_EQ(tombstone->status, 404);
  auto post = c->Post(api("count-0").c_str(), "x", "text/plain");
  ASSERT_TRUE(post);
  ASSERT_EQ(post->status, 405);
  httplib::Request brew;  // a method no label may carry as sent
  brew.method = "BREW";
  brew.path = api("count-0");
  auto brewed = c->send(brew);
  ASSERT_TRUE(brewed);
  ASSERT_EQ(brewed->status, 405);
  auto bad = c->Put(api(".fsrouter-x").c_str(), "x", "application/octet-stream");
  ASSERT_TRUE(bad);
  ASSERT_EQ(bad->status, 400);
  // The POST's and the refused PUT's bodies are never read: answered from the head, the connection closes.
  ASSERT_TRUE(stack_->wait_drained(20s));

  Scrape s = parse(scrape_text());
  ASSERT_TRUE(s.errors.empty()) << s.errors.front();
  EXPECT_EQ(counted(s, "fsrouter_http_requests_total", {{"method", "PUT"}, {"code", "201"}}), 3);
  EXPECT_EQ(counted(s, "fsrouter_http_requests_total", {{"method", "PUT"}, {"code", "400"}}), 1);
  EXPECT_EQ(counted(s, "fsrouter_http_requests_total", {{"method", "GET"}, {"code", "200"}}), 2);
  EXPECT_EQ(counted(s, "fsrouter_http_requests_total", {{"method", "GET"}, {"code", "404"}}), 2);
  EXPECT_EQ(counted(s, "fsrouter_http_requests_total", {{"method", "DELETE"}, {"code", "200"}}), 1);
  EXPECT_EQ(counted(s, "fsrouter_http_requests_total", {{"method", "other"}, {"code", "405"}}), 2);
  for (const Sample& sample : s.samples) {
    if (!sample.labels.count("method")) continue;
    EXPECT_TRUE(std::set<std::string>({"GET", "HEAD", "PUT", "DELETE", "other"}).count(sample.labels.at("method")))
        << sample.labels.at("method");
  }
  // Two body hits and a tombstone answered by the journal, one read through a backend.
  EXPECT_EQ(counted(s, "fsrouter_http_request_duration_seconds_count", {{"method", "GET"}, {"source", "journal"}}), 3);
  EXPECT_EQ(counted(s, "fsrouter_http_request_duration_seconds_count", {{"method", "GET"}, {"source", "backend"}}), 1);
  EXPECT_EQ(counted(s, "fsrouter_http_request_duration_seconds_count", {{"method", "PUT"}, {"source", "journal"}}), 3);
  EXPECT_EQ(counted(s, "fsrouter_http_request_duration_seconds_bucket",
                  {{"method", "GET"}, {"source", "journal"}, {"le", "+Inf"}}),
            3);
  EXPECT_EQ(counted(s, "fsrouter_body_cache_hits_total", {}), 2);
  EXPECT_EQ(counted(s, "fsrouter_body_cache_misses_total", {}), 0);
  EXPECT_EQ(counted(s, "fsrouter_http_request_body_bytes_total", {}), static_cast<double>(body_bytes));
  EXPECT_GE(counted(s, "fsrouter_http_response_body_bytes_total", {}), 2.0 * bodies[0].size() + 2 * 15);  // + two 404 texts

  nlohmann::json status = stack_->status();
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(value(s, "fsrouter_journal_last_seq"), static_cast<double>(last_seq));
  EXPECT_EQ(value(s, "fsrouter_journal_last_seq"), status["last_seq"].get<double>());
  EXPECT_EQ(value(s, "fsrouter_journal_applied_seq"), static_cast<double>(last_seq));
  EXPECT_EQ(value(s, "fsrouter_journal_pending_names"), 0);
  EXPECT_EQ(counted(s, "fsrouter_journal_names", {}), 3);
  EXPECT_EQ(counted(s, "fsrouter_apply_applied_total", {}), 4);  // three PUTs and the DELETE, each drained before the next
  EXPECT_GT(value(s, "fsrouter_journal_disk_bytes"), 70000);
  EXPECT_GT(value(s, "fsrouter_journal_filesystem_free_bytes"), 0);
  EXPECT_EQ(value(s, "fsrouter_process_restarts_total"), 3);
  double start = value(s, "process_start_time_seconds");
  EXPECT_GE(start, started_ - 1);
  EXPECT_LE(start, started_ + 60);

  for (int i = 0; i < 2; ++i) {
    std::string backend = "127.0.0.1:" + std::to_string(stack_->backend_port(i));
    EXPECT_EQ(value(s, "fsrouter_backend_primary", {{"backend", backend}}), i == 0 ? 1 : 0) << backend;
    EXPECT_EQ(value(s, "fsrouter_backend_healthy", {{"backend", backend}}), 1) << backend;
    EXPECT_EQ(value(s, "fsrouter_backend_cap", {{"backend", backend}}), 10) << backend;
    EXPECT_GT(value(s, "fsrouter_backend_requests_total", {{"backend", backend}}), 0) << backend;  // probes at least
    EXPECT_EQ(s.find("fsrouter_backend_watermark", {{"backend", backend}}).size(), 1u) << backend;
    EXPECT_EQ(s.find("fsrouter_backend_rejected_429_total", {{"backend", backend}}).size(), 1u) << backend;
  }
}

TEST_F(RouterMetrics, EverySampleBelongsToADeclaredFamilyWithPrometheusNaming) {
  ASSERT_TRUE(stack_->put("format-check", "x"));
  Scrape s = parse(scrape_text());
  ASSERT_TRUE(s.errors.empty()) << s.errors.front();
  ASSERT_GT(s.samples.size(), 40u);
  for (const Sample& sample : s.samples) {
    std::string family = family_of(sample, s);
    ASSERT_TRUE(s.types.count(family)) << sample.name << " has no # TYPE";
    const std::string& type = s.types.at(family);
    bool total = family.size() > 6 && family.compare(family.size() - 6, 6, "_total") == 0;
    EXPECT_EQ(type == "counter", total) << family << " is a " << type;
    if (type != "histogram") {
      EXPECT_GE(sample.value, 0) << sample.name;
    }
  }
}

TEST_F(RouterMetrics, NoLabelValueIsAFileName) {
  std::vector<std::string> names = {"label-leak-one", "label leak two", "label-leak-three.txt"};
  for (const std::string& name : names) ASSERT_GT(stack_->put(name, "secret"), 0u) << stack_->last_error();
  auto c = stack_->client();
  for (const std::string& name : names) ASSERT_TRUE(c->Get(api(name).c_str()));
  std::string text = scrape_text();
  Scrape s = parse(text);
  ASSERT_TRUE(s.errors.empty()) << s.errors.front();
  for (const std::string& name : names) EXPECT_EQ(text.find(name), std::string::npos) << name;
  std::set<std::string> keys;
  for (const Sample& sample : s.samples)
    for (const auto& [key, value] : sample.labels) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"backend", "check", "code", "le", "method", "outcome", "reason", "source"}));
}

}  // namespace
}  // namespace fsr::test
