#include "common/names.h"

#include <gtest/gtest.h>

namespace fsr {
namespace {

TEST(PercentDecode, DecodesEachEscapeExactlyOnce) {
  EXPECT_EQ(percent_decode("a%20b").value(), "a b");
  EXPECT_EQ(percent_decode("%2541").value(), "%41");
  EXPECT_EQ(percent_decode("a+b").value(), "a+b");
  EXPECT_EQ(percent_decode("%e2%82%ac").value(), "\xe2\x82\xac");
}

TEST(PercentDecode, RejectsMalformedEscapes) {
  EXPECT_FALSE(percent_decode("%").has_value());
  EXPECT_FALSE(percent_decode("%4").has_value());
  EXPECT_FALSE(percent_decode("%zz").has_value());
  EXPECT_FALSE(percent_decode("%u0041").has_value());
}

TEST(PercentEncode, RoundTripsEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(percent_decode(percent_encode(all)).value(), all);
  EXPECT_EQ(percent_encode("a b/%?#"), "a%20b%2F%25%3F%23");
}

TEST(RawNameFromTarget, DropsQueryAndRequiresPrefix) {
  EXPECT_EQ(raw_name_from_target("/api/fileserver/abc?x=1").value(), "abc");
  EXPECT_EQ(raw_name_from_target("/api/fileserver/").value(), "");
  EXPECT_FALSE(raw_name_from_target("/api/other/abc").has_value());
}

struct NameCase {
  std::string name;
  bool ok;
};

TEST(NameProblem, TableOfAcceptedAndRefusedNames) {
  const NameCase cases[] = {
      {"abc", true},          {"a b", true},           {"\xc3\xa9t\xc3\xa9", true},
      {std::string(255, 'x'), true}, {"...", true},     {".hidden", true},
      {"", false},            {".", false},            {"..", false},
      {"a/b", false},         {std::string("a\0b", 3), false}, {"a\nb", false},
      {"a\x7f", false},       {std::string(256, 'x'), false},
  };
  for (const auto& c : cases) EXPECT_EQ(name_problem(c.name).empty(), c.ok) << "name: " << c.name;
}

TEST(BackendPath, EncodesSoTheBackendDecodesTheSameBytes) {
  EXPECT_EQ(backend_path("a b"), "/api/fileserver/a%20b");
  EXPECT_EQ(percent_decode(raw_name_from_target(backend_path("x?y#z%")).value()).value(), "x?y#z%");
}

}  // namespace
}  // namespace fsr
