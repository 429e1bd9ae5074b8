// Validators, conditional requests and verified uploads through a real
// router: ETag and Last-Modified on reads, 304 for If-None-Match and
// If-Modified-Since, If-Match / If-None-Match on PUT and DELETE checked
// atomically with the commit (many racing clients, one winner, checked in
// the journal), and Content-Digest / Content-MD5 / Want-Content-Digest.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cctype>
#include <csignal>
#include <cstdlib>

#include "journal/journal.h"
#include "router/validators.h"
#include "tests/support/raw_connection.h"
#include "tests/support/stack.h"

namespace fsr::test {
namespace {

using router::DigestAlgorithm;

std::string digest_value(DigestAlgorithm algorithm, const std::string& body) {
  router::Digest d(algorithm);
  d.update(body.data(), body.size());
  return router::digest_field_value(algorithm, d.finish());
}

std::string md5_base64(const std::string& body) {
  router::Digest d(DigestAlgorithm::kMd5);
  d.update(body.data(), body.size());
  return router::base64_encode(d.finish());
}

// An answer read off the socket: cpp-httplib's client reads a 304 without
// Content-Length until the connection closes, so conditional reads go raw,
// with Connection: close.
struct RawReply {
  int status = 0;
  std::string head, body;
  bool has(const std::string& name) const { return !header(name).empty(); }
  std::string header(const std::string& name) const {
    std::string lower_head = head, key = "\r\n" + name + ":";
    for (auto& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t at = lower_head.find(key);
    if (at == std::string::npos) return "";
    size_t start = at + key.size(), end = head.find("\r\n", start);
    std::string value = head.substr(start, end - start);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    return value;
  }
};

RawReply raw_request(int port, const std::string& method, const std::string& name,
                     const std::vector<std::string>& header_lines) {
  RawConnection conn(port);
  std::string request = method + " " + api(name) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  for (const auto& line : header_lines) request += line + "\r\n";
  conn.send(request + "\r\n");
  std::string reply = conn.read_to_close();
  RawReply r;
  size_t end = reply.find("\r\n\r\n");
  if (end == std::string::npos || reply.size() < 12) return r;
  r.head = reply.substr(0, end + 2);
  r.body = reply.substr(end + 4);
  r.status = std::atoi(reply.substr(9, 3).c_str());
  return r;
}

class RouterValidators : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack_ = new Stack("validators");
    stack_->start_backends(1, 5);
    stack_->start_router();
  }
  static void TearDownTestSuite() { delete stack_; }
  // PUT through the router; returns the answer's ETag ("" when it failed).
  static std::string put(const std::string& name, const std::string& body, httplib::Headers headers = {}) {
    auto r = stack_->client()->Put(api(name).c_str(), headers, body, "application/octet-stream");
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 201) << name << ": " << r->body;
    return r->get_header_value("ETag");
  }
  static httplib::Result get(const std::string& name, httplib::Headers headers = {}) {
    return stack_->client()->Get(api(name).c_str(), headers);
  }
  static RawReply raw(const std::string& method, const std::string& name, const std::vector<std::string>& lines) {
    return raw_request(stack_->router_port(), method, name, lines);
  }
  static Stack* stack_;
};
Stack* RouterValidators::stack_ = nullptr;

TEST_F(RouterValidators, GetAndHeadCarryThePutsStrongETagAndTheCommitTimeAsLastModified) {
  auto before = std::chrono::system_clock::now();
  std::string tag = put("tagged", "content");
  ASSERT_FALSE(tag.empty());
  EXPECT_EQ(tag.front(), '"') << "a strong tag: quoted, no W/";
  auto g = get("tagged");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 200);
  EXPECT_EQ(g->get_header_value("ETag"), tag);
  auto h = stack_->client()->Head(api("tagged").c_str());
  ASSERT_TRUE(h);
  EXPECT_EQ(h->get_header_value("ETag"), tag);
  auto modified = router::parse_http_date(g->get_header_value("Last-Modified"));
  ASSERT_TRUE(modified) << g->get_header_value("Last-Modified");
  int64_t before_s = std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count();
  EXPECT_GE(*modified, before_s);
  EXPECT_LE(*modified, before_s + 60);
  EXPECT_EQ(h->get_header_value("Last-Modified"), g->get_header_value("Last-Modified"));
  std::string again = put("tagged", "content");
  EXPECT_NE(again, tag) << "the tag names the write: a rewrite of the same bytes gets a new one";
}

TEST_F(RouterValidators, IfNoneMatchWithTheCurrentTagGets304WithoutBodyOnGetAndHead) {
  std::string old_tag = put("cached", "version one");
  std::string tag = put("cached", "version two");
  auto g = raw("GET", "cached", {"If-None-Match: " + tag});
  EXPECT_EQ(g.status, 304) << g.head;
  EXPECT_EQ(g.body, "");
  EXPECT_EQ(g.header("ETag"), tag);
  EXPECT_TRUE(g.has("Last-Modified")) << g.head;
  EXPECT_FALSE(g.has("Content-Length")) << "a 304 must not claim a length other than the 200's: " << g.head;
  auto h = raw("HEAD", "cached", {"If-None-Match: \"x\", " + tag});
  EXPECT_EQ(h.status, 304) << h.head;
  auto star = raw("GET", "cached", {"If-None-Match: *"});
  EXPECT_EQ(star.status, 304) << star.head;
  auto stale = raw("GET", "cached", {"If-None-Match: " + old_tag});
  EXPECT_EQ(stale.status, 200) << stale.head;
  EXPECT_EQ(stale.body, "version two");
}

TEST_F(RouterValidators, IfModifiedSinceGets304AndIfNoneMatchTakesPrecedence) {
  std::string old_tag = put("dated", "old");
  put("dated", "new");
  auto g = get("dated");
  ASSERT_TRUE(g);
  std::string last_modified = g->get_header_value("Last-Modified");
  auto same = raw("GET", "dated", {"If-Modified-Since: " + last_modified});
  EXPECT_EQ(same.status, 304) << same.head;
  EXPECT_EQ(same.body, "");
  auto earlier = raw("GET", "dated", {"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"});
  EXPECT_EQ(earlier.status, 200) << earlier.head;
  EXPECT_EQ(earlier.body, "new");
  auto both = raw("GET", "dated", {"If-None-Match: " + old_tag, "If-Modified-Since: " + last_modified});
  EXPECT_EQ(both.status, 200) << "If-None-Match did not match: If-Modified-Since is not evaluated";
  EXPECT_EQ(both.body, "new");
}

TEST_F(RouterValidators, ConditionalPutAndDeleteCommitOnlyWhenTheyHold) {
  auto c = stack_->client();
  std::string first = put("guarded", "first");
  std::string second = put("guarded", "second");
  auto stale = c->Put(api("guarded").c_str(), {{"If-Match", first}}, "lost update", "application/octet-stream");
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 412);
  EXPECT_TRUE(stale->get_header_value("X-Fsrouter-Seq").empty());
  EXPECT_EQ(get("guarded")->body, "second");
  auto create = c->Put(api("guarded").c_str(), {{"If-None-Match", "*"}}, "create", "application/octet-stream");
  ASSERT_TRUE(create);
  EXPECT_EQ(create->status, 412) << "the name exists";
  auto del_stale = c->Delete(api("guarded").c_str(), {{"If-Match", first}});
  ASSERT_TRUE(del_stale);
  EXPECT_EQ(del_stale->status, 412);
  EXPECT_EQ(get("guarded")->body, "second");
  std::string third = put("guarded", "third", {{"If-Match", second}});
  ASSERT_FALSE(third.empty());
  EXPECT_NE(third, second);
  EXPECT_EQ(get("guarded")->get_header_value("ETag"), third) << "the PUT's answer carries the new tag";
  auto del = c->Delete(api("guarded").c_str(), {{"If-Match", third}});
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(get("guarded")->status, 404);
  auto gone = c->Delete(api("guarded").c_str(), {{"If-Match", "*"}});
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 412) << "a deleted name has no state to match";
  EXPECT_FALSE(put("guarded", "again", {{"If-None-Match", "*"}}).empty()) << "deleted: If-None-Match * holds";
  auto malformed = c->Put(api("guarded").c_str(), {{"If-Match", "unquoted"}}, "x", "application/octet-stream");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
}

// A precondition already false when the head arrives is answered before the
// body is read: no 100 Continue, a 412, and the connection closes.
TEST_F(RouterValidators, AFailedIfMatchIsAnsweredBeforeTheBodyIsSent) {
  std::string first = put("early", "first");
  put("early", "second");
  RawConnection conn(stack_->router_port());
  ASSERT_TRUE(conn.connected());
  conn.send("PUT " + api("early") + " HTTP/1.1\r\nHost: x\r\nIf-Match: " + first +
            "\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n");
  std::string reply = conn.read_to_close();
  EXPECT_EQ(reply.substr(0, reply.find("\r\n")), "HTTP/1.1 412 Precondition Failed") << reply;
  EXPECT_EQ(reply.find("100 Continue"), std::string::npos);
  EXPECT_TRUE(conn.closed());
  EXPECT_EQ(get("early")->body, "second");
}

TEST_F(RouterValidators, AnUploadWhoseContentDigestDoesNotMatchIsRefusedAndNothingStored) {
  auto c = stack_->client();
  std::string body = random_body(200000, 7);  // spills to a body file
  auto wrong = c->Put(api("digested").c_str(), {{"Content-Digest", digest_value(DigestAlgorithm::kSha256, body + "x")}},
                      body, "application/octet-stream");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 400);
  EXPECT_NE(wrong->body.find("Content-Digest sha-256"), std::string::npos) << wrong->body;
  EXPECT_EQ(get("digested")->status, 404) << "nothing was stored";
  put("digested", body, {{"Content-Digest", digest_value(DigestAlgorithm::kSha256, body)}});
  put("digested", body, {{"Content-Digest", digest_value(DigestAlgorithm::kSha512, body)}});
  put("digested", body, {{"Content-MD5", md5_base64(body)}});
  auto bad_md5 = c->Put(api("digested").c_str(), {{"Content-MD5", md5_base64("other")}}, "changed",
                        "application/octet-stream");
  ASSERT_TRUE(bad_md5);
  EXPECT_EQ(bad_md5->status, 400);
  EXPECT_EQ(get("digested")->body, body) << "the refused upload changed nothing";
  auto malformed = c->Put(api("digested").c_str(), {{"Content-Digest", "sha-256=not-base64"}}, "changed",
                          "application/octet-stream");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  put("digested", "unknown algorithm", {{"Content-Digest", "unixsum=:AAAA:"}});
  EXPECT_EQ(get("digested")->body, "unknown algorithm") << "an algorithm we do not know is ignored";
}

TEST_F(RouterValidators, WantContentDigestGetsTheDigestOfTheBodySent) {
  std::string small = "a small body";
  std::string large = random_body(300000, 9);
  put("want-small", small);
  put("want-large", large);
  auto s = get("want-small", {{"Want-Content-Digest", "sha-256=5"}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->body, small);
  EXPECT_EQ(s->get_header_value("Content-Digest"), digest_value(DigestAlgorithm::kSha256, small));
  auto l = get("want-large", {{"Want-Content-Digest", "sha-256=1, sha-512=3"}});
  ASSERT_TRUE(l);
  EXPECT_EQ(l->body, large);
  EXPECT_EQ(l->get_header_value("Content-Digest"), digest_value(DigestAlgorithm::kSha512, large));
  EXPECT_FALSE(get("want-small")->has_header("Content-Digest")) << "only when asked";
  auto ranged = get("want-large", {{"Want-Content-Digest", "sha-256=1"}, {"Want-Repr-Digest", "sha-256=1"},
                                   {"Range", "bytes=0-9"}});
  ASSERT_TRUE(ranged);
  EXPECT_EQ(ranged->status, 206);
  EXPECT_FALSE(ranged->has_header("Content-Digest")) << "the content sent is a part";
  EXPECT_EQ(ranged->get_header_value("Repr-Digest"), digest_value(DigestAlgorithm::kSha256, large));
}

// Many clients PUT or DELETE one name with the same If-Match at once:
// exactly one wins, the others get 412, and the journal holds exactly one
// new record, the winner's.
TEST(RouterConditionalRace, ManyClientsWithTheSameIfMatchExactlyOneWinsAndOnlyItsRecordIsJournaled) {
  Stack stack("validators_race");
  stack.start_backends(1, 5);
  stack.start_router();
  auto c = stack.client();
  auto base = c->Put(api("contended").c_str(), "base", "application/octet-stream");
  ASSERT_TRUE(base);
  std::string tag = base->get_header_value("ETag");
  uint64_t base_seq = seq_of(base);
  constexpr int kClients = 24;
  std::vector<int> statuses(kClients, 0);
  std::vector<uint64_t> seqs(kClients, 0);
  std::atomic<int> ready{0};
  run_threads(kClients, [&](int i) {
    auto client = stack.client();
    client->Get("/healthz");  // connected before the start line
    ++ready;
    while (ready.load() < kClients) std::this_thread::yield();
    httplib::Result r = i % 6 == 5 ? client->Delete(api("contended").c_str(), {{"If-Match", tag}})
                                   : client->Put(api("contended").c_str(), {{"If-Match", tag}},
                                                 "client " + std::to_string(i), "application/octet-stream");
    if (r) {
      statuses[i] = r->status;
      seqs[i] = seq_of(r);
    }
  });
  int winners = 0, winner = -1;
  for (int i = 0; i < kClients; ++i) {
    if (statuses[i] == 201 || statuses[i] == 200) {
      ++winners;
      winner = i;
    } else {
      EXPECT_EQ(statuses[i], 412) << "client " << i;
    }
  }
  ASSERT_EQ(winners, 1);
  auto now = c->Get(api("contended").c_str());
  ASSERT_TRUE(now);
  if (winner % 6 == 5) EXPECT_EQ(now->status, 404);
  else EXPECT_EQ(now->body, "client " + std::to_string(winner));
  // The journal itself, with the router stopped: one record after the base.
  ASSERT_EQ(stack.stop_router(SIGTERM), 0);
  journal::Options options;
  options.dir = stack.journal_dir();
  std::unique_ptr<journal::Journal> journal;
  ASSERT_TRUE(journal::Journal::open(options, &journal).ok());
  EXPECT_EQ(journal->last_seq(), base_seq + 1) << "no loser took a seq";
  auto entry = journal->lookup("contended");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->seq, seqs[winner]);
}

}  // namespace
}  // namespace fsr::test
