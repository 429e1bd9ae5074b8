// What the journal stores, and how records and index entries are encoded.
// The rest of the schema (column families, meta keys, key encodings, version
// checks) is in format.h; both are written down in docs/journal-format.md.
// Change them together and bump kFormatVersion.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "journal/format.h"

namespace fsr::journal {

enum class Op : uint8_t { kPut = 1, kDelete = 2 };
const char* op_name(Op op);

// Where a PUT's body lives: inline in the `bodies` column family (small
// bodies) or in a file `bodies/<id as 16 hex digits>` (large ones). kNone for
// DELETE, or once the body was freed.
enum class BodyPlace : uint8_t { kNone = 0, kInline = 1, kFile = 2 };

struct BodyRef {
  BodyPlace place = BodyPlace::kNone;
  uint64_t id = 0;
  bool operator==(const BodyRef&) const = default;
};

// One accepted PUT or DELETE. Immutable once committed.
struct Record {
  uint64_t seq = 0;
  Op op = Op::kPut;
  int64_t time_ms = 0;  // wall clock at commit, ms since the epoch
  uint64_t size = 0;    // body bytes (0 for DELETE)
  std::string checksum; // XXH3-128 hex of the body ("" for DELETE)
  std::string name;
  BodyRef body;
};

// The latest state of one name, and how far it is applied to the volume.
struct IndexEntry {
  uint64_t seq = 0;          // sequence of the latest record of this name
  Op op = Op::kPut;          // kDelete: the name is deleted (a tombstone)
  uint64_t size = 0;
  std::string checksum;
  BodyRef body;              // kNone once the body was freed
  int64_t time_ms = 0;
  uint64_t applied_seq = 0;  // highest seq of this name applied on the volume
  bool pending() const { return applied_seq < seq; }
};

std::string encode_record(const Record& r);
std::optional<Record> decode_record(uint64_t seq, std::string_view bytes);

std::string encode_index_entry(const IndexEntry& e);
std::optional<IndexEntry> decode_index_entry(std::string_view bytes);

std::string body_file_name(uint64_t id);  // "0000000000000abc"

}  // namespace fsr::journal
