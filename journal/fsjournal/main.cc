// fsjournal: inspects the router's write-ahead journal, safely while the
// router runs, for incident response. See docs/fsjournal.md.
//
//   fsjournal [--journal-dir DIR] SUBCOMMAND [flags]      (or FSJOURNAL_DIR)
#include <iostream>
#include <vector>

#include "common/flags.h"
#include "common/log.h"
#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/runtime.h"

using namespace fsr::journal::cli;

int main(int argc, char** argv) {
  fsr::set_log_level(fsr::LogLevel::kWarn);
  install_stop_signals();
  CLI::App app{
      "Inspects fsrouter's write-ahead journal. Safe on a journal the router is writing: it reads\n"
      "it as a RocksDB secondary instance (no lock, nothing written into the journal directory).\n"
      "Each subcommand has --help; most print a table, or JSON with --json (export always prints NDJSON).",
      "fsjournal"};
  fsr::use_flag_conventions(app, "fsjournal [--journal-dir DIR] SUBCOMMAND [flags]");
  app.footer(
      "Exit codes: 0 done; 1 done and something is wrong or missing; 2 usage error or the journal\n"
      "cannot be opened (wrong path, not a journal, newer format version).");
  CommonOptions common;
  add_common_flags(app, &common);
  const std::vector<Subcommand> subcommands = {
      add_status_command(app, &common),  add_list_command(app, &common),   add_show_command(app, &common),
      add_history_command(app, &common), add_verify_command(app, &common), add_tail_command(app, &common),
      add_export_command(app, &common),  add_replay_command(app, &common), add_checkpoint_command(app, &common),
  };
  if (int code = fsr::parse_command_line(app, argc, argv); code >= 0) return code;
  for (const auto& subcommand : subcommands)
    if (subcommand.app->parsed()) return subcommand.run();
  // No subcommand: what there is to run, on stderr.
  std::cerr << app.help();
  return kExitUsage;
}
