// The checks the router adds around Beast's HTTP/1.1 parser, as pure
// functions of a request head, so that they can be tested and fuzzed
// without a socket.
//
// check_request_head refuses, with the status and a one-line reason:
// - more than max_header_fields fields: 431;
// - a Content-Length that is duplicated or not a plain decimal number, a
//   Transfer-Encoding other than one `chunked`, or both Content-Length and
//   Transfer-Encoding (request smuggling material): 400;
// - a Content-Length above max_body_bytes: 413 (before any body is read);
// - a Content-Encoding other than identity on a request with a body: 415
//   (the router stores bodies as sent and never inflates one).
// parse_range reads a Range header against a body size: one satisfiable
// range, an unsatisfiable one, or none to honour (absent, malformed or
// several ranges: the whole body is sent with 200).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "router/http/exchange.h"

namespace fsr::router::http {

struct HeadLimits {
  size_t max_header_fields = 100;
  uint64_t max_body_bytes = UINT64_MAX;
};

struct HeadVerdict {
  unsigned status = 0;  // 0: accepted
  std::string reason;
  bool accepted() const { return status == 0; }
};

HeadVerdict check_request_head(const RequestHead& head, const HeadLimits& limits);

enum class RangeKind { kWhole, kSingle, kUnsatisfiable };

struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
};

RangeKind parse_range(std::string_view header, uint64_t size, ByteRange* range);

}  // namespace fsr::router::http
