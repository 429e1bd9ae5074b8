// fsjournal status: the journal's facts at a glance (docs/status-fields.md).
#include <iostream>

#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"

namespace fsr::journal::cli {
namespace {

int run_status(const CommonOptions& common) {
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;
  JournalSummary s;
  if (Status st = summarize(*reader, now_ms(), &s); !st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  if (common.json) {
    std::cout << json_pretty(summary_json(s)) << "\n";
    return kExitOk;
  }
  Table t({"FIELD", "VALUE"});
  t.add({"journal_dir", s.journal_dir});
  t.add({"format_version", std::to_string(s.format_version)});
  if (!s.journal_id.empty()) t.add({"journal_id", s.journal_id});
  t.add({"in_use", s.in_use ? "yes (a running router holds the journal)" : "no (no router has it open)"});
  t.add({"last_seq", std::to_string(s.last_seq)});
  t.add({"applied_seq", std::to_string(s.applied_seq) + " (every record up to here is on the volume or moot)"});
  t.add({"applied_seq_recorded",
         s.applied_seq_recorded ? std::to_string(*s.applied_seq_recorded) + " (last written by the router)" : "-"});
  t.add({"pending_count", std::to_string(s.pending_count)});
  t.add({"pending_bytes", format_bytes(s.pending_bytes)});
  t.add({"oldest_pending_age_ms",
         s.oldest_pending_seq ? std::to_string(s.oldest_pending_age_ms) + " (" + format_duration(s.oldest_pending_age_ms) +
                                    "; seq " + std::to_string(*s.oldest_pending_seq) + ", " + s.oldest_pending_name + ")"
                              : "0 (nothing pending)"});
  t.add({"names", std::to_string(s.names) + " (" + std::to_string(s.deleted_names) + " deleted)"});
  t.add({"body_bytes", format_bytes(s.body_bytes)});
  t.add({"records", s.first_record_seq ? "seq " + std::to_string(*s.first_record_seq) + " to " +
                                             std::to_string(*s.last_record_seq) + " retained"
                                       : "none retained"});
  t.print(std::cout);
  std::cout << "\nbackends, as last recorded by the router:\n";
  Table b({"ADDRESS", "ROLE", "HEALTHY", "WATERMARK"});
  for (const auto& backend : s.backends) {
    const BackendState& state = backend.state;
    b.add({backend.address, state.role.empty() ? "? " + backend.raw : state.role,
           state.healthy ? (*state.healthy ? "yes" : "no") : "-", std::to_string(state.watermark)});
  }
  if (b.empty()) std::cout << "(none recorded)\n";
  else b.print(std::cout);
  return kExitOk;
}

}  // namespace

Subcommand add_status_command(CLI::App& program, CommonOptions* common) {
  CLI::App* sub = add_subcommand(
      program, "status", "fsjournal --journal-dir DIR status [--json]",
      "sequence numbers, what is pending, names, bodies, each backend's recorded watermark\n\n"
      "Last and applied sequence, what is pending (count, bytes, oldest age), names, retained bodies,\n"
      "and the role and watermark the router last recorded for each backend. --json uses the field\n"
      "names of the router's GET /admin/status for the same facts (docs/status-fields.md).");
  add_json_flag(*sub, common);
  return {sub, [common] { return run_status(*common); }};
}

}  // namespace fsr::journal::cli
