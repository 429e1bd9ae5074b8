// What every fsjournal subcommand shares: common flags, opening, filters.
#include <cctype>
#include <cstdlib>
#include <iostream>

#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"

namespace fsr::journal::cli {

void complain(const std::string& message) { std::cerr << "fsjournal: " << message << "\n"; }

namespace {

const char* const kSubcommandFooter =
    "Flags of every subcommand (before or after it):\n"
    "  --journal-dir DIR    the journal (env FSJOURNAL_DIR, then FSROUTER_JOURNAL_DIR)\n"
    "  --secondary-dir DIR  RocksDB secondary working directory outside the journal\n"
    "                       (env FSJOURNAL_SECONDARY_DIR; default: a temporary directory)\n\n"
    "Exit codes: 0 done; 1 done and something is wrong or missing; 2 usage error or the journal\n"
    "cannot be opened (wrong path, not a journal, newer format version).";

}  // namespace

void add_common_flags(CLI::App& program, CommonOptions* common) {
  // Inside the router's container FSROUTER_JOURNAL_DIR already names the journal.
  if (const char* router_dir = std::getenv("FSROUTER_JOURNAL_DIR"); router_dir && common->journal_dir.empty())
    common->journal_dir = router_dir;
  add_env_option(program, "journal-dir", "FSJOURNAL_DIR", &common->journal_dir,
                 "the journal directory (the router's --journal-dir); defaults to $FSROUTER_JOURNAL_DIR when set")
      ->type_name("DIR");
  add_env_option(program, "secondary-dir", "FSJOURNAL_SECONDARY_DIR", &common->secondary_dir,
                 "working directory of the RocksDB secondary instance, outside the journal (empty: a temporary "
                 "directory under $TMPDIR, /tmp, /dev/shm or /var/tmp, removed at exit)")
      ->type_name("DIR");
  // A subcommand passes the flags it does not know (the two above) to the program.
  program.fallthrough();
}

CLI::App* add_subcommand(CLI::App& program, const std::string& name, const std::string& usage_line,
                         const std::string& description) {
  CLI::App* sub = program.add_subcommand(name, description);
  use_flag_conventions(*sub, usage_line);
  sub->fallthrough();
  sub->footer(kSubcommandFooter);
  return sub;
}

void add_json_flag(CLI::App& subcommand, CommonOptions* common) {
  add_env_switch(subcommand, "json", "", &common->json, "print JSON instead of a table");
}

bool open_journal(const CommonOptions& common, std::unique_ptr<JournalReader>* reader) {
  ReaderOptions options;
  options.dir = common.journal_dir;
  options.secondary_dir = common.secondary_dir;
  Status s = JournalReader::open(options, reader);
  if (!s.ok()) {
    complain(s.message);
    return false;
  }
  return true;
}

void add_filter_flags(CLI::App& sub, RecordFilter* filter) {
  add_env_option(sub, "name", "", &filter->name, "only records of this name (exact bytes, not percent-encoded)");
  add_env_option(sub, "op", "", &filter->op, "only PUT or only DELETE records");
  add_env_option(sub, "from-seq", "", &filter->from_seq, "only records at or after this sequence number");
  add_env_option(sub, "to-seq", "", &filter->to_seq, "only records at or before this sequence number (0: no bound)");
  add_env_option(sub, "since", "", &filter->since,
                 "only records committed at or after this time: 2026-11-27T22:41:03Z, 2026-11-27, @EPOCH_MS, "
                 "or an age such as 15m, 2h, 1d (UTC)");
  add_env_option(sub, "until", "", &filter->until, "only records committed before this time (same forms as --since)");
  add_env_switch(sub, "pending", "", &filter->pending,
                 "only records not yet applied to the volume (the latest of their name)");
}

bool resolve_filter(RecordFilter* f) {
  if (f->from_seq < 0 || f->to_seq < 0) {
    complain("--from-seq and --to-seq must not be negative");
    return false;
  }
  f->first = f->from_seq > 0 ? static_cast<uint64_t>(f->from_seq) : 1;
  f->last = f->to_seq > 0 ? static_cast<uint64_t>(f->to_seq) : UINT64_MAX;
  if (!f->op.empty()) {
    std::string op = f->op;
    for (auto& c : op) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (op == "PUT") f->op_value = Op::kPut;
    else if (op == "DELETE") f->op_value = Op::kDelete;
    else {
      complain("--op must be PUT or DELETE, got '" + f->op + "'");
      return false;
    }
  }
  int64_t now = now_ms();
  if (!f->since.empty()) {
    f->since_ms = parse_time(f->since, now);
    if (!f->since_ms) {
      complain("cannot read --since '" + f->since + "' (see --help for the forms)");
      return false;
    }
  }
  if (!f->until.empty()) {
    f->until_ms = parse_time(f->until, now);
    if (!f->until_ms) {
      complain("cannot read --until '" + f->until + "' (see --help for the forms)");
      return false;
    }
  }
  return true;
}

bool filter_matches(const RecordFilter& f, const Record& r, const RecordView& view) {
  if (!f.name.empty() && r.name != f.name) return false;
  if (f.op_value && r.op != *f.op_value) return false;
  if (f.since_ms && r.time_ms < *f.since_ms) return false;
  if (f.until_ms && r.time_ms >= *f.until_ms) return false;
  if (f.pending && view.state != RecordState::kPending) return false;
  return true;
}

}  // namespace fsr::journal::cli
