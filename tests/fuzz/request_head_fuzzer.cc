// The checks the router adds around Beast's parser (router/http/
// request_head.h: check_request_head, parse_range), fed arbitrary header
// fields. Input: one byte of field limit, eight bytes of body limit, eight
// of body size, then "name:value" lines. Beyond "no crash":
// - a refusal has one of the documented statuses (400, 413, 415, 431) and a
//   one-line reason; 431 exactly when there are more fields than the limit;
// - an accepted head has at most one Content-Length, a plain decimal one at
//   or under the body limit, at most one Transfer-Encoding (chunked), never
//   both, and no Content-Encoding other than identity on a body;
// - parse_range gives a single range only inside the body, and for a plain
//   "bytes=A-B" with A <= B it is exactly A..min(B, size-1).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "router/http/request_head.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using fsr::router::http::ByteRange;
using fsr::router::http::check_request_head;
using fsr::router::http::HeadLimits;
using fsr::router::http::HeadVerdict;
using fsr::router::http::parse_range;
using fsr::router::http::RangeKind;
using fsr::router::http::RequestHead;

uint64_t take_u64(const uint8_t*& data, size_t& size) {
  uint64_t v = 0;
  size_t n = size < 8 ? size : 8;
  std::memcpy(&v, data, n);
  data += n;
  size -= n;
  return v;
}

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool plain_decimal(std::string_view s, uint64_t* value) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *value = v;
  return true;
}

void check_head(const RequestHead& head, const HeadLimits& limits) {
  HeadVerdict verdict = check_request_head(head, limits);
  FSR_FUZZ_CHECK((verdict.status == 431) == (head.fields.size() > limits.max_header_fields));
  if (!verdict.accepted()) {
    FSR_FUZZ_CHECK(verdict.status == 400 || verdict.status == 413 || verdict.status == 415 || verdict.status == 431);
    FSR_FUZZ_CHECK(!verdict.reason.empty() && verdict.reason.find('\n') == std::string::npos);
    return;
  }
  int lengths = 0, codings = 0;
  uint64_t length = 0;
  bool encoded = false;
  for (const auto& [name, value] : head.fields) {
    if (same_name(name, "Content-Length")) {
      ++lengths;
      FSR_FUZZ_CHECK(plain_decimal(trim(value), &length));
      FSR_FUZZ_CHECK(length <= limits.max_body_bytes);
    } else if (same_name(name, "Transfer-Encoding")) {
      ++codings;
      FSR_FUZZ_CHECK(same_name(trim(value), "chunked"));
    } else if (same_name(name, "Content-Encoding")) {
      encoded = !same_name(trim(value), "identity");  // the last one counts
    }
  }
  FSR_FUZZ_CHECK(lengths <= 1 && codings <= 1 && !(lengths == 1 && codings == 1));
  bool has_body = codings == 1 || length > 0;
  FSR_FUZZ_CHECK(!(has_body && encoded));
}

void check_range(std::string_view header, uint64_t size) {
  const ByteRange untouched{12345, 67890};
  ByteRange range = untouched;
  RangeKind kind = parse_range(header, size, &range);
  if (kind != RangeKind::kSingle) {
    FSR_FUZZ_CHECK(range.first == untouched.first && range.length == untouched.length);
    return;
  }
  FSR_FUZZ_CHECK(range.length > 0 && range.first < size && range.length <= size - range.first);
  // "bytes=A-B", digits only: exactly that part, clipped at the end.
  constexpr std::string_view kUnit = "bytes=";
  if (header.substr(0, kUnit.size()) != kUnit) return;
  std::string_view spec = header.substr(kUnit.size());
  size_t dash = spec.find('-');
  uint64_t a = 0, b = 0;
  if (dash == std::string_view::npos || !plain_decimal(spec.substr(0, dash), &a) ||
      !plain_decimal(spec.substr(dash + 1), &b))
    return;
  FSR_FUZZ_CHECK(a <= b);
  FSR_FUZZ_CHECK(range.first == a);
  FSR_FUZZ_CHECK(range.first + range.length - 1 == (b < size - 1 ? b : size - 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  HeadLimits limits;
  limits.max_header_fields = data[0] % 16;
  ++data;
  --size;
  limits.max_body_bytes = take_u64(data, size);
  uint64_t body_size = take_u64(data, size) % (uint64_t{1} << 40);
  std::string_view text(reinterpret_cast<const char*>(data), size);

  RequestHead head;
  head.method = "PUT";
  head.target = "/api/fileserver/fuzz";
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      head.fields.emplace_back(std::string(line), "");
    } else {
      head.fields.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
    }
  }
  check_head(head, limits);
  for (const auto& [name, value] : head.fields) check_range(value, body_size);
  return 0;
}
