// fsjournal list: records, newest first, filtered.
#include <algorithm>
#include <iostream>

#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"

namespace fsr::journal::cli {
namespace {

struct ListOptions {
  RecordFilter filter;
  int64_t limit = 50;
  bool oldest_first = false;
};

int run_list(const CommonOptions& common, ListOptions options) {
  RecordFilter& filter = options.filter;
  const int64_t limit = options.limit;
  const bool oldest_first = options.oldest_first;
  if (!resolve_filter(&filter)) return kExitUsage;
  if (limit < 0) {
    complain("--limit must not be negative");
    return kExitUsage;
  }
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;
  uint64_t first = filter.first;
  // Every pending record is above the watermark the router recorded (it only lags).
  if (filter.pending) first = std::max(first, reader->meta_u64(kMetaAppliedSeq).value_or(0) + 1);

  Table table(record_table_header());
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  int64_t shown = 0;
  bool more = false;
  Status failure;
  Status st = reader->for_each_record(first, filter.last, !oldest_first, [&](const RecordRow& row) {
    if (!row.record) {
      failure = {Status::Code::kCorruption, undecodable(row.seq)};
      return false;
    }
    const Record& r = *row.record;
    RecordView precheck;
    precheck.state = RecordState::kPending;
    if (!filter_matches(filter, r, precheck)) return true;  // the cheap filters first
    RecordView v = view_of(*reader, r, &failure);
    if (!failure.ok()) return false;
    if (!filter_matches(filter, r, v)) return true;
    if (limit > 0 && shown == limit) {
      more = true;
      return false;
    }
    ++shown;
    if (common.json) out.push_back(record_json(v));
    else table.add(record_cells(v));
    return true;
  });
  if (st.ok()) st = failure;
  if (!st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  if (common.json) {
    std::cout << json_pretty(out) << "\n";
  } else {
    table.print(std::cout);
    std::cout << "(" << shown << " record" << (shown == 1 ? "" : "s");
    if (more) std::cout << "; more match: raise --limit, or --limit 0 for all";
    std::cout << ")\n";
  }
  return kExitOk;
}

}  // namespace

Subcommand add_list_command(CLI::App& program, CommonOptions* common) {
  auto options = std::make_shared<ListOptions>();
  CLI::App* sub = add_subcommand(
      program, "list", "fsjournal --journal-dir DIR list [filters] [--limit N] [--oldest-first] [--json]",
      "records, newest first, filtered by --pending, --name, --op, --from-seq/--to-seq, --since/--until\n\n"
      "Records of the journal, newest first. STATE: pending (the latest of its name, not yet on the\n"
      "volume), applied (the latest, on the volume), superseded (a newer record of the name exists; its\n"
      "body was freed). Records older than the router's retention are compacted away once applied;\n"
      "the index keeps every name's latest state (see history).");
  add_json_flag(*sub, common);
  add_filter_flags(*sub, &options->filter);
  add_env_option(*sub, "limit", "", &options->limit, "print at most this many records (0: all)");
  add_env_switch(*sub, "oldest-first", "", &options->oldest_first, "oldest first instead of newest first");
  return {sub, [common, options] { return run_list(*common, *options); }};
}

}  // namespace fsr::journal::cli
