#include "router/http/request_head.h"

#include <algorithm>
#include <optional>

#include "common/text.h"

namespace fsr::router::http {
namespace {

// A plain decimal number that fits in 64 bits; nullopt otherwise.
std::optional<uint64_t> decimal(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

HeadVerdict refuse(unsigned status, std::string reason) { return HeadVerdict{status, std::move(reason)}; }

}  // namespace

HeadVerdict check_request_head(const RequestHead& head, const HeadLimits& limits) {
  if (head.fields.size() > limits.max_header_fields)
    return refuse(431, "more than " + std::to_string(limits.max_header_fields) + " header fields");
  int content_lengths = 0;
  int transfer_encodings = 0;
  std::optional<uint64_t> length;
  bool encoded = false;  // a Content-Encoding field other than identity, any of them
  for (const auto& [name, value] : head.fields) {
    if (iequals(name, "Content-Length")) {
      ++content_lengths;
      length = decimal(trim(value));
      if (!length) return refuse(400, "Content-Length is not a number");
    } else if (iequals(name, "Transfer-Encoding")) {
      ++transfer_encodings;
      if (!iequals(trim(value), "chunked")) return refuse(400, "the only transfer coding accepted is chunked");
    } else if (iequals(name, "Content-Encoding")) {
      encoded |= !iequals(trim(value), "identity");
    }
  }
  if (content_lengths > 1) return refuse(400, "more than one Content-Length");
  if (transfer_encodings > 1) return refuse(400, "more than one Transfer-Encoding");
  if (content_lengths > 0 && transfer_encodings > 0)
    return refuse(400, "both Content-Length and Transfer-Encoding");
  if (length && *length > limits.max_body_bytes)
    return refuse(413, "body larger than " + std::to_string(limits.max_body_bytes) + " bytes");
  bool has_body = transfer_encodings > 0 || (length && *length > 0);
  if (has_body && encoded)
    return refuse(415, "Content-Encoding is not accepted on request bodies; send the bytes as they are to be stored");
  return {};
}

RangeKind parse_range(std::string_view header, uint64_t size, ByteRange* range) {
  header = trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size() || !iequals(header.substr(0, kUnit.size()), kUnit)) return RangeKind::kWhole;
  std::string_view spec = trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return RangeKind::kWhole;  // several ranges: the whole body
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeKind::kWhole;
  std::string_view first_text = trim(spec.substr(0, dash));
  std::string_view last_text = trim(spec.substr(dash + 1));
  if (first_text.empty()) {
    // A suffix: the last n bytes.
    auto n = decimal(last_text);
    if (!n) return RangeKind::kWhole;
    if (*n == 0 || size == 0) return RangeKind::kUnsatisfiable;
    uint64_t len = std::min(*n, size);
    *range = ByteRange{size - len, len};
    return RangeKind::kSingle;
  }
  auto first = decimal(first_text);
  if (!first) return RangeKind::kWhole;
  uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    auto l = decimal(last_text);
    if (!l || *l < *first) return RangeKind::kWhole;  // malformed: ignored
    last = std::min(*l, last);
  }
  if (*first >= size) return RangeKind::kUnsatisfiable;
  *range = ByteRange{*first, last - *first + 1};
  return RangeKind::kSingle;
}

}  // namespace fsr::router::http
