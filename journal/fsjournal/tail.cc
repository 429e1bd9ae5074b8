// fsjournal tail [-f]: the last records, then (with -f) each new one as the
// router commits it.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"
#include "journal/fsjournal/runtime.h"

namespace fsr::journal::cli {
namespace {

struct TailOptions {
  RecordFilter filter;
  bool follow = false;
  int64_t lines = 10;
  int64_t interval_ms = 200;
};

void print_stream_line(const RecordView& v, bool json) {
  if (json) {
    std::cout << json_line(record_json(v)) << "\n";
    return;
  }
  const Record& r = v.record;
  char head[128];
  std::snprintf(head, sizeof head, "%-10llu %s %-6s %12s  ", static_cast<unsigned long long>(r.seq),
                format_time(r.time_ms).c_str(), op_name(r.op), r.op == Op::kPut ? std::to_string(r.size).c_str() : "-");
  std::cout << head << r.name << "\n";
}

int run_tail(const CommonOptions& common, TailOptions options) {
  RecordFilter& filter = options.filter;
  const bool follow = options.follow;
  const int64_t lines = options.lines;
  const int64_t interval_ms = options.interval_ms;
  if (!resolve_filter(&filter)) return kExitUsage;
  if (lines < 0 || interval_ms < 10) {
    complain("--lines must not be negative and --interval-ms must be at least 10");
    return kExitUsage;
  }
  set_interruptible(follow);
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;

  // Where to start: after the last N matching records, or at --from-seq.
  uint64_t start = filter.first;
  if (filter.from_seq == 0) {
    int64_t seen = 0;
    uint64_t begin = UINT64_MAX;
    Status failure;
    reader->for_each_record(1, filter.last, true, [&](const RecordRow& row) {
      if (seen == lines) return false;
      if (row.record) {
        RecordView pre;
        pre.state = RecordState::kPending;
        if (!filter_matches(filter, *row.record, pre)) return true;
        if (filter.pending && !filter_matches(filter, *row.record, view_of(*reader, *row.record, &failure))) return true;
      }
      ++seen;
      begin = row.seq;
      return true;
    });
    start = seen == 0 ? reader->last_record_seq().value_or(0) + 1 : begin;
  }
  uint64_t next = start;
  int failures = 0;
  auto print_from = [&](uint64_t from) -> Status {
    Status failure;
    Status st = reader->for_each_record(from, filter.last, false, [&](const RecordRow& row) {
      next = row.seq + 1;
      if (!row.record) {
        complain(undecodable(row.seq));
        return true;
      }
      RecordView v = view_of(*reader, *row.record, &failure);
      if (!failure.ok()) return false;
      if (filter_matches(filter, *row.record, v)) print_stream_line(v, common.json);
      return static_cast<bool>(std::cout);
    });
    std::cout.flush();
    return st.ok() ? failure : st;
  };
  if (Status st = print_from(next); !st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  while (follow && !stop_requested() && next <= filter.last && std::cout) {
    auto wake = std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms);
    while (!stop_requested() && std::chrono::steady_clock::now() < wake)
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(interval_ms, 50)));
    if (stop_requested()) break;
    Status st = reader->catch_up();
    if (st.ok()) st = print_from(next);
    if (st.ok()) {
      failures = 0;
      continue;
    }
    // The router may have restarted or rewritten its MANIFEST: open afresh.
    if (++failures == 1) complain("lost the journal (" + st.message + "); opening it again");
    reader.reset();
    if (!open_journal(common, &reader)) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      if (!open_journal(common, &reader)) return kExitUsage;
    }
  }
  return kExitOk;
}

}  // namespace

Subcommand add_tail_command(CLI::App& program, CommonOptions* common) {
  auto options = std::make_shared<TailOptions>();
  CLI::App* sub = add_subcommand(
      program, "tail", "fsjournal --journal-dir DIR tail [-f] [-n N] [filters] [--json]",
      "the last records; -f follows new records as the router commits them\n\n"
      "The last records, oldest first; with -f (--follow) it then prints each new record as the router\n"
      "commits it, until interrupted. It polls the journal as a RocksDB secondary instance (no lock, no\n"
      "writes): the router is never slowed. --json prints one JSON object per line.");
  add_json_flag(*sub, common);
  add_filter_flags(*sub, &options->filter);
  sub->add_flag("-f,--follow", options->follow, "keep printing new records")->default_str("false");
  sub->add_option("-n,--lines", options->lines,
                  "how many of the latest records to print first (ignored with --from-seq)")
      ->capture_default_str();
  add_env_option(*sub, "interval-ms", "", &options->interval_ms, "how often to look for new records with --follow");
  return {sub, [common, options] { return run_tail(*common, *options); }};
}

}  // namespace fsr::journal::cli
