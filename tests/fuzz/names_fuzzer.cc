// Names as the router reads them (common/names.h), fed arbitrary request
// targets. Beyond "no crash", the properties the router relies on:
// - raw_name_from_target takes exactly the segment after the API prefix, up
//   to the query or fragment;
// - percent_decode never grows its input, leaves text without '%' as it is,
//   and percent_encode of what it decoded decodes back to the same bytes;
// - a name that name_problem accepts is 1..255 bytes with no '/', NUL or
//   control byte and not "." or "..", and the backend path made from it
//   leads back to the same name through the same decoding (what the router
//   sends is what it was asked for).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/names.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool is_unreserved_or_escape(std::string_view encoded) {
  for (size_t i = 0; i < encoded.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(encoded[i]);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) continue;
    if (c != '%' || i + 2 >= encoded.size() || !std::isxdigit(static_cast<unsigned char>(encoded[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(encoded[i + 2])))
      return false;
    i += 2;
  }
  return true;
}

void check_decoding(std::string_view raw) {
  auto decoded = fsr::percent_decode(raw);
  if (raw.find('%') == std::string_view::npos) {
    FSR_FUZZ_CHECK(decoded && *decoded == raw);
  }
  if (!decoded) return;
  FSR_FUZZ_CHECK(decoded->size() <= raw.size());
  std::string encoded = fsr::percent_encode(*decoded);
  FSR_FUZZ_CHECK(is_unreserved_or_escape(encoded));
  auto again = fsr::percent_decode(encoded);
  FSR_FUZZ_CHECK(again && *again == *decoded);

  std::string problem = fsr::name_problem(*decoded);
  if (!problem.empty()) return;
  const std::string& name = *decoded;
  FSR_FUZZ_CHECK(!name.empty() && name.size() <= fsr::kMaxNameBytes);
  FSR_FUZZ_CHECK(name != "." && name != "..");
  for (unsigned char c : name) FSR_FUZZ_CHECK(c != '/' && c >= 0x20 && c != 0x7f);

  std::string path = fsr::backend_path(name);
  auto raw_again = fsr::raw_name_from_target(path);
  FSR_FUZZ_CHECK(raw_again && *raw_again == encoded);
  auto name_again = fsr::percent_decode(*raw_again);
  FSR_FUZZ_CHECK(name_again && *name_again == name && fsr::name_problem(*name_again).empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view target(reinterpret_cast<const char*>(data), size);

  auto raw = fsr::raw_name_from_target(target);
  bool has_prefix = target.substr(0, fsr::kApiPrefix.size()) == fsr::kApiPrefix;
  FSR_FUZZ_CHECK(raw.has_value() == has_prefix);
  if (raw) {
    std::string_view rest = target.substr(fsr::kApiPrefix.size());
    FSR_FUZZ_CHECK(rest.substr(0, raw->size()) == *raw);
    FSR_FUZZ_CHECK(raw->find('?') == std::string_view::npos && raw->find('#') == std::string_view::npos);
    // It stops only at the query or fragment (or the end).
    FSR_FUZZ_CHECK(raw->size() == rest.size() || rest[raw->size()] == '?' || rest[raw->size()] == '#');
    check_decoding(*raw);
  }
  // Any bytes as a name segment, not only those behind the prefix.
  check_decoding(target);
  // Any bytes as a decoded name: encoding then decoding gives them back.
  auto round_trip = fsr::percent_decode(fsr::percent_encode(target));
  FSR_FUZZ_CHECK(round_trip && *round_trip == target);
  return 0;
}
