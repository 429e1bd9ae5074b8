// The client-facing API of fsrouter: statuses, headers and name rules.
#include <gtest/gtest.h>

#include "tests/support/stack.h"

namespace fsr::test {
namespace {

class RouterApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack_ = new Stack("api");
    stack_->start_backends(1, 5);
    stack_->start_router();
  }
  static void TearDownTestSuite() { delete stack_; }
  static Stack* stack_;
};
Stack* RouterApi::stack_ = nullptr;

TEST_F(RouterApi, PutGetDeleteGetFollowsTheChallengeSequence) {
  auto c = stack_->client();
  auto put = c->Put(api("seqcheck").c_str(), "hello", "application/octet-stream");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 201);
  EXPECT_EQ(put->body, "");
  EXPECT_FALSE(put->get_header_value("X-Fsrouter-Seq").empty());
  auto get = c->Get(api("seqcheck").c_str());
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "hello");
  EXPECT_EQ(get->get_header_value("Content-Type"), "application/octet-stream");
  auto del = c->Delete(api("seqcheck").c_str());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  auto gone = c->Get(api("seqcheck").c_str());
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
}

TEST_F(RouterApi, SequenceHeaderIncreasesWithEachWrite) {
  auto c = stack_->client();
  auto a = c->Put(api("seqinc").c_str(), "a", "application/octet-stream");
  auto b = c->Delete(api("seqinc").c_str());
  ASSERT_TRUE(a && b);
  EXPECT_LT(std::stoull(a->get_header_value("X-Fsrouter-Seq")), std::stoull(b->get_header_value("X-Fsrouter-Seq")));
}

TEST_F(RouterApi, DeleteOfMissingNameIs200) {
  auto c = stack_->client();
  auto del = c->Delete(api("never-written-xyz").c_str());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
}

TEST_F(RouterApi, GetOfUnknownNameIs404) {
  auto c = stack_->client();
  auto get = c->Get(api("never-written-abc").c_str());
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 404);
}

TEST_F(RouterApi, HeadReportsLengthWithoutBody) {
  auto c = stack_->client();
  ASSERT_TRUE(c->Put(api("headme").c_str(), std::string(1000, 'x'), "application/octet-stream"));
  auto head = c->Head(api("headme").c_str());
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->get_header_value("Content-Length"), "1000");
  EXPECT_TRUE(head->body.empty());
}

// GET requests of `name` a stand-in's log records.
int backend_gets(Stack& stack, int i, const std::string& name) {
  std::string log = stack.backend(i).read_log();
  std::string needle = "method=\"GET\" name=\"" + name + "\" ";
  int n = 0;
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
  return n;
}

TEST(RouterHead, HeadOfANameWhoseBodyTheJournalFreedAnswersItsSizeWithoutABackendRead) {
  Stack stack("head-cold");
  stack.start_backends(1, 5);
  stack.start_router({"--body-cache-mb", "0"});
  ASSERT_GT(stack.put("cold", std::string(3000, 'c')), 0u) << stack.last_error();
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = stack.status();
        return s.is_object() && s["pending_count"] == 0 && s["applied_seq"] == s["last_seq"] && s["body_bytes"] == 0;
      },
      std::chrono::seconds(20)))
      << stack.logs();
  int before = backend_gets(stack, 0, "cold");

  auto c = stack.client();
  auto head = c->Head(api("cold").c_str());
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->get_header_value("Content-Length"), "3000");
  EXPECT_TRUE(head->body.empty());
  // A GET of the same name does reach the backend (and shows in its log):
  // the count below would catch a HEAD that had read the body too.
  auto get = c->Get(api("cold").c_str());
  ASSERT_TRUE(get);
  ASSERT_EQ(get->status, 200);
  EXPECT_EQ(get->body, std::string(3000, 'c'));
  ASSERT_TRUE(wait_until([&] { return backend_gets(stack, 0, "cold") > before; }, std::chrono::seconds(10)));
  EXPECT_EQ(backend_gets(stack, 0, "cold"), before + 1) << stack.backend(0).read_log();
}

TEST(RouterHead, HeadOfADeletedNameIs404WithoutABackendRead) {
  Stack stack("head-deleted");
  stack.start_backends(1, 5);
  stack.start_router({"--body-cache-mb", "0"});
  ASSERT_GT(stack.put("gone", "x"), 0u) << stack.last_error();
  ASSERT_GT(stack.del("gone"), 0u) << stack.last_error();
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(20))) << stack.logs();
  auto head = stack.client()->Head(api("gone").c_str());
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 404);
  EXPECT_EQ(backend_gets(stack, 0, "gone"), 0) << stack.backend(0).read_log();
}

TEST_F(RouterApi, OtherMethodsGet405WithAllow) {
  auto c = stack_->client();
  auto post = c->Post(api("x").c_str(), "data", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD, PUT, DELETE");
}

TEST_F(RouterApi, BadNamesAre400WithAReason) {
  auto c = stack_->client();
  for (const std::string& raw : std::vector<std::string>{"", ".", "..", "%2E%2E", "a%2Fb", "a%00b", "a%0Ab", "%zz", ".fsrouter-marker",
                          std::string(256, 'n')}) {
    auto r = c->Put(("/api/fileserver/" + raw).c_str(), "x", "application/octet-stream");
    ASSERT_TRUE(r) << raw;
    EXPECT_EQ(r->status, 400) << "name: " << raw;
    EXPECT_FALSE(r->body.empty()) << raw;
  }
}

TEST_F(RouterApi, NamesAreDecodedOnceAndStoredByteExact) {
  auto c = stack_->client();
  const std::string name = "sp ace%41\xc3\xa9?#";
  auto put = c->Put(api(name).c_str(), "exact", "application/octet-stream");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 201);
  auto get = c->Get((api(name) + "?ignored=1").c_str());
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, "exact");
  ASSERT_TRUE(stack_->wait_drained(std::chrono::seconds(20)));
  EXPECT_EQ(read_file(stack_->data_dir() + "/" + name), "exact");
  // %41 must not have been decoded twice into "A".
  EXPECT_FALSE(file_exists(stack_->data_dir() + "/sp aceA\xc3\xa9?#"));
}

TEST_F(RouterApi, NamesDifferingOnlyInCaseAreDistinct) {
  auto c = stack_->client();
  ASSERT_TRUE(c->Put(api("CaseName").c_str(), "upper", "application/octet-stream"));
  ASSERT_TRUE(c->Put(api("casename").c_str(), "lower", "application/octet-stream"));
  EXPECT_EQ(c->Get(api("CaseName").c_str())->body, "upper");
  EXPECT_EQ(c->Get(api("casename").c_str())->body, "lower");
}

TEST_F(RouterApi, ChunkedUploadIsAcceptedAndSentWithContentLength) {
  auto c = stack_->client();
  std::string body = random_body(300000, 7);
  auto put = c->Put(
      api("chunked").c_str(),
      [&](size_t offset, httplib::DataSink& sink) {
        if (offset >= body.size()) {
          sink.done();
          return true;
        }
        size_t n = std::min<size_t>(65536, body.size() - offset);
        return sink.write(body.data() + offset, n);
      },
      "application/octet-stream");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 201);
  EXPECT_TRUE(c->Get(api("chunked").c_str())->body == body);
  ASSERT_TRUE(stack_->wait_drained(std::chrono::seconds(20)));
  // The stand-in refuses uploads without Content-Length, so this proves the router sent one.
  EXPECT_TRUE(read_file(stack_->data_dir() + "/chunked") == body);
}

TEST_F(RouterApi, EmptyBodyIsAFileOfZeroBytes) {
  auto c = stack_->client();
  auto put = c->Put(api("empty").c_str(), "", "application/octet-stream");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 201);
  auto get = c->Get(api("empty").c_str());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "");
}

TEST_F(RouterApi, OverwriteOfBigFileWithSmallOneLeavesNoStaleTail) {
  auto c = stack_->client();
  ASSERT_TRUE(c->Put(api("shrink").c_str(), random_body(500000, 1), "application/octet-stream"));
  ASSERT_TRUE(c->Put(api("shrink").c_str(), "tiny", "application/octet-stream"));
  EXPECT_EQ(c->Get(api("shrink").c_str())->body, "tiny");
  ASSERT_TRUE(stack_->wait_drained(std::chrono::seconds(20)));
  EXPECT_EQ(read_file(stack_->data_dir() + "/shrink"), "tiny");
}

TEST_F(RouterApi, FileAlreadyOnTheVolumeIsReadThrough) {
  write_file(stack_->data_dir() + "/preexisting", "from before");
  auto c = stack_->client();
  auto get = c->Get(api("preexisting").c_str());
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "from before");
}

TEST_F(RouterApi, DeleteOfFileAlreadyOnTheVolumeRemovesIt) {
  write_file(stack_->data_dir() + "/predelete", "old");
  auto c = stack_->client();
  ASSERT_EQ(c->Delete(api("predelete").c_str())->status, 200);
  EXPECT_EQ(c->Get(api("predelete").c_str())->status, 404);
  ASSERT_TRUE(stack_->wait_drained(std::chrono::seconds(20)));
  EXPECT_FALSE(file_exists(stack_->data_dir() + "/predelete"));
}

TEST_F(RouterApi, AdminRoutesAreServedOnTheAdminAddressOnly) {
  auto main = stack_->client()->Get("/admin/status");
  ASSERT_TRUE(main);
  EXPECT_EQ(main->status, 404);
  httplib::Client admin("127.0.0.1", stack_->router_admin_port());
  auto status = admin.Get("/admin/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
  EXPECT_EQ(status->get_header_value("Content-Type"), "application/json");
  auto api = admin.Get("/api/fileserver/x");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 404);
  for (const char* probe : {"/healthz", "/readyz"}) {
    auto r = stack_->client()->Get(probe);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << probe;
  }
}

TEST_F(RouterApi, StatusIsJsonWithJournalAndBackendFacts) {
  auto s = stack_->status();
  ASSERT_FALSE(s.is_null());
  for (const char* key : {"last_seq", "applied_seq", "pending_count", "pending_bytes", "oldest_pending_age_ms"})
    EXPECT_TRUE(s.contains(key)) << key;
  // A fresh journal has nothing to walk: names and body_bytes are exact at once.
  EXPECT_EQ(s["index_walked"], true);
  ASSERT_EQ(s["backends"].size(), 1u);
  EXPECT_EQ(s["backends"][0]["role"], "primary");
  EXPECT_TRUE(s["backends"][0].contains("rejected_429"));
  EXPECT_EQ(s["suspect_names"], 0);
  for (const char* key : {"slots", "pass", "checked", "mismatches", "repaired", "position"})
    EXPECT_TRUE(s["scrub"].contains(key)) << "scrub." << key;
  EXPECT_EQ(s["scrub"]["slots"], 1) << "--scrub-slots defaults to 1";
  for (const char* key : {"checked", "mismatches", "repaired"})
    EXPECT_TRUE(s["suspect_checks"].contains(key)) << "suspect_checks." << key;
}

}  // namespace
}  // namespace fsr::test
