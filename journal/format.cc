#include "journal/format.h"

#include <nlohmann/json.hpp>

namespace fsr::journal {

const std::vector<std::string>& column_family_names() {
  static const std::vector<std::string> names = {"default", "records", "index", "applied", "bodies"};
  return names;
}

std::string backend_state_key(std::string_view address) { return std::string(kMetaBackendPrefix).append(address); }

std::optional<std::string> backend_address_of_key(std::string_view key) {
  std::string_view prefix = kMetaBackendPrefix;
  if (key.substr(0, prefix.size()) != prefix) return std::nullopt;
  return std::string(key.substr(prefix.size()));
}

std::string suspect_key(std::string_view address, std::string_view name) {
  return std::string(kMetaSuspectPrefix).append(address).append("/").append(name);
}

std::optional<std::pair<std::string, std::string>> suspect_of_key(std::string_view key) {
  std::string_view prefix = kMetaSuspectPrefix;
  if (key.substr(0, prefix.size()) != prefix) return std::nullopt;
  key.remove_prefix(prefix.size());
  size_t slash = key.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == key.size()) return std::nullopt;
  return std::make_pair(std::string(key.substr(0, slash)), std::string(key.substr(slash + 1)));
}

std::string pending_key(uint64_t seq) { return std::string(kMetaPendingPrefix).append(encode_seq_key(seq)); }

std::optional<uint64_t> seq_of_pending_key(std::string_view key) {
  std::string_view prefix = kMetaPendingPrefix;
  if (key.size() != prefix.size() + 8 || key.substr(0, prefix.size()) != prefix) return std::nullopt;
  return decode_seq_key(key.substr(prefix.size()));
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

std::string encode_seq_key(uint64_t seq) {
  std::string k(8, '\0');
  for (int i = 0; i < 8; ++i) k[i] = static_cast<char>((seq >> (8 * (7 - i))) & 0xff);
  return k;
}

uint64_t decode_seq_key(std::string_view key) {
  if (key.size() < 8) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(key[i]);
  return v;
}

std::string format_version_text() { return std::to_string(kFormatVersion); }

FormatVersionCheck check_format_version(std::string_view stored) {
  FormatVersionCheck out;
  if (stored.empty() || stored.size() > 19) return out;
  for (char c : stored) {
    if (c < '0' || c > '9') return out;
    out.version = out.version * 10 + static_cast<uint64_t>(c - '0');
  }
  out.verdict = out.version > kFormatVersion ? FormatVersionCheck::Verdict::kNewer
                                             : FormatVersionCheck::Verdict::kReadable;
  return out;
}

std::string encode_backend_state(const BackendState& state) {
  nlohmann::ordered_json j;
  j["role"] = state.role;
  if (state.healthy) j["healthy"] = *state.healthy;
  j["watermark"] = state.watermark;
  return j.dump();
}

std::optional<BackendState> decode_backend_state(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  BackendState state;
  if (auto it = j.find("role"); it != j.end() && it->is_string()) state.role = it->get<std::string>();
  if (auto it = j.find("healthy"); it != j.end() && it->is_boolean()) state.healthy = it->get<bool>();
  if (auto it = j.find("watermark"); it != j.end() && it->is_number_unsigned()) state.watermark = it->get<uint64_t>();
  return state;
}

}  // namespace fsr::journal
