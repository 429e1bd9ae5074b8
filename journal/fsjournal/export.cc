// fsjournal export: NDJSON of the records, or of the index.
#include <iostream>

#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"

namespace fsr::journal::cli {
namespace {

struct ExportOptions {
  RecordFilter filter;
  bool bodies = false;
  bool index = false;
};

int run_export(const CommonOptions& common, ExportOptions options) {
  RecordFilter& filter = options.filter;
  const bool bodies = options.bodies;
  const bool index = options.index;
  if (!resolve_filter(&filter)) return kExitUsage;
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;

  // Writes the object with its body appended, streaming the base64.
  Status body_failure;
  auto emit = [&](nlohmann::ordered_json j, const BodyRef* ref) {
    std::string line = json_line(j);
    if (!ref) {
      std::cout << line << "\n";
      return;
    }
    line.pop_back();  // the closing brace
    std::cout << line << ",\"body_base64\":";
    BodyLookup found = reader->open_body(*ref);
    if (found.state != BodyLookup::State::kOk) {
      std::cout << "null,\"body_problem\":\"" << (found.state == BodyLookup::State::kMissing ? "missing" : "unreadable")
                << "\"}\n";
      return;
    }
    std::cout << '"';
    Base64Encoder enc(std::cout);
    std::vector<char> buf(1 << 20);
    uint64_t offset = 0;
    while (offset < found.reader->size() && std::cout) {
      long n = found.reader->read_at(offset, buf.data(), buf.size());
      if (n <= 0) break;
      enc.update(buf.data(), static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    enc.finish();
    std::cout << "\"}\n";
  };

  Status failure;
  Status st;
  if (index) {
    st = reader->for_each_name([&](const NameRow& row) {
      if (!row.in_index || !row.decodable) return true;
      if (!filter.name.empty() && row.name != filter.name) return true;
      if (filter.op_value && row.entry.op != *filter.op_value) return true;
      if (filter.pending && !row.entry.pending()) return true;
      if (row.entry.seq < filter.first || row.entry.seq > filter.last) return true;
      if (filter.since_ms && row.entry.time_ms < *filter.since_ms) return true;
      if (filter.until_ms && row.entry.time_ms >= *filter.until_ms) return true;
      bool with_body = bodies && row.entry.op == Op::kPut && row.entry.body.place != BodyPlace::kNone;
      emit(name_json(row), with_body ? &row.entry.body : nullptr);
      return static_cast<bool>(std::cout);
    });
  } else {
    st = reader->for_each_record(filter.first, filter.last, false, [&](const RecordRow& row) {
      if (!row.record) {
        nlohmann::ordered_json j;
        j["seq"] = row.seq;
        j["problem"] = "undecodable";
        emit(j, nullptr);
        return true;
      }
      RecordView pre;
      pre.state = RecordState::kPending;
      if (!filter_matches(filter, *row.record, pre)) return true;
      RecordView v = view_of(*reader, *row.record, &failure);
      if (!failure.ok()) return false;
      if (!filter_matches(filter, *row.record, v)) return true;
      emit(record_json(v), bodies && v.body_retained() ? &v.latest_body : nullptr);
      return static_cast<bool>(std::cout);
    });
  }
  std::cout.flush();
  if (st.ok()) st = failure;
  if (!st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  return kExitOk;
}

}  // namespace

Subcommand add_export_command(CLI::App& program, CommonOptions* common) {
  auto options = std::make_shared<ExportOptions>();
  CLI::App* sub = add_subcommand(
      program, "export", "fsjournal --journal-dir DIR export [filters] [--bodies] [--index]",
      "NDJSON of records (or --index), bodies base64 with --bodies\n\n"
      "NDJSON, one object per line, oldest first: every retained record (the fields of list --json).\n"
      "--bodies adds body_base64 to each record that still has its body (the latest of its name).\n"
      "--index exports the index instead: each name's latest state (--name and --bodies apply).");
  add_filter_flags(*sub, &options->filter);
  add_env_switch(*sub, "bodies", "", &options->bodies, "include retained bodies, base64-encoded, as body_base64");
  add_env_switch(*sub, "index", "", &options->index,
                 "export the index (each name's latest state) instead of the records");
  return {sub, [common, options] { return run_export(*common, *options); }};
}

}  // namespace fsr::journal::cli
