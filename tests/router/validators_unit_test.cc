// The validators and digests of the API as pure functions
// (router/validators.h): tag lists, HTTP dates, the RFC 9110 order of read
// conditions, and the Content-Digest, Content-MD5 and Want-Content-Digest
// fields.
#include <gtest/gtest.h>

#include "journal/entity_tag.h"
#include "router/validators.h"

namespace fsr::router {
namespace {

http::RequestHead head_with(std::vector<std::pair<std::string, std::string>> fields) {
  http::RequestHead h;
  h.method = "GET";
  h.target = "/api/fileserver/x";
  h.fields = std::move(fields);
  return h;
}

journal::IndexEntry present(uint64_t seq, int64_t time_ms) {
  journal::IndexEntry e;
  e.seq = seq;
  e.op = journal::Op::kPut;
  e.time_ms = time_ms;
  return e;
}

TEST(TagList, ParsesStarListsAndWeakTagsAndRefusesBareWords) {
  auto any = parse_tag_list(" * ");
  ASSERT_TRUE(any);
  EXPECT_TRUE(any->any);
  auto list = parse_tag_list(R"("a-1", W/"b,2" ,"c")");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->tags, (std::vector<std::string>{"\"a-1\"", "W/\"b,2\"", "\"c\""}));
  for (const char* bad : {"", "abc", "\"open", "\"a\"x", "\"a b\"", ",", "*, \"a\""})
    EXPECT_FALSE(parse_tag_list(bad)) << bad;
}

TEST(HttpDate, FormatsImfFixdateAndReadsAllThreeForms) {
  EXPECT_EQ(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_FALSE(parse_http_date("yesterday"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT junk"));
}

TEST(ReadVerdict, IfNoneMatchWinsOverIfModifiedSince) {
  auto entry = present(9, 784111777000);
  std::string tag = journal::entity_tag("j", 9);
  std::string stale = journal::entity_tag("j", 8);
  std::string later = "Mon, 07 Nov 1994 08:49:37 GMT";
  std::string earlier = "Sat, 05 Nov 1994 08:49:37 GMT";
  EXPECT_EQ(read_verdict(head_with({{"If-None-Match", tag}}), entry, "j"), ReadVerdict::kNotModified);
  EXPECT_EQ(read_verdict(head_with({{"If-None-Match", "W/" + tag}}), entry, "j"), ReadVerdict::kNotModified)
      << "If-None-Match compares weakly";
  EXPECT_EQ(read_verdict(head_with({{"If-None-Match", "*"}}), entry, "j"), ReadVerdict::kNotModified);
  EXPECT_EQ(read_verdict(head_with({{"If-None-Match", stale}}), entry, "j"), ReadVerdict::kServe);
  EXPECT_EQ(read_verdict(head_with({{"If-None-Match", stale}, {"If-None-Match", tag}}), entry, "j"),
            ReadVerdict::kNotModified)
      << "a list split over two fields";
  EXPECT_EQ(read_verdict(head_with({{"If-Modified-Since", later}}), entry, "j"), ReadVerdict::kNotModified);
  EXPECT_EQ(read_verdict(head_with({{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}), entry, "j"),
            ReadVerdict::kNotModified);
  EXPECT_EQ(read_verdict(head_with({{"If-Modified-Since", earlier}}), entry, "j"), ReadVerdict::kServe);
  EXPECT_EQ(read_verdict(head_with({{"If-Modified-Since", "not a date"}}), entry, "j"), ReadVerdict::kServe);
  EXPECT_EQ(read_verdict(head_with({{"If-None-Match", stale}, {"If-Modified-Since", later}}), entry, "j"),
            ReadVerdict::kServe)
      << "If-None-Match present: If-Modified-Since is not looked at";
  EXPECT_EQ(read_verdict(head_with({{"If-Match", stale}}), entry, "j"), ReadVerdict::kPreconditionFailed);
  EXPECT_EQ(read_verdict(head_with({{"If-Match", tag}}), entry, "j"), ReadVerdict::kServe);
}

TEST(WritePreconditionFields, NameSeqsOfThisJournalOnly) {
  journal::WritePrecondition p;
  std::string problem;
  auto h = head_with({{"If-Match", journal::entity_tag("j", 4) + ", " + journal::entity_tag("other", 5) + ", W/" +
                                       journal::entity_tag("j", 6)}});
  ASSERT_TRUE(write_precondition(h, "j", &p, &problem));
  EXPECT_TRUE(p.if_match);
  EXPECT_EQ(p.if_match_seqs, std::vector<uint64_t>{4}) << "another journal's tag and a weak tag name nothing";
  ASSERT_TRUE(write_precondition(head_with({{"If-None-Match", "*"}}), "j", &p, &problem));
  EXPECT_TRUE(p.if_none_match && p.if_none_match_any && !p.if_match);
  EXPECT_FALSE(write_precondition(head_with({{"If-Match", "not-quoted"}}), "j", &p, &problem));
  EXPECT_NE(problem.find("If-Match"), std::string::npos);
}

TEST(Digests, Sha256OfAbcIsTheKnownVector) {
  Digest d(DigestAlgorithm::kSha256);
  d.update("abc", 3);
  EXPECT_EQ(digest_field_value(DigestAlgorithm::kSha256, d.finish()),
            "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:");
  Digest md5(DigestAlgorithm::kMd5);
  md5.update("abc", 3);
  EXPECT_EQ(base64_encode(md5.finish()), "kAFQmDzST7DWlj99KOF/cg==");
}

TEST(Digests, Base64DecodeIsStrict) {
  EXPECT_EQ(base64_decode("YWJj"), "abc");
  EXPECT_EQ(base64_decode("YWI="), "ab");
  EXPECT_EQ(base64_decode("YQ=="), "a");
  for (const char* bad : {"YWJ", "Y=Jj", "YW J", "YQ==YQ==", "YW*j"}) EXPECT_FALSE(base64_decode(bad)) << bad;
}

TEST(Digests, ContentDigestParsesKnownAlgorithmsIgnoresUnknownAndRefusesMalformed) {
  std::vector<ExpectedDigest> out;
  std::string problem;
  std::string sha256 = ":ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:";
  ASSERT_TRUE(expected_digests(head_with({{"Content-Digest", "unixsum=:AAA=:, sha-256=" + sha256}}), &out, &problem));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].algorithm, DigestAlgorithm::kSha256);
  ASSERT_TRUE(expected_digests(head_with({{"Content-Digest", "md5=:kAFQmDzST7DWlj99KOF/cg==:"}}), &out, &problem));
  EXPECT_TRUE(out.empty()) << "md5 in Content-Digest is not an algorithm of RFC 9530's registry we verify";
  for (const char* bad : {"sha-256=ungWv48B", "sha-256=:YWJj:", "sha-256", "SHA-256=:x:", "sha-256=:!!!!:"})
    EXPECT_FALSE(expected_digests(head_with({{"Content-Digest", bad}}), &out, &problem)) << bad;
  ASSERT_TRUE(expected_digests(head_with({{"Content-MD5", "kAFQmDzST7DWlj99KOF/cg=="}}), &out, &problem));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(expected_digests(head_with({{"Content-MD5", "YWJj"}}), &out, &problem));
}

TEST(Digests, BodyVerifierNamesTheFieldThatDoesNotMatch) {
  std::vector<ExpectedDigest> expected;
  std::string problem;
  ASSERT_TRUE(expected_digests(head_with({{"Content-Digest", "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:"},
                                          {"Content-MD5", "kAFQmDzST7DWlj99KOF/cg=="}}),
                               &expected, &problem));
  BodyVerifier good(expected);
  good.update("a", 1);
  good.update("bc", 2);
  EXPECT_EQ(good.mismatch(), "");
  BodyVerifier bad(expected);
  bad.update("abd", 3);
  EXPECT_EQ(bad.mismatch(), "Content-Digest sha-256");
}

TEST(Digests, WantContentDigestPicksTheMostPreferredKnownAlgorithm) {
  EXPECT_EQ(wanted_digest("sha-256=1"), DigestAlgorithm::kSha256);
  EXPECT_EQ(wanted_digest("sha-256=3, sha-512=10"), DigestAlgorithm::kSha512);
  EXPECT_EQ(wanted_digest("sha-512=0, sha-256=2"), DigestAlgorithm::kSha256);
  EXPECT_FALSE(wanted_digest("unixsum=10"));
  EXPECT_FALSE(wanted_digest("sha-256=0"));
  EXPECT_FALSE(wanted_digest("garbage"));
}

}  // namespace
}  // namespace fsr::router
