#include "common/names.h"

namespace fsr {
namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string percent_encode(std::string_view bytes) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 3);
  for (unsigned char c : bytes) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<std::string_view> raw_name_from_target(std::string_view target) {
  if (target.substr(0, kApiPrefix.size()) != kApiPrefix) return std::nullopt;
  std::string_view rest = target.substr(kApiPrefix.size());
  if (auto q = rest.find('?'); q != std::string_view::npos) rest = rest.substr(0, q);
  if (auto h = rest.find('#'); h != std::string_view::npos) rest = rest.substr(0, h);
  return rest;
}

std::string name_problem(std::string_view decoded) {
  if (decoded.empty()) return "empty file name";
  if (decoded == "." || decoded == "..") return "file name may not be '.' or '..'";
  if (decoded.size() > kMaxNameBytes) return "file name longer than 255 bytes";
  for (unsigned char c : decoded) {
    if (c == '/') return "file name may not contain '/'";
    if (c == 0) return "file name may not contain NUL";
    if (c < 0x20 || c == 0x7f) return "file name may not contain control characters";
  }
  return "";
}

std::string backend_path(std::string_view decoded) { return std::string(kApiPrefix) + percent_encode(decoded); }

}  // namespace fsr
