// `fsload edge`: a named list of edge cases, each with the outcome expected
// from the target profile (`router`: the fsrouter front; `backend`: a bare
// file server), run one after another against a URL. Prints a pass/fail
// table, optionally a JSON document, and exits 1 when any case failed
// (2 on a usage error).
#pragma once

#include <functional>

#include "common/flags.h"

namespace fsr::load {

// Adds the `edge` subcommand with its flags to fsload's command line and
// returns what runs the cases once that line is parsed (the exit status).
std::function<int()> add_edge_subcommand(CLI::App& fsload);

}  // namespace fsr::load
