// `fsload edge`: a named list of edge cases, each with the outcome expected
// from the target profile (`router`: the fsrouter front; `backend`: a bare
// file server), run one after another against a URL. Prints a pass/fail
// table, optionally a JSON document, and exits 1 when any case failed
// (2 on a usage error).
#pragma once

namespace fsr::load {

int edge_main(int argc, char** argv);

}  // namespace fsr::load
