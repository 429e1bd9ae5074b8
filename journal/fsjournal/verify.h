// `fsjournal verify`: one pass over everything a journal holds.
//
// Checks (each problem names the sequence number and name involved):
// - every record and index entry decodes;
// - records form one contiguous run of sequence numbers (history is only
//   ever trimmed from the oldest end) at or below last_seq;
// - index vs records: each retained record's name is in the index at that
//   seq or later; an index entry whose record is retained matches it (op,
//   size, checksum, body); an index entry newer than the oldest retained
//   record has its record;
// - applied marks: never past the name's latest seq, never for a name
//   absent from the index; the recorded watermark is not ahead of the one
//   the index implies; no backend watermark past last_seq;
// - bodies: the latest PUT of every name has its body, of the recorded size
//   and checksum (recomputed), unless it is applied and the router freed it
//   (its body cache budget; a pending body is never freed); a DELETE has
//   none; no body is referenced twice;
// - orphans: inline bodies no index entry refers to are problems; body files
//   no index entry refers to are warnings (an upload in progress, or left by
//   a crash; the router removes them when it starts).
// On a journal a router is writing, a body found missing is looked up again
// after catching up, so a body freed meanwhile by a newer write is not
// reported.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "journal/fsjournal/reader.h"

namespace fsr::journal::cli {

struct Finding {
  uint64_t seq = 0;   // 0 when no sequence number is involved
  std::string name;   // "" when no name is involved
  std::string what;
};

struct VerifyReport {
  std::vector<Finding> problems;
  std::vector<Finding> warnings;
  uint64_t records = 0;
  uint64_t first_seq = 0, last_seq = 0;  // of the retained records
  uint64_t names = 0;
  uint64_t bodies_checked = 0;
  uint64_t body_bytes_checked = 0;
  uint64_t body_files = 0;
  uint64_t bodies_freed = 0;  // applied PUTs whose body the router freed (body cache budget)
  bool in_use = false;
};

Status verify_journal(JournalReader& reader, VerifyReport* report);

// `fsjournal verify --volume DIR`: a data directory (the backends' shared
// volume, one file per name) against the journal's latest states.
// - a name whose latest state is a PUT must be a regular file of the
//   journal's size and XXH3-128 checksum (common/checksum.h, as recorded);
// - a name whose latest state is a DELETE must be absent;
// - reserved names (common/names.h kReservedNamePrefix) are skipped on both
//   sides;
// - a file the journal never heard of is "unknown": listed, not a mismatch
//   (the router reads such names through to the backends).
// A mismatch of a name whose latest record is still pending says so: the
// router had not applied it yet.
struct VolumeReport {
  std::vector<Finding> mismatches;
  std::vector<std::pair<std::string, uint64_t>> unknown;  // name, size
  uint64_t names = 0;        // journal names compared
  uint64_t present = 0;      // of them, latest state PUT
  uint64_t absent = 0;       // of them, latest state DELETE
  uint64_t bytes_read = 0;
};

Status verify_volume(JournalReader& reader, const std::string& volume_dir, VolumeReport* report);

}  // namespace fsr::journal::cli
