// fsjournal: inspects the router's write-ahead journal, safely while the
// router runs, for incident response. See docs/fsjournal.md.
//
//   fsjournal [--journal-dir DIR] SUBCOMMAND [flags]      (or FSJOURNAL_DIR)
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "common/log.h"
#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/runtime.h"

using namespace fsr::journal::cli;

namespace {

struct Subcommand {
  const char* name;
  int (*run)(int argc, char** argv);
  const char* summary;
};

const Subcommand kSubcommands[] = {
    {"status", run_status, "sequence numbers, what is pending, names, bodies, each backend's recorded watermark"},
    {"list", run_list, "records, newest first, filtered by --pending, --name, --op, --from-seq/--to-seq, --since/--until"},
    {"show", run_show, "one record (SEQ), its body's size and checksum verified; --body FILE|- writes the body"},
    {"history", run_history, "every retained record of one NAME, the latest state, how far it is applied"},
    {"verify", run_verify, "scan everything; exit 0 clean, 1 with the list of problems, 2 if it cannot open"},
    {"tail", run_tail, "the last records; -f follows new records as the router commits them"},
    {"export", run_export, "NDJSON of records (or --index), bodies base64 with --bodies"},
    {"replay", run_replay, "re-send each name's latest state through the running router after a volume restore"},
    {"checkpoint", run_checkpoint, "a consistent, usable copy of the journal, taken while the router runs"},
};

void print_overview(std::ostream& out) {
  out << "Usage: fsjournal [--journal-dir DIR] SUBCOMMAND [flags]\n\n"
         "Inspects fsrouter's write-ahead journal. Safe on a journal the router is writing: it reads\n"
         "it as a RocksDB secondary instance (no lock, nothing written into the journal directory).\n\n"
         "Subcommands (each has --help; most print a table, or JSON with --json):\n";
  for (const auto& c : kSubcommands) {
    std::string name = c.name;
    out << "  " << name << std::string(12 - name.size(), ' ') << c.summary << "\n";
  }
  out << "\nFlags of every subcommand:\n"
         "  --journal-dir DIR    the journal (env FSJOURNAL_DIR, then FSROUTER_JOURNAL_DIR)\n"
         "  --secondary-dir DIR  RocksDB secondary working directory outside the journal\n"
         "                       (env FSJOURNAL_SECONDARY_DIR; default: a temporary directory)\n"
         "  --json               JSON instead of a table (export always prints NDJSON)\n\n"
         "Exit codes: 0 done; 1 done and something is wrong or missing; 2 usage error or the journal\n"
         "cannot be opened (wrong path, not a journal, newer format version).\n";
}

}  // namespace

int main(int argc, char** argv) {
  fsr::set_log_level(fsr::LogLevel::kWarn);
  install_stop_signals();
  // The subcommand is the first argument that is neither a flag nor a flag's value.
  int at = -1;
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") help = true;
    else if (a == "--journal-dir" || a == "--secondary-dir") ++i;
    else if (a.rfind("-", 0) != 0) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    print_overview(help ? std::cout : std::cerr);
    return help ? kExitOk : kExitUsage;
  }
  for (const auto& c : kSubcommands) {
    if (std::strcmp(argv[at], c.name) != 0) continue;
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i)
      if (i != at) rest.push_back(argv[i]);
    rest.push_back(nullptr);
    return c.run(static_cast<int>(rest.size()) - 1, rest.data());
  }
  complain(std::string("unknown subcommand '") + argv[at] + "' (see fsjournal --help)");
  return kExitUsage;
}
