// Command-line flags with environment-variable fallbacks.
//
// Every program of the project declares its knobs once, with CLI11: a flag
// `--name VALUE` (or `--name=VALUE`), an environment variable read when the
// flag is absent, a documented default, and a line of help. `-h`/`--help`
// prints them all with their env names and defaults. Precedence: flag, then
// environment, then default. A flag given twice keeps the last value.
//
//   CLI::App app{"what the program does", "fsrouter"};
//   use_flag_conventions(app, "fsrouter [flags]");
//   add_env_option(app, "threads", "FSROUTER_THREADS", &threads, "HTTP worker threads")
//       ->check(at_least(4));
//   if (int code = parse_command_line(app, argc, argv); code >= 0) return code;
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace fsr {

// Gives app (and the subcommands added to it afterwards) the project's help
// layout and parse rules. usage_line is the first line of --help.
void use_flag_conventions(CLI::App& app, const std::string& usage_line);

// Adds `--name VALUE` with the environment fallback env (none when empty);
// *target holds the default and receives the value.
template <typename T>
CLI::Option* add_env_option(CLI::App& app, const std::string& name, const std::string& env, T* target,
                            const std::string& help) {
  CLI::Option* option = app.add_option("--" + name, *target, help)->capture_default_str();
  if (!env.empty()) option->envname(env);
  return option;
}

// Adds a bool flag: `--name` sets it, `--name=true|false|1|0` (and the env
// variable, with the same words) says which.
CLI::Option* add_env_switch(CLI::App& app, const std::string& name, const std::string& env, bool* target,
                            const std::string& help);

// Range checks for numeric flags; the rejection names the flag and the bound.
CLI::Validator at_least(double minimum);
CLI::Validator more_than(double bound);
CLI::Validator between(double minimum, double maximum);
// For words: the value must be one of these.
CLI::Validator one_of(const std::vector<std::string>& words);

// Runs app.parse. Returns -1 to go on, or the exit code: 0 after -h/--help
// (help on stdout), 2 after a usage error, reported as one line on stderr.
int parse_command_line(CLI::App& app, int argc, char** argv);

// Splits "a,b,,c" into {"a","b","c"} (empty items dropped, spaces trimmed).
std::vector<std::string> split_list(const std::string& text, char separator = ',');

// Splits "host:port" (port required, 1 to 65535; 0 too when allow_port_zero,
// for an address to listen on where 0 asks for any free port). An empty host
// is 0.0.0.0; "[v6]" loses its brackets. Returns false when malformed.
bool split_host_port(const std::string& text, std::string* host, int* port, bool allow_port_zero = false);

}  // namespace fsr
