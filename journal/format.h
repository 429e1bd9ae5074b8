// The journal's on-disk schema, in one place: the column families, the meta
// keys, how keys and meta values are encoded, which format versions a program
// reads, and the two rules every reader must apply the same way (the applied
// mark's cap and the watermark). The router's Journal writes by it and
// fsjournal reads by it. Record and index values are encoded in record.h.
// docs/journal-format.md describes the same schema in prose; change both
// together, and bump kFormatVersion when a layout changes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fsr::journal {

inline constexpr uint32_t kFormatVersion = 1;

// Column families, by position in the order a journal is opened with.
enum ColumnFamily : size_t { kMetaFamily = 0, kRecordsFamily, kIndexFamily, kAppliedFamily, kBodiesFamily };
// Their names: "default" (meta), "records", "index", "applied", "bodies".
const std::vector<std::string>& column_family_names();

// Keys of the meta (`default`) column family.
inline constexpr const char* kMetaFormatVersion = "format_version";  // ASCII decimal
inline constexpr const char* kMetaJournalId = "journal_id";          // 32 hex digits
inline constexpr const char* kMetaLastSeq = "last_seq";              // u64
inline constexpr const char* kMetaAppliedSeq = "applied_seq";        // u64: the watermark, for tools
inline constexpr const char* kMetaBodyIdHigh = "body_id_high";       // u64: highest committed body id
inline constexpr const char* kMetaBackendPrefix = "backend/";        // + address: backend-state JSON
inline constexpr const char* kMetaSuspectPrefix = "suspect/";        // + address + "/" + name: empty value
inline constexpr const char* kMetaPendingPrefix = "pending/";        // + u64 seq: the name of a pending record
inline constexpr const char* kMetaPendingThrough = "pending_through";  // u64: pending/ keys are complete up to it

// `backend/<address>`, and back (nullopt for a key outside the prefix).
std::string backend_state_key(std::string_view address);
std::optional<std::string> backend_address_of_key(std::string_view key);

// `suspect/<address>/<name>`: the name may differ on the volume because an
// operation on it may still run on the backend at address (an address holds
// no '/'). And back: {address, name}, nullopt for a key outside the prefix.
std::string suspect_key(std::string_view address, std::string_view name);
std::optional<std::pair<std::string, std::string>> suspect_of_key(std::string_view key);

// `pending/<seq>`, whose value is the record's name: a name whose latest
// record `seq` is not applied yet (docs/journal-format.md, "Recovery"). And
// back: the seq, nullopt for a key outside the prefix.
std::string pending_key(uint64_t seq);
std::optional<uint64_t> seq_of_pending_key(std::string_view key);

// The first key after every key that starts with `prefix`: an iterator's
// upper bound for a walk over one prefix of the meta family.
std::string prefix_end(std::string_view prefix);

// An 8-byte big-endian u64, so keys sort by number: the `records` keys (seq),
// the `bodies` keys (body id), the `applied` values and the u64 meta values.
std::string encode_seq_key(uint64_t seq);
uint64_t decode_seq_key(std::string_view key);  // 0 when shorter than 8 bytes

// The stored `format_version` value of a journal made by this program.
std::string format_version_text();
// What a program makes of a stored `format_version`: it reads versions up to
// its own, and refuses (without writing) an unreadable or newer one.
struct FormatVersionCheck {
  enum class Verdict { kReadable, kUnreadable, kNewer };
  Verdict verdict = Verdict::kUnreadable;
  uint64_t version = 0;  // the stored number, when it reads as one
};
FormatVersionCheck check_format_version(std::string_view stored);

// A name's applied state: its `applied` mark, capped at its latest seq (a mark
// past the latest record means that record is applied, not more).
inline uint64_t capped_applied_seq(uint64_t latest_seq, uint64_t applied_mark) {
  return applied_mark < latest_seq ? applied_mark : latest_seq;
}

// A name's applied state when a journal is opened: the higher of the
// applied_seq its index entry carries (the body cache writes it, synced, when
// it frees the body) and its `applied` mark (written without sync), capped at
// the latest seq. Never lower than either: a name whose body was freed as
// applied must not come back pending with nothing to send.
inline uint64_t recovered_applied_seq(uint64_t latest_seq, uint64_t index_applied_seq, uint64_t applied_mark) {
  return capped_applied_seq(latest_seq, applied_mark > index_applied_seq ? applied_mark : index_applied_seq);
}

// The applied watermark: every record at or below it is applied or moot. It is
// last_seq when nothing is pending, else one below the lowest pending seq.
inline uint64_t applied_watermark(uint64_t last_seq, std::optional<uint64_t> lowest_pending_seq) {
  return lowest_pending_seq ? *lowest_pending_seq - 1 : last_seq;
}

// What the router last knew of a backend, kept in `backend/<address>` as a
// small JSON object: {"role":"primary","healthy":true,"watermark":42}.
struct BackendState {
  std::string role;              // "primary" or "replica"; "" when not recorded
  std::optional<bool> healthy;   // absent in states written before it was recorded
  uint64_t watermark = 0;
  bool operator==(const BackendState&) const = default;
};
std::string encode_backend_state(const BackendState& state);
// nullopt when the text is not a JSON object; fields of the wrong type are
// left at their defaults.
std::optional<BackendState> decode_backend_state(std::string_view json);

}  // namespace fsr::journal
