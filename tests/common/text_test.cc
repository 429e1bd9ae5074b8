#include "common/text.h"

#include <gtest/gtest.h>

#include <string>

namespace fsr {
namespace {

TEST(Trim, RemovesOptionalWhitespaceAtBothEndsOnly) {
  EXPECT_EQ(trim("  chunked\t"), "chunked");
  EXPECT_EQ(trim("\t a b \t"), "a b");
  EXPECT_EQ(trim("plain"), "plain");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t \t"), "");
  // A line ending is not OWS: the router's parser never hands one over, and
  // a value that carries one must not be taken for a clean token.
  EXPECT_EQ(trim("close\r\n"), "close\r\n");
}

TEST(Trim, TakesTheCharactersToRemove) {
  EXPECT_EQ(trim(" 1024\r\n", " \t\r\n"), "1024");
  EXPECT_EQ(trim("\r\n", " \t\r\n"), "");
  EXPECT_EQ(trim("xxabxx", "x"), "ab");
}

TEST(Iequals, ComparesAsciiLettersWithoutCase) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("CHUNKED", "chunked"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("chunked", "chunke"));
  EXPECT_FALSE(iequals("chunked", "chunkeD "));
  EXPECT_FALSE(iequals("a", "b"));
}

TEST(Iequals, ComparesBytesOutsideAsciiExactly) {
  EXPECT_TRUE(iequals("\xc3\xa9", "\xc3\xa9"));
  // 0xC9 and 0xE9 are É and é in Latin-1: a locale-aware tolower could
  // take them for one letter; a header token never does.
  EXPECT_FALSE(iequals("\xc9", "\xe9"));
  EXPECT_FALSE(iequals("@", "`"));  // one apart from 'A' and 'a' in ASCII
  EXPECT_FALSE(iequals("[", "{"));
}

}  // namespace
}  // namespace fsr
