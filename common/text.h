// Small text helpers for HTTP header handling, shared by the router and the
// load generators: trimming and ASCII case-insensitive comparison.
#pragma once

#include <string_view>

namespace fsr {

// RFC 9110's optional whitespace: space and horizontal tab.
inline constexpr std::string_view kOptionalWhitespace = " \t";

// s without the leading and trailing characters found in `chars` (by
// default RFC 9110's OWS; a client handed whole header lines, line end
// included, also passes "\r\n").
std::string_view trim(std::string_view s, std::string_view chars = kOptionalWhitespace);

// ASCII case-insensitive equality (header names, tokens such as "chunked");
// bytes outside ASCII compare exactly.
bool iequals(std::string_view a, std::string_view b);

}  // namespace fsr
