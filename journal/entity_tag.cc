#include "journal/entity_tag.h"

#include <charconv>

namespace fsr::journal {

std::string entity_tag(std::string_view journal_id, uint64_t seq) {
  std::string tag = "\"";
  tag += journal_id;
  tag += '-';
  tag += std::to_string(seq);
  tag += '"';
  return tag;
}

std::optional<uint64_t> entity_tag_seq(std::string_view tag, std::string_view journal_id) {
  if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"') return std::nullopt;
  tag = tag.substr(1, tag.size() - 2);
  if (tag.size() <= journal_id.size() + 1 || tag.substr(0, journal_id.size()) != journal_id ||
      tag[journal_id.size()] != '-')
    return std::nullopt;
  std::string_view digits = tag.substr(journal_id.size() + 1);
  if (digits.empty() || digits.size() > 20 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  uint64_t seq = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (ec != std::errc() || end != digits.data() + digits.size() || seq == 0) return std::nullopt;
  return seq;
}

}  // namespace fsr::journal
