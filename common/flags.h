// Command-line flags with environment-variable fallbacks.
//
// Every program of the project declares its knobs here once: a flag
// `--name VALUE` (or `--name=VALUE`), an environment variable read when the
// flag is absent, a documented default, and a line of help. `--help` prints
// them all. Precedence: flag, then environment, then default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fsr {

class Flags {
 public:
  Flags(std::string program, std::string usage_line, std::string summary);

  void add_string(const std::string& name, const std::string& env, std::string* target,
                  const std::string& help);
  void add_int(const std::string& name, const std::string& env, int64_t* target,
               const std::string& help);
  void add_double(const std::string& name, const std::string& env, double* target,
                  const std::string& help);
  // A bool flag is set by `--name`, `--name=true|false|1|0`; env accepts the same words.
  void add_bool(const std::string& name, const std::string& env, bool* target,
                const std::string& help);

  // Parses argv[first..]. Returns -1 to go on, or an exit code (0 after
  // --help, 2 after a usage error, which it reports on stderr).
  // Arguments that are not flags are collected in positional().
  int parse(int argc, char** argv, int first = 1);

  const std::vector<std::string>& positional() const { return positional_; }
  std::string help_text() const;

 private:
  enum class Kind { kString, kInt, kDouble, kBool };
  struct Flag {
    std::string name, env, help, default_text;
    Kind kind;
    void* target;
  };
  bool assign(const Flag& flag, const std::string& value, std::string* error) const;
  const Flag* find(const std::string& name) const;

  std::string program_, usage_line_, summary_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
};

// Splits "a,b,,c" into {"a","b","c"} (empty items dropped, spaces trimmed).
std::vector<std::string> split_list(const std::string& text, char separator = ',');

// Splits "host:port" (port required). Returns false when malformed.
bool split_host_port(const std::string& text, std::string* host, int* port);

}  // namespace fsr
