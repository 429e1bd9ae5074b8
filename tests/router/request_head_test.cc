// The request-head checks and Range parsing of the client-facing server
// (router/http/request_head.h), without a socket.
#include "router/http/request_head.h"

#include <gtest/gtest.h>

namespace fsr::router::http {
namespace {

RequestHead head_with(std::vector<std::pair<std::string, std::string>> fields) {
  RequestHead head;
  head.method = "PUT";
  head.target = "/api/fileserver/x";
  head.fields = std::move(fields);
  return head;
}

unsigned verdict(std::vector<std::pair<std::string, std::string>> fields, uint64_t max_body = 1000) {
  return check_request_head(head_with(std::move(fields)), HeadLimits{100, max_body}).status;
}

TEST(RequestHead, PlainLengthOrChunkedIsAccepted) {
  EXPECT_EQ(verdict({{"Content-Length", "10"}}), 0u);
  EXPECT_EQ(verdict({{"Transfer-Encoding", "Chunked"}}), 0u);
  EXPECT_EQ(verdict({{"Content-Length", "1000"}}), 0u);
  EXPECT_EQ(verdict({}), 0u);
}

TEST(RequestHead, AmbiguousFramingIs400) {
  EXPECT_EQ(verdict({{"Content-Length", "4"}, {"Transfer-Encoding", "chunked"}}), 400u);
  EXPECT_EQ(verdict({{"Content-Length", "4"}, {"content-length", "4"}}), 400u);
  EXPECT_EQ(verdict({{"Content-Length", "4x"}}), 400u);
  EXPECT_EQ(verdict({{"Content-Length", "-1"}}), 400u);
  EXPECT_EQ(verdict({{"Content-Length", ""}}), 400u);
  EXPECT_EQ(verdict({{"Content-Length", "99999999999999999999999"}}), 400u);
  EXPECT_EQ(verdict({{"Transfer-Encoding", "gzip, chunked"}}), 400u);
  EXPECT_EQ(verdict({{"Transfer-Encoding", "identity"}}), 400u);
  EXPECT_EQ(verdict({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}), 400u);
}

TEST(RequestHead, BodyOverTheLimitIs413) { EXPECT_EQ(verdict({{"Content-Length", "1001"}}), 413u); }

TEST(RequestHead, ContentEncodingOnABodyIs415ButNotWithoutOne) {
  EXPECT_EQ(verdict({{"Content-Length", "4"}, {"Content-Encoding", "gzip"}}), 415u);
  EXPECT_EQ(verdict({{"Transfer-Encoding", "chunked"}, {"Content-Encoding", "br"}}), 415u);
  EXPECT_EQ(verdict({{"Content-Length", "4"}, {"Content-Encoding", "identity"}}), 0u);
  EXPECT_EQ(verdict({{"Content-Encoding", "gzip"}}), 0u);
  // Every field counts, not the last one: gzip then identity is still gzip.
  EXPECT_EQ(verdict({{"Content-Length", "4"}, {"Content-Encoding", "gzip"}, {"Content-Encoding", "identity"}}), 415u);
  EXPECT_EQ(verdict({{"Content-Length", "4"}, {"Content-Encoding", "identity"}, {"Content-Encoding", "identity"}}), 0u);
}

TEST(RequestHead, MoreThanTheFieldLimitIs431) {
  std::vector<std::pair<std::string, std::string>> fields(100, {"X-A", "b"});
  EXPECT_EQ(verdict(fields), 0u);
  fields.emplace_back("X-A", "b");
  EXPECT_EQ(verdict(fields), 431u);
}

TEST(Range, SingleRangesAreClampedToTheBody) {
  ByteRange r;
  ASSERT_EQ(parse_range("bytes=10-19", 100, &r), RangeKind::kSingle);
  EXPECT_EQ(r.first, 10u);
  EXPECT_EQ(r.length, 10u);
  ASSERT_EQ(parse_range("bytes=90-", 100, &r), RangeKind::kSingle);
  EXPECT_EQ(r.length, 10u);
  ASSERT_EQ(parse_range("bytes=90-500", 100, &r), RangeKind::kSingle);
  EXPECT_EQ(r.length, 10u);
  ASSERT_EQ(parse_range("bytes=-500", 100, &r), RangeKind::kSingle);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.length, 100u);
}

TEST(Range, PastTheEndIsUnsatisfiable) {
  ByteRange r;
  EXPECT_EQ(parse_range("bytes=100-", 100, &r), RangeKind::kUnsatisfiable);
  EXPECT_EQ(parse_range("bytes=-0", 100, &r), RangeKind::kUnsatisfiable);
  EXPECT_EQ(parse_range("bytes=0-", 0, &r), RangeKind::kUnsatisfiable);
}

TEST(Range, SeveralOrMalformedRangesGetTheWholeBody) {
  ByteRange r;
  EXPECT_EQ(parse_range("bytes=0-1,5-6", 100, &r), RangeKind::kWhole);
  EXPECT_EQ(parse_range("bytes=5-1", 100, &r), RangeKind::kWhole);
  EXPECT_EQ(parse_range("items=0-1", 100, &r), RangeKind::kWhole);
  EXPECT_EQ(parse_range("bytes=a-b", 100, &r), RangeKind::kWhole);
  EXPECT_EQ(parse_range("bytes=", 100, &r), RangeKind::kWhole);
}

}  // namespace
}  // namespace fsr::router::http
