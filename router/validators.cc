#include "router/validators.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "common/text.h"
#include "journal/entity_tag.h"

namespace fsr::router {
namespace {

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t comma = s.find(',');
    parts.push_back(trim(s.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return parts;
}

// Weak comparison (RFC 9110 section 8.8.3.2): the opaque parts are equal.
std::string_view opaque(std::string_view tag) { return tag.rfind("W/", 0) == 0 ? tag.substr(2) : tag; }

bool sf_key(std::string_view key) {
  if (key.empty() || !(std::islower(static_cast<unsigned char>(key[0])) || key[0] == '*')) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
           c == '-' || c == '.' || c == '*';
  });
}

std::optional<DigestAlgorithm> known_algorithm(std::string_view key) {
  if (key == "sha-256") return DigestAlgorithm::kSha256;
  if (key == "sha-512") return DigestAlgorithm::kSha512;
  return std::nullopt;
}

size_t digest_size(DigestAlgorithm a) {
  switch (a) {
    case DigestAlgorithm::kSha256: return 32;
    case DigestAlgorithm::kSha512: return 64;
    case DigestAlgorithm::kMd5: return 16;
  }
  return 0;
}

}  // namespace

std::string http_date(int64_t unix_s) {
  time_t t = static_cast<time_t>(unix_s);
  struct tm tm;
  gmtime_r(&t, &tm);
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::optional<int64_t> parse_http_date(std::string_view text) {
  std::string s(trim(text));
  // IMF-fixdate, the obsolete RFC 850 form and asctime's (RFC 9110 section 5.6.7).
  for (const char* format : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
    struct tm tm {};
    const char* end = strptime(s.c_str(), format, &tm);
    if (end && *end == '\0') return static_cast<int64_t>(timegm(&tm));
  }
  return std::nullopt;
}

std::optional<TagList> parse_tag_list(std::string_view field) {
  TagList list;
  std::string_view s = trim(field);
  if (s == "*") {
    list.any = true;
    return list;
  }
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == ',') {
      ++i;
      continue;
    }
    size_t start = i;
    if (s.compare(i, 2, "W/") == 0) i += 2;
    if (i >= s.size() || s[i] != '"') return std::nullopt;
    size_t close = s.find('"', i + 1);
    if (close == std::string_view::npos) return std::nullopt;
    for (size_t k = i + 1; k < close; ++k) {
      unsigned char e = static_cast<unsigned char>(s[k]);
      if (e < 0x21 || e == 0x7f) return std::nullopt;  // etagc: no controls, no spaces
    }
    list.tags.emplace_back(s.substr(start, close + 1 - start));
    i = close + 1;
    if (i < s.size() && s[i] != ',' && s[i] != ' ' && s[i] != '\t') return std::nullopt;
  }
  if (list.tags.empty()) return std::nullopt;
  return list;
}

std::optional<std::string> joined_field(const http::RequestHead& head, std::string_view name) {
  std::optional<std::string> joined;
  for (const auto& [field, value] : head.fields) {
    if (field.size() != name.size() || strncasecmp(field.data(), name.data(), name.size()) != 0) continue;
    if (joined) *joined += ", ";
    else joined.emplace();
    *joined += value;
  }
  return joined;
}

bool write_precondition(const http::RequestHead& head, std::string_view journal_id, journal::WritePrecondition* out,
                        std::string* problem) {
  *out = {};
  // One field into (sent, any, seqs). If-Match compares strongly (a weak
  // tag names nothing: entity_tag_seq refuses it), If-None-Match weakly.
  auto read = [&](const char* name, bool weak, bool* sent, bool* any, std::vector<uint64_t>* seqs) {
    auto field = joined_field(head, name);
    if (!field) return true;
    auto list = parse_tag_list(*field);
    if (!list) {
      *problem = std::string("malformed ") + name + ": expected * or a list of quoted entity tags";
      return false;
    }
    *sent = true;
    *any = list->any;
    for (const auto& tag : list->tags)
      if (auto seq = journal::entity_tag_seq(weak ? opaque(tag) : tag, journal_id)) seqs->push_back(*seq);
    return true;
  };
  return read("If-Match", false, &out->if_match, &out->if_match_any, &out->if_match_seqs) &&
         read("If-None-Match", true, &out->if_none_match, &out->if_none_match_any, &out->if_none_match_seqs);
}

ReadVerdict read_verdict(const http::RequestHead& head, const journal::IndexEntry& entry, std::string_view journal_id) {
  std::string current = journal::entity_tag(journal_id, entry.seq);
  if (auto field = joined_field(head, "If-Match")) {
    auto list = parse_tag_list(*field);
    bool match = list && (list->any || std::find(list->tags.begin(), list->tags.end(), current) != list->tags.end());
    if (!match) return ReadVerdict::kPreconditionFailed;
  }
  if (auto field = joined_field(head, "If-None-Match")) {
    // It takes precedence: If-Modified-Since is then not looked at.
    auto list = parse_tag_list(*field);
    if (!list) return ReadVerdict::kServe;
    if (list->any) return ReadVerdict::kNotModified;
    for (const auto& tag : list->tags)
      if (opaque(tag) == current) return ReadVerdict::kNotModified;
    return ReadVerdict::kServe;
  }
  if (const std::string* field = head.field("If-Modified-Since")) {
    auto since = parse_http_date(*field);
    if (since && entry.time_ms / 1000 <= *since) return ReadVerdict::kNotModified;
  }
  return ReadVerdict::kServe;
}

void add_validators(http::Response& res, const journal::IndexEntry& entry, std::string_view journal_id) {
  res.set_header("ETag", journal::entity_tag(journal_id, entry.seq));
  res.set_header("Last-Modified", http_date(entry.time_ms / 1000));
}

const char* digest_name(DigestAlgorithm algorithm) {
  switch (algorithm) {
    case DigestAlgorithm::kSha256: return "sha-256";
    case DigestAlgorithm::kSha512: return "sha-512";
    case DigestAlgorithm::kMd5: return "md5";
  }
  return "?";
}

Digest::Digest(DigestAlgorithm algorithm) : ctx_(EVP_MD_CTX_new()) {
  const EVP_MD* md = algorithm == DigestAlgorithm::kSha256   ? EVP_sha256()
                     : algorithm == DigestAlgorithm::kSha512 ? EVP_sha512()
                                                             : EVP_md5();
  if (!ctx_ || EVP_DigestInit_ex(ctx_, md, nullptr) != 1) throw std::runtime_error("EVP_DigestInit_ex failed");
}

Digest::~Digest() { EVP_MD_CTX_free(ctx_); }

void Digest::update(const char* data, size_t n) { EVP_DigestUpdate(ctx_, data, n); }

std::string Digest::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx_, out, &size);
  return std::string(reinterpret_cast<char*>(out), size);
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '=') {
      if (i + 2 < text.size()) return std::nullopt;
      ++padding;
    } else if (padding > 0 || !(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) {
      return std::nullopt;
    }
  }
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) < padding) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

bool expected_digests(const http::RequestHead& head, std::vector<ExpectedDigest>* out, std::string* problem) {
  out->clear();
  if (auto field = joined_field(head, "Content-Digest")) {
    for (std::string_view member : split_commas(*field)) {
      size_t eq = member.find('=');
      std::string_view key = trim(member.substr(0, eq));
      std::string_view value = eq == std::string_view::npos ? std::string_view() : trim(member.substr(eq + 1));
      if (size_t semi = value.find(';'); semi != std::string_view::npos) value = trim(value.substr(0, semi));
      if (!sf_key(key) || value.empty()) {
        *problem = "malformed Content-Digest: expected sha-256=:<base64>: (RFC 9530)";
        return false;
      }
      auto algorithm = known_algorithm(key);
      if (!algorithm) continue;  // RFC 9530: an algorithm the recipient does not support is ignored
      std::optional<std::string> bytes;
      if (value.size() >= 2 && value.front() == ':' && value.back() == ':')
        bytes = base64_decode(value.substr(1, value.size() - 2));
      if (!bytes || bytes->size() != digest_size(*algorithm)) {
        *problem = "malformed Content-Digest: " + std::string(key) + " must be :<base64 of " +
                   std::to_string(digest_size(*algorithm)) + " bytes>:";
        return false;
      }
      out->push_back({*algorithm, std::move(*bytes), "Content-Digest " + std::string(key)});
    }
  }
  if (const std::string* field = head.field("Content-MD5")) {
    auto bytes = base64_decode(trim(*field));
    if (!bytes || bytes->size() != 16) {
      *problem = "malformed Content-MD5: expected the base64 of 16 bytes";
      return false;
    }
    out->push_back({DigestAlgorithm::kMd5, std::move(*bytes), "Content-MD5"});
  }
  return true;
}

BodyVerifier::BodyVerifier(std::vector<ExpectedDigest> expected) : expected_(std::move(expected)) {
  for (const auto& e : expected_) digests_.push_back(std::make_unique<Digest>(e.algorithm));
}

void BodyVerifier::update(const char* data, size_t n) {
  for (auto& d : digests_) d->update(data, n);
}

std::string BodyVerifier::mismatch() {
  std::string bad;
  for (size_t i = 0; i < expected_.size(); ++i)
    if (digests_[i]->finish() != expected_[i].bytes && bad.empty()) bad = expected_[i].field;
  return bad;
}

std::optional<DigestAlgorithm> wanted_digest(std::string_view field) {
  std::optional<DigestAlgorithm> best;
  int best_weight = 0;
  for (std::string_view member : split_commas(field)) {
    size_t eq = member.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = trim(member.substr(0, eq));
    std::string_view value = trim(member.substr(eq + 1));
    int weight = -1;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), weight);
    if (ec != std::errc() || end != value.data() + value.size() || weight < 0 || weight > 10) continue;
    auto algorithm = known_algorithm(key);
    if (algorithm && weight > best_weight) {
      best = algorithm;
      best_weight = weight;
    }
  }
  return best;
}

std::string digest_field_value(DigestAlgorithm algorithm, std::string_view raw) {
  return std::string(digest_name(algorithm)) + "=:" + base64_encode(raw) + ":";
}

}  // namespace fsr::router
