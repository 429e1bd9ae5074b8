// Backend and listen addresses as operators write them (common/flags.h:
// split_list, split_host_port), fed arbitrary text. Beyond "no crash":
// - split_list's items are non-empty, trimmed, free of the separator, and
//   appear in the text in order;
// - an address split_host_port accepts has a port written in decimal digits
//   only, in range (0 only where allowed), and its host is the text before
//   the last ':' (brackets dropped, empty meaning 0.0.0.0).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/flags.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void check_list(const std::string& text, char separator) {
  std::vector<std::string> items = fsr::split_list(text, separator);
  size_t from = 0;
  for (const std::string& item : items) {
    FSR_FUZZ_CHECK(!item.empty());
    FSR_FUZZ_CHECK(item.find(separator) == std::string::npos);
    FSR_FUZZ_CHECK(item.front() != ' ' && item.front() != '\t' && item.back() != ' ' && item.back() != '\t');
    size_t at = text.find(item, from);
    FSR_FUZZ_CHECK(at != std::string::npos);
    from = at + item.size();
  }
}

void check_address(const std::string& text, bool allow_port_zero) {
  std::string host = "unset";
  int port = -1;
  if (!fsr::split_host_port(text, &host, &port, allow_port_zero)) return;
  size_t colon = text.rfind(':');
  FSR_FUZZ_CHECK(colon != std::string::npos);
  std::string port_text = text.substr(colon + 1);
  FSR_FUZZ_CHECK(!port_text.empty());
  long value = 0;
  for (char c : port_text) {
    FSR_FUZZ_CHECK(c >= '0' && c <= '9');
    value = value * 10 + (c - '0');
    FSR_FUZZ_CHECK(value <= 65535);
  }
  FSR_FUZZ_CHECK(port == value && (allow_port_zero ? port >= 0 : port >= 1));
  std::string before = text.substr(0, colon);
  if (before.size() >= 2 && before.front() == '[' && before.back() == ']') before = before.substr(1, before.size() - 2);
  FSR_FUZZ_CHECK(host == (before.empty() ? "0.0.0.0" : before));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  check_list(text, ',');
  for (const std::string& item : fsr::split_list(text, ',')) {
    check_address(item, false);
    check_address(item, true);
  }
  check_address(text, false);
  check_address(text, true);
  return 0;
}
