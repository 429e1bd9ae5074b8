// Validators and integrity fields of the API, as pure functions of a request
// head and a name's index entry, so they can be tested without a socket
// (docs/architecture.md, "Validators and verified uploads").
//
// - ETag: journal/entity_tag.h (the journal id and the name's latest seq);
//   Last-Modified: the commit time of that record (IndexEntry::time_ms).
// - GET and HEAD (RFC 9110 section 13.2.2 order): If-Match that fails: 412;
//   If-None-Match matching the current tag (or `*`): 304; only without
//   If-None-Match, If-Modified-Since at or after Last-Modified: 304.
// - PUT and DELETE: If-Match and If-None-Match become a
//   journal::WritePrecondition, evaluated by the committer thread.
// - Content-Digest (RFC 9530: sha-256, sha-512) and Content-MD5 (RFC 1864)
//   on a PUT are checked against the body as it streams. Algorithms we do
//   not know are ignored (RFC 9530 lets a recipient ignore them); a field
//   that does not parse is refused.
// - Want-Content-Digest / Want-Repr-Digest on GET or HEAD: the answer
//   carries Content-Digest / Repr-Digest of the most preferred algorithm we
//   know (sha-256 or sha-512).
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "journal/journal.h"
#include "router/http/exchange.h"

namespace fsr::router {

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") of a time in seconds since the epoch.
std::string http_date(int64_t unix_s);
// Any of the three HTTP-date forms; nullopt when it is none.
std::optional<int64_t> parse_http_date(std::string_view text);

// "*" or a list of entity tags (quotes kept, W/ kept for weak ones);
// nullopt when the field does not parse.
struct TagList {
  bool any = false;
  std::vector<std::string> tags;
};
std::optional<TagList> parse_tag_list(std::string_view field);

// Every field of that name, joined with ", " (a list may be split over
// several lines); nullopt when there is none.
std::optional<std::string> joined_field(const http::RequestHead& head, std::string_view name);

// If-Match and If-None-Match of a PUT or DELETE. False with *problem when
// one does not parse.
bool write_precondition(const http::RequestHead& head, std::string_view journal_id,
                        journal::WritePrecondition* out, std::string* problem);

enum class ReadVerdict { kServe, kNotModified, kPreconditionFailed };
// The conditions of a GET or HEAD against the name's current state
// (a present name: entry.op is PUT).
ReadVerdict read_verdict(const http::RequestHead& head, const journal::IndexEntry& entry,
                         std::string_view journal_id);

// ETag and Last-Modified of a present name.
void add_validators(http::Response& res, const journal::IndexEntry& entry, std::string_view journal_id);

enum class DigestAlgorithm { kSha256, kSha512, kMd5 };
const char* digest_name(DigestAlgorithm algorithm);  // "sha-256", "sha-512", "md5"

// One hash over a stream of bytes (OpenSSL EVP).
class Digest {
 public:
  explicit Digest(DigestAlgorithm algorithm);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void update(const char* data, size_t n);
  std::string finish();  // the raw digest; call once

 private:
  EVP_MD_CTX* ctx_;
};

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);  // strict: padded, no spaces

// A digest the client sent for the body, and the field it came in.
struct ExpectedDigest {
  DigestAlgorithm algorithm;
  std::string bytes;  // raw
  std::string field;  // "Content-Digest" or "Content-MD5"
};
// Content-Digest and Content-MD5 of a request. False with *problem when one
// is malformed; unknown Content-Digest algorithms are left out.
bool expected_digests(const http::RequestHead& head, std::vector<ExpectedDigest>* out, std::string* problem);

// Hashes a body as it streams and compares it with what the client sent.
class BodyVerifier {
 public:
  explicit BodyVerifier(std::vector<ExpectedDigest> expected);
  bool active() const { return !expected_.empty(); }
  void update(const char* data, size_t n);
  // Call once, after the last byte: "" when every digest matches, else
  // which one did not.
  std::string mismatch();

 private:
  std::vector<ExpectedDigest> expected_;
  std::vector<std::unique_ptr<Digest>> digests_;
};

// The algorithm a Want-Content-Digest (or Want-Repr-Digest) field prefers
// among those we know; nullopt when it names none of them or does not parse.
std::optional<DigestAlgorithm> wanted_digest(std::string_view field);
// "sha-256=:<base64>:"
std::string digest_field_value(DigestAlgorithm algorithm, std::string_view raw);

}  // namespace fsr::router
