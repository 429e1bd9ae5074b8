// fsjournal's subcommands and what they share: the common flags, opening the
// journal, and record filters. Each subcommand lives in the file of its name
// (status.cc, list.cc, show.cc, history.cc, verify.cc, tail.cc, export.cc,
// replay.cc, checkpoint.cc) and registers itself as a CLI11 subcommand.
//
// Exit codes, for every subcommand:
//   0  done (verify: no problem found)
//   1  done, and something is wrong or missing (verify found problems, a
//      record or name does not exist, a body does not match its checksum,
//      replay could not restore every name)
//   2  usage error, or the journal cannot be opened (wrong path, not a
//      journal, a newer format version); nothing is written into it
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
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

// A subcommand as registered: its CLI11 app, and what runs once the command
// line named it (returns the exit code).
struct Subcommand {
  CLI::App* app;
  std::function<int()> run;
};

// --journal-dir and --secondary-dir, on the program: they may be given before
// or after the subcommand (its flags fall through to the program).
void add_common_flags(CLI::App& program, CommonOptions* common);
// A subcommand with its usage line and description; its help also lists the
// common flags and the exit codes.
CLI::App* add_subcommand(CLI::App& program, const std::string& name, const std::string& usage_line,
                         const std::string& description);
// --json, on the subcommands that print a table by default.
void add_json_flag(CLI::App& subcommand, CommonOptions* common);
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
void add_filter_flags(CLI::App& subcommand, RecordFilter* filter);
// Validates and resolves the filter; prints the problem and returns false when malformed.
bool resolve_filter(RecordFilter* filter);
// Whether a record, seen with its name's state, passes the filter.
bool filter_matches(const RecordFilter& filter, const Record& record, const RecordView& view);

// The subcommands, in the order --help lists them.
Subcommand add_status_command(CLI::App& program, CommonOptions* common);
Subcommand add_list_command(CLI::App& program, CommonOptions* common);
Subcommand add_show_command(CLI::App& program, CommonOptions* common);
Subcommand add_history_command(CLI::App& program, CommonOptions* common);
Subcommand add_verify_command(CLI::App& program, CommonOptions* common);
Subcommand add_tail_command(CLI::App& program, CommonOptions* common);
Subcommand add_export_command(CLI::App& program, CommonOptions* common);
Subcommand add_replay_command(CLI::App& program, CommonOptions* common);
Subcommand add_checkpoint_command(CLI::App& program, CommonOptions* common);

}  // namespace fsr::journal::cli
