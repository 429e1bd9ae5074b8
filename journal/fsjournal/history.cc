// fsjournal history NAME: every retained record of one name, and its state.
#include <iostream>

#include "common/names.h"
#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"

namespace fsr::journal::cli {
namespace {

struct HistoryOptions {
  std::string name;
  bool encoded = false;
};

int run_history(const CommonOptions& common, const HistoryOptions& options) {
  const bool encoded = options.encoded;
  std::string name = options.name;
  if (encoded) {
    auto decoded = fsr::percent_decode(name);
    if (!decoded) {
      complain("malformed percent-encoding in '" + name + "'");
      return kExitUsage;
    }
    name = *decoded;
  }
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;
  Status st;
  auto row = reader->name(name, &st);
  if (!st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  if (!row || !row->in_index) {
    complain("'" + name + "' is not in the index: the router never wrote it (a file already on the volume is read "
             "through from the backends)");
    return kExitFound;
  }
  if (!row->decodable) {
    complain("the index entry of '" + name + "' does not decode (run verify)");
    return kExitFound;
  }
  std::vector<RecordView> views;
  Status failure;
  // Only records up to the latest seq can belong to the name.
  st = reader->for_each_record(1, row->entry.seq, false, [&](const RecordRow& r) {
    if (!r.record) return true;  // verify reports those
    if (r.record->name == name) views.push_back(view_record(*r.record, row));
    return true;
  });
  if (!st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  const IndexEntry& e = row->entry;
  if (common.json) {
    nlohmann::ordered_json j;
    j["latest"] = name_json(*row);
    nlohmann::ordered_json records = nlohmann::ordered_json::array();
    for (const auto& v : views) records.push_back(record_json(v));
    j["records"] = records;
    std::cout << json_pretty(j) << "\n";
    return kExitOk;
  }
  Table t({"FIELD", "VALUE"});
  t.add({"name", name});
  std::string latest = "seq " + std::to_string(e.seq) + " " + op_name(e.op) + " at " + format_time(e.time_ms);
  if (e.op == Op::kPut) latest += ", " + std::to_string(e.size) + " bytes, checksum " + e.checksum;
  t.add({"latest", latest});
  t.add({"applied", e.pending() ? "through seq " + std::to_string(e.applied_seq) + ": PENDING (seq " +
                                      std::to_string(e.seq) + " is not on the volume yet)"
                                : "through seq " + std::to_string(e.applied_seq) + " (the latest state is on the volume)"});
  t.add({"body", e.op == Op::kDelete                ? "none (deleted)"
                 : e.body.place == BodyPlace::kNone ? "none (freed after it was applied; the volume holds it)"
                                                    : body_ref_text(e.body)});
  t.print(std::cout);
  std::cout << "\n";
  if (views.empty()) {
    std::cout << "(no record of this name is retained: older records are compacted once applied)\n";
    return kExitOk;
  }
  Table records(record_table_header());
  for (const auto& v : views) {
    auto cells = record_cells(v);
    if (v.record.seq == e.seq) cells[4] += " (latest)";
    records.add(cells);
  }
  records.print(std::cout);
  return kExitOk;
}

}  // namespace

Subcommand add_history_command(CLI::App& program, CommonOptions* common) {
  auto options = std::make_shared<HistoryOptions>();
  CLI::App* sub = add_subcommand(
      program, "history", "fsjournal --journal-dir DIR history NAME [--percent-encoded] [--json]",
      "every retained record of one NAME, the latest state, how far it is applied\n\n"
      "Every retained record of one name in sequence order, which one is the latest, and how far the\n"
      "name is applied to the volume. The index keeps the latest state even after older records are\n"
      "compacted away. Exit 1 when the router never wrote the name.");
  sub->add_option("NAME", options->name, "the name (exact bytes, or percent-encoded with --percent-encoded)")
      ->required();
  add_json_flag(*sub, common);
  add_env_switch(*sub, "percent-encoded", "", &options->encoded,
                 "NAME is percent-encoded (as in the URL); decode it first");
  return {sub, [common, options] { return run_history(*common, *options); }};
}

}  // namespace fsr::journal::cli
