// router/metrics.h in process: what the request path counts, how methods
// fold, and FSROUTER_RESTARTS as the supervisor hands it over.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "journal/journal.h"
#include "router/metrics.h"
#include "tests/support/process.h"

namespace fsr::router {
namespace {

using namespace std::chrono_literals;

http::RequestHead head(const std::string& method) {
  http::RequestHead h;
  h.method = method;
  h.target = "/api/fileserver/some-file-name";
  return h;
}

http::Response answer(unsigned status, const char* source) {
  http::Response r;
  r.status = status;
  r.source = source;
  return r;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(RestartsFromEnvironment, ADecimalCountIsTakenAnythingElseIsZero) {
  EXPECT_EQ(restarts_from_environment(nullptr), 0u);
  EXPECT_EQ(restarts_from_environment(""), 0u);
  EXPECT_EQ(restarts_from_environment("7"), 7u);
  EXPECT_EQ(restarts_from_environment("12345678901"), 12345678901u);
  EXPECT_EQ(restarts_from_environment("-1"), 0u);
  EXPECT_EQ(restarts_from_environment("3x"), 0u);
  EXPECT_EQ(restarts_from_environment(" 3"), 0u);
}

TEST(RouterMetricsRequests, CountsByFoldedMethodAndCodeAndTimesByMethodAndSource) {
  RouterMetrics metrics(5);
  metrics.answered(head("GET"), answer(200, "journal"), 300us);
  metrics.answered(head("GET"), answer(200, "journal"), 2ms);
  metrics.answered(head("GET"), answer(503, "backend"), 4s);
  metrics.answered(head("BREW"), answer(405, nullptr), 10us);
  metrics.answered(head(""), answer(431, nullptr), 10us);  // refused before the head was parsed
  metrics.answered(head("PUT"), answer(999, "journal"), 1ms);  // no code label past 599; still timed
  metrics.body_bytes_received(100);
  metrics.body_bytes_received(23);
  metrics.body_bytes_sent(7);
  std::string text = metrics.scrape();

  EXPECT_TRUE(has_line(text, R"(fsrouter_http_requests_total{code="200",method="GET"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(fsrouter_http_requests_total{code="503",method="GET"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(fsrouter_http_requests_total{code="405",method="other"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(fsrouter_http_requests_total{code="431",method="other"} 1)")) << text;
  EXPECT_EQ(text.find(R"(code="999")"), std::string::npos);
  EXPECT_EQ(text.find("BREW"), std::string::npos);
  EXPECT_EQ(text.find("some-file-name"), std::string::npos);
  EXPECT_TRUE(has_line(text, R"(fsrouter_http_request_duration_seconds_count{method="GET",source="journal"} 2)"));
  EXPECT_TRUE(has_line(text, R"(fsrouter_http_request_duration_seconds_bucket{method="GET",source="journal",le="0.0005"} 1)"));
  EXPECT_TRUE(has_line(text, R"(fsrouter_http_request_duration_seconds_bucket{method="GET",source="journal",le="0.0025"} 2)"));
  EXPECT_TRUE(has_line(text, R"(fsrouter_http_request_duration_seconds_count{method="GET",source="backend"} 1)"));
  EXPECT_TRUE(has_line(text, R"(fsrouter_http_request_duration_seconds_bucket{method="GET",source="backend",le="2.5"} 0)"));
  EXPECT_TRUE(has_line(text, R"(fsrouter_http_request_duration_seconds_count{method="other",source="none"} 2)"));
  EXPECT_TRUE(has_line(text, R"(fsrouter_http_request_duration_seconds_count{method="PUT",source="journal"} 1)"));
  EXPECT_TRUE(has_line(text, "fsrouter_http_request_body_bytes_total 123"));
  EXPECT_TRUE(has_line(text, "fsrouter_http_response_body_bytes_total 7"));
  EXPECT_TRUE(has_line(text, "fsrouter_process_restarts_total 5"));
  EXPECT_NE(text.find("# TYPE fsrouter_process_restarts_total counter\n"), std::string::npos);
}

TEST(RouterMetricsRequests, WithoutSourcesOnlyTheRequestAndProcessFamiliesAreServed) {
  RouterMetrics metrics(0);
  http::Response res;
  metrics.serve(res);
  EXPECT_EQ(res.status, 200u);
  EXPECT_EQ(res.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_TRUE(has_line(res.body, "fsrouter_process_restarts_total 0"));
  EXPECT_NE(res.body.find("process_start_time_seconds "), std::string::npos);
  EXPECT_EQ(res.body.find("fsrouter_journal_"), std::string::npos);
  EXPECT_EQ(res.body.find("fsrouter_backend_"), std::string::npos);
}

// After an open, the walk of the index runs in the background: until it
// ends the names are RocksDB's estimate and the body bytes 0, which the
// scrape must say (fsrouter_journal_index_walked), or an operator reads an
// estimate as a count.
TEST(RouterMetricsJournal, IndexWalkedIsZeroWhileTheWalkAfterAnOpenRunsAndOneOnceItEnded) {
  test::TempDir dir;
  journal::Options o;
  o.dir = dir / "journal";
  {
    std::unique_ptr<journal::Journal> j;
    ASSERT_TRUE(journal::Journal::open(o, &j).ok());
    for (const char* name : {"a", "b", "c"}) {
      auto body = j->new_body();
      ASSERT_TRUE(body->append("xyz", 3).ok());
      uint64_t seq = 0;
      ASSERT_TRUE(j->commit_put(name, std::move(body), &seq).ok()) << name;
    }
  }
  // Reopened with the walk held until the first scrape is read. The journal
  // is declared first so that it goes last: the promise, broken if the test
  // leaves early, releases the walk before the journal's close joins it.
  std::unique_ptr<journal::Journal> j;
  std::promise<void> gate;
  std::shared_future<void> released = gate.get_future().share();
  o.before_index_walk = [released] { released.wait_for(std::chrono::seconds(60)); };
  ASSERT_TRUE(journal::Journal::open(o, &j).ok());
  RouterMetrics metrics(0);
  MetricSources sources;
  sources.journal = j.get();
  metrics.set_sources(sources);
  std::string during = metrics.scrape();
  gate.set_value();
  j->wait_for_index_walk();
  std::string after = metrics.scrape();

  EXPECT_TRUE(has_line(during, "fsrouter_journal_index_walked 0")) << during;
  EXPECT_TRUE(has_line(during, "fsrouter_body_cache_bytes 0")) << during;
  EXPECT_TRUE(has_line(after, "fsrouter_journal_index_walked 1")) << after;
  EXPECT_TRUE(has_line(after, "fsrouter_journal_names 3")) << after;
  EXPECT_TRUE(has_line(after, "fsrouter_body_cache_bytes 9")) << after;
}

}  // namespace
}  // namespace fsr::router
