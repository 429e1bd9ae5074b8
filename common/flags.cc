#include "common/flags.h"

#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

namespace fsr {
namespace {

std::string number_text(double value) {
  std::ostringstream out;
  out << std::setprecision(15) << value;
  return out.str();
}

// The help layout of every program: a usage line, the summary, then each
// flag with its help, default and environment variable, help last.
class HelpLayout : public CLI::Formatter {
 public:
  HelpLayout(const CLI::App* owner, std::string usage_line) : owner_(owner), usage_line_(std::move(usage_line)) {}

  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode) const override {
    std::ostringstream out;
    out << "Usage: " << (app == owner_ && !usage_line_.empty() ? usage_line_ : name + " [flags]") << "\n";
    if (!app->get_description().empty()) out << "\n" << app->get_description() << "\n";
    std::vector<const CLI::Option*> options =
        app->get_options([](const CLI::Option* option) { return option->nonpositional(); });
    if (!options.empty()) {
      out << "\nFlags (flag, then environment, then default):\n";
      for (const CLI::Option* option : options)
        if (option != app->get_help_ptr()) out << entry(*option);
      if (app->get_help_ptr() != nullptr) out << entry(*app->get_help_ptr());
    }
    std::vector<const CLI::App*> subcommands = app->get_subcommands([](const CLI::App*) { return true; });
    if (!subcommands.empty()) {
      out << "\nSubcommands (" << name << " SUBCOMMAND --help for their flags):\n";
      for (const CLI::App* sub : subcommands) {
        std::string summary = sub->get_description();
        out << "  " << sub->get_name() << "\n      " << summary.substr(0, summary.find('\n')) << "\n";
      }
    }
    if (!app->get_footer().empty()) out << "\n" << app->get_footer() << "\n";
    return out.str();
  }

 private:
  static std::string entry(const CLI::Option& option) {
    std::ostringstream out;
    std::string names = option.get_name(false, true);
    for (size_t comma = names.find(','); comma != std::string::npos; comma = names.find(',', comma + 2))
      names.replace(comma, 1, ", ");
    out << "  " << names;
    // get_type_name() is "INT" or "INT:<check>:<check>"; the checks go on the default line.
    std::string type = option.get_type_name(), checks;
    if (auto colon = type.find(':'); colon != std::string::npos) {
      checks = type.substr(colon + 1);
      type = type.substr(0, colon);
    }
    bool takes_value = option.get_items_expected_max() != 0;
    if (takes_value) out << " " << type;
    out << "\n      " << option.get_description() << "\n";
    std::string details;
    if (!option.get_default_str().empty() || (takes_value && type == "TEXT"))
      details = "default " + (type == "TEXT" ? "\"" + option.get_default_str() + "\"" : option.get_default_str());
    if (!checks.empty()) details += (details.empty() ? "allowed: " : ", allowed: ") + checks;
    if (!option.get_envname().empty()) details += (details.empty() ? "env " : ", env ") + option.get_envname();
    if (!details.empty()) out << "      " << details << "\n";
    return out.str();
  }

  const CLI::App* owner_;
  std::string usage_line_;
};

// The environment variable a rejected value came from: the reason starts
// with "--name:", that flag is absent from the command line and its
// variable is set. Empty otherwise.
std::string environment_source(const CLI::App& app, const std::string& reason, int argc, char** argv) {
  if (reason.rfind("--", 0) != 0) return {};
  std::string flag = reason.substr(0, reason.find(':'));
  const CLI::Option* option = app.get_option_no_throw(flag);
  if (option == nullptr || option->get_envname().empty()) return {};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == flag || arg.rfind(flag + "=", 0) == 0) return {};
  }
  std::string env = option->get_envname();
  return std::getenv(env.c_str()) != nullptr ? env : std::string();
}

}  // namespace

void use_flag_conventions(CLI::App& app, const std::string& usage_line) {
  app.formatter(std::make_shared<HelpLayout>(&app, usage_line));
  app.set_help_flag("-h,--help", "print this help and exit");
  // As with most command lines: a flag given twice keeps the last value.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

CLI::Option* add_env_switch(CLI::App& app, const std::string& name, const std::string& env, bool* target,
                            const std::string& help) {
  CLI::Option* option = app.add_flag("--" + name, *target, help)->default_str(*target ? "true" : "false");
  if (!env.empty()) option->envname(env);
  return option;
}

CLI::Validator at_least(double minimum) {
  std::string bound = number_text(minimum);
  return CLI::Validator(
      [minimum, bound](std::string& input) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(input, value)) return "'" + input + "' is not a number";
        if (value < minimum) return "must be at least " + bound + ", got " + input;
        return {};
      },
      "at least " + bound);
}

CLI::Validator more_than(double bound) {
  std::string text = number_text(bound);
  return CLI::Validator(
      [bound, text](std::string& input) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(input, value)) return "'" + input + "' is not a number";
        if (!(value > bound)) return "must be more than " + text + ", got " + input;
        return {};
      },
      "more than " + text);
}

CLI::Validator between(double minimum, double maximum) {
  std::string range = number_text(minimum) + " to " + number_text(maximum);
  return CLI::Validator(
      [minimum, maximum, range](std::string& input) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(input, value)) return "'" + input + "' is not a number";
        if (value < minimum || value > maximum) return "must be " + range + ", got " + input;
        return {};
      },
      range);
}

CLI::Validator one_of(const std::vector<std::string>& words) {
  std::string list;
  for (size_t i = 0; i < words.size(); ++i)
    list += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  return CLI::Validator(
      [words, list](std::string& input) -> std::string {
        for (const auto& word : words)
          if (input == word) return {};
        return "must be " + list + ", got '" + input + "'";
      },
      list);
}

int parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();  // the help of the subcommand named, if any
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    // Name the subcommand too ("fsload run: ..."), on one line.
    std::string program = app.get_name();
    const CLI::App* at_error = &app;
    while (!at_error->get_subcommands().empty()) {
      at_error = at_error->get_subcommands().front();
      program += " " + at_error->get_name();
    }
    std::string reason = e.what();
    for (char& c : reason)
      if (c == '\n') c = ' ';
    if (std::string env = environment_source(*at_error, reason, argc, argv); !env.empty())
      reason += " (from $" + env + ")";
    std::cerr << program << ": " << reason << " (see " << program << " --help)\n";
    return e.get_exit_code() == 0 ? 0 : 2;
  }
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

bool split_host_port(const std::string& text, std::string* host, int* port, bool allow_port_zero) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return false;
  // Decimal digits only: no sign, no spaces (std::stoi would take both).
  long p = 0;
  for (size_t i = colon + 1; i < text.size(); ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return false;
    p = p * 10 + (c - '0');
    if (p > 65535) return false;
  }
  if (p < (allow_port_zero ? 0 : 1)) return false;
  *port = static_cast<int>(p);
  *host = text.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  if (host->empty()) *host = "0.0.0.0";
  return true;
}

}  // namespace fsr
