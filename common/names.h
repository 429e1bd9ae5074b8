// File names as clients and backends see them: the one place that decodes,
// validates and encodes `{name}` of `/api/fileserver/{name}`.
//
// A name arrives percent-encoded in the request target. It is decoded
// exactly once (cpp-httplib's own decoding, which also accepts `%uXXXX`, is
// never used for names) and then validated. To a backend it is sent
// re-encoded so the backend decodes it to the same bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fsr {

inline constexpr std::string_view kApiPrefix = "/api/fileserver/";
inline constexpr size_t kMaxNameBytes = 255;

// Decodes %XX escapes once ('+' stays '+'). nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text);

// Encodes every byte outside RFC 3986's unreserved set.
std::string percent_encode(std::string_view bytes);

// The raw (still encoded) name segment of a request target such as
// "/api/fileserver/a%20b?x=1"; nullopt when the target is not under the API
// prefix. The query string is dropped.
std::optional<std::string_view> raw_name_from_target(std::string_view target);

// Why a decoded name is refused, or empty when it is acceptable:
// empty, "." or "..", contains '/', NUL or another control byte, or is longer
// than 255 bytes. Reserved names are checked by their owner, not here.
std::string name_problem(std::string_view decoded);

// Names the router keeps for itself on the volume (its marker file): never
// a client's, never part of the journal's comparison with the volume.
inline constexpr const char* kReservedNamePrefix = ".fsrouter";

// The backend URL path for a decoded name.
std::string backend_path(std::string_view decoded);

}  // namespace fsr
