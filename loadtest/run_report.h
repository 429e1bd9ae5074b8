// Renders the result document of `fsload run` (see LoadRun::execute) as a
// summary table for people and as a self-contained HTML report with inline
// SVG charts (no scripts, styles or fonts from the network).
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace fsr::load {

void print_run_summary(const nlohmann::json& result, std::ostream& out);
std::string run_report_html(const nlohmann::json& result);
const char* run_exit_meaning(int exit_code);

// Writes `text` to `path` (through a temporary file and rename); false with
// a reason on stderr when it fails.
bool write_text_file(const std::string& path, const std::string& text);

}  // namespace fsr::load
