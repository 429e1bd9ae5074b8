#include "common/flags.h"

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace fsr {

Flags::Flags(std::string program, std::string usage_line, std::string summary)
    : program_(std::move(program)), usage_line_(std::move(usage_line)), summary_(std::move(summary)) {
  static bool help_placeholder = false;
  flags_.push_back({"help", "", "print this help and exit", "", Kind::kBool, &help_placeholder});
}

void Flags::add_string(const std::string& name, const std::string& env, std::string* target,
                       const std::string& help) {
  flags_.push_back({name, env, help, "\"" + *target + "\"", Kind::kString, target});
}
void Flags::add_int(const std::string& name, const std::string& env, int64_t* target,
                    const std::string& help) {
  flags_.push_back({name, env, help, std::to_string(*target), Kind::kInt, target});
}
void Flags::add_double(const std::string& name, const std::string& env, double* target,
                       const std::string& help) {
  std::ostringstream s;
  s << *target;
  flags_.push_back({name, env, help, s.str(), Kind::kDouble, target});
}
void Flags::add_bool(const std::string& name, const std::string& env, bool* target,
                     const std::string& help) {
  flags_.push_back({name, env, help, *target ? "true" : "false", Kind::kBool, target});
}

const Flags::Flag* Flags::find(const std::string& name) const {
  for (const auto& f : flags_)
    if (f.name == name) return &f;
  return nullptr;
}

bool Flags::assign(const Flag& flag, const std::string& value, std::string* error) const {
  try {
    switch (flag.kind) {
      case Kind::kString:
        *static_cast<std::string*>(flag.target) = value;
        return true;
      case Kind::kInt: {
        size_t used = 0;
        long long v = std::stoll(value, &used, 10);
        if (used != value.size()) throw std::invalid_argument("trailing");
        *static_cast<int64_t*>(flag.target) = v;
        return true;
      }
      case Kind::kDouble: {
        size_t used = 0;
        double v = std::stod(value, &used);
        if (used != value.size()) throw std::invalid_argument("trailing");
        *static_cast<double*>(flag.target) = v;
        return true;
      }
      case Kind::kBool:
        if (value == "1" || value == "true" || value == "yes" || value == "on") {
          *static_cast<bool*>(flag.target) = true;
          return true;
        }
        if (value == "0" || value == "false" || value == "no" || value == "off") {
          *static_cast<bool*>(flag.target) = false;
          return true;
        }
        throw std::invalid_argument("bool");
    }
  } catch (const std::exception&) {
  }
  *error = "invalid value '" + value + "' for --" + flag.name;
  return false;
}

int Flags::parse(int argc, char** argv, int first) {
  std::vector<bool> seen(flags_.size(), false);
  positional_.clear();
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) positional_.push_back(argv[i]);
      break;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name == "help" || name == "h") {
      std::cout << help_text();
      return 0;
    }
    const Flag* flag = find(name);
    if (!flag) {
      std::cerr << program_ << ": unknown flag --" << name << " (see --help)\n";
      return 2;
    }
    if (!has_value) {
      if (flag->kind == Kind::kBool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        std::cerr << program_ << ": --" << name << " needs a value (see --help)\n";
        return 2;
      }
    }
    std::string error;
    if (!assign(*flag, value, &error)) {
      std::cerr << program_ << ": " << error << "\n";
      return 2;
    }
    seen[flag - flags_.data()] = true;
  }
  for (size_t k = 0; k < flags_.size(); ++k) {
    const Flag& flag = flags_[k];
    if (seen[k] || flag.env.empty()) continue;
    const char* env = std::getenv(flag.env.c_str());
    if (!env) continue;
    std::string error;
    if (!assign(flag, env, &error)) {
      std::cerr << program_ << ": " << error << " (from $" << flag.env << ")\n";
      return 2;
    }
  }
  return -1;
}

std::string Flags::help_text() const {
  std::ostringstream out;
  out << "Usage: " << usage_line_ << "\n\n" << summary_ << "\n\nFlags (flag, then environment, then default):\n";
  for (const auto& f : flags_) {
    if (f.name == "help") continue;
    out << "  --" << f.name;
    if (f.kind != Kind::kBool) out << " VALUE";
    out << "\n      " << f.help << "\n      default " << f.default_text;
    if (!f.env.empty()) out << ", env " << f.env;
    out << "\n";
  }
  out << "  --help\n      print this help and exit\n";
  return out.str();
}

std::vector<std::string> split_list(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, separator)) {
    auto b = item.find_first_not_of(" \t");
    auto e = item.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

bool split_host_port(const std::string& text, std::string* host, int* port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return false;
  try {
    size_t used = 0;
    int p = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || p <= 0 || p > 65535) return false;
    *port = p;
  } catch (const std::exception&) {
    return false;
  }
  *host = text.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  if (host->empty()) *host = "0.0.0.0";
  return true;
}

}  // namespace fsr
