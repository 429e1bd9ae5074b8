// fsjournal's subcommands and what they share: the common flags, opening the
// journal, and record filters.
//
// Exit codes, for every subcommand:
//   0  done (verify: no problem found)
//   1  done, and something is wrong or missing (verify found problems, a
//      record or name does not exist, a body does not match its checksum,
//      replay could not restore every name)
//   2  usage error, or the journal cannot be opened (wrong path, not a
//      journal, a newer format version); nothing is written into it
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/flags.h"
#include "journal/fsjournal/facts.h"
#include "journal/fsjournal/reader.h"

namespace fsr::journal::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFound = 1;
inline constexpr int kExitUsage = 2;

struct CommonOptions {
  std::string journal_dir;
  std::string secondary_dir;
  bool json = false;
};

// --journal-dir, --secondary-dir and (when with_json) --json.
void add_common_flags(Flags& flags, CommonOptions* common, bool with_json = true);
// Parses; returns -1 to go on, or the exit code. `positional` must match
// exactly `expected` arguments (or at most, when up_to).
int parse_flags(Flags& flags, int argc, char** argv, size_t expected, const char* what, bool up_to = false);
// Opens the journal; on failure prints one line on stderr and returns false.
bool open_journal(const CommonOptions& common, std::unique_ptr<JournalReader>* reader);
// "fsjournal: message" on stderr.
void complain(const std::string& message);

// Record filters shared by list, tail and export.
struct RecordFilter {
  std::string name;  // "": any name
  std::string op;  // "", "PUT" or "DELETE"
  int64_t from_seq = 0;
  int64_t to_seq = 0;  // 0: no upper bound
  std::string since, until;
  bool pending = false;
  // Resolved by resolve():
  uint64_t first = 1, last = UINT64_MAX;
  std::optional<int64_t> since_ms, until_ms;
  std::optional<Op> op_value;
};
void add_filter_flags(Flags& flags, RecordFilter* filter);
// Validates and resolves the filter; prints the problem and returns false when malformed.
bool resolve_filter(RecordFilter* filter);
// Whether a record, seen with its name's state, passes the filter.
bool filter_matches(const RecordFilter& filter, const Record& record, const RecordView& view);

int run_status(int argc, char** argv);
int run_list(int argc, char** argv);
int run_show(int argc, char** argv);
int run_history(int argc, char** argv);
int run_verify(int argc, char** argv);
int run_tail(int argc, char** argv);
int run_export(int argc, char** argv);
int run_replay(int argc, char** argv);
int run_checkpoint(int argc, char** argv);

}  // namespace fsr::journal::cli
