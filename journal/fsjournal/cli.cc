// What every fsjournal subcommand shares: common flags, opening, filters.
#include <cctype>
#include <cstdlib>
#include <iostream>

#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"

namespace fsr::journal::cli {

void complain(const std::string& message) { std::cerr << "fsjournal: " << message << "\n"; }

void add_common_flags(Flags& flags, CommonOptions* common, bool with_json) {
  // Inside the router's container FSROUTER_JOURNAL_DIR already names the journal.
  if (const char* router_dir = std::getenv("FSROUTER_JOURNAL_DIR"); router_dir && common->journal_dir.empty())
    common->journal_dir = router_dir;
  flags.add_string("journal-dir", "FSJOURNAL_DIR", &common->journal_dir,
                   "the journal directory (the router's --journal-dir); defaults to $FSROUTER_JOURNAL_DIR when set");
  flags.add_string("secondary-dir", "FSJOURNAL_SECONDARY_DIR", &common->secondary_dir,
                   "working directory of the RocksDB secondary instance, outside the journal (empty: a temporary "
                   "directory under $TMPDIR, /tmp, /dev/shm or /var/tmp, removed at exit)");
  if (with_json) flags.add_bool("json", "", &common->json, "print JSON instead of a table");
}

int parse_flags(Flags& flags, int argc, char** argv, size_t expected, const char* what, bool up_to) {
  int rc = flags.parse(argc, argv);
  if (rc >= 0) return rc;
  size_t got = flags.positional().size();
  if (got > expected || (!up_to && got < expected)) {
    if (got > expected) complain("unexpected argument '" + flags.positional()[expected] + "' (see --help)");
    else complain(std::string("missing ") + what + " (see --help)");
    return kExitUsage;
  }
  return -1;
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

void add_filter_flags(Flags& flags, RecordFilter* filter) {
  flags.add_string("name", "", &filter->name, "only records of this name (exact bytes, not percent-encoded)");
  flags.add_string("op", "", &filter->op, "only PUT or only DELETE records");
  flags.add_int("from-seq", "", &filter->from_seq, "only records at or after this sequence number");
  flags.add_int("to-seq", "", &filter->to_seq, "only records at or before this sequence number (0: no bound)");
  flags.add_string("since", "", &filter->since,
                   "only records committed at or after this time: 2026-11-27T22:41:03Z, 2026-11-27, @EPOCH_MS, "
                   "or an age such as 15m, 2h, 1d (UTC)");
  flags.add_string("until", "", &filter->until, "only records committed before this time (same forms as --since)");
  flags.add_bool("pending", "", &filter->pending, "only records not yet applied to the volume (the latest of their name)");
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
