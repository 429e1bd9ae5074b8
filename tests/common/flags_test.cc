// The flag conventions every program shares (common/flags.h): flag, then
// environment, then default; range checks; exit codes; help.
#include "common/flags.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

namespace fsr {
namespace {

// An environment variable set for the life of one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

// A small program: one flag of each kind, as the programs declare them.
struct Program {
  CLI::App app{"Does one thing.", "prog"};
  int64_t threads = 1024;
  double timeout = 2.5;
  std::string listen = "0.0.0.0:8080";
  bool failback = false;

  Program() {
    use_flag_conventions(app, "prog [flags]");
    add_env_option(app, "threads", "FSR_TEST_THREADS", &threads, "worker threads")->check(at_least(4));
    add_env_option(app, "timeout", "FSR_TEST_TIMEOUT", &timeout, "seconds")->check(between(0.1, 60));
    add_env_option(app, "listen", "FSR_TEST_LISTEN", &listen, "HOST:PORT");
    add_env_switch(app, "failback", "FSR_TEST_FAILBACK", &failback, "give the role back");
  }

  int parse(std::vector<std::string> args) {
    args.insert(args.begin(), "prog");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return parse_command_line(app, static_cast<int>(argv.size()), argv.data());
  }
};

TEST(Flags, DefaultsHoldWhenNeitherFlagNorEnvironmentIsGiven) {
  Program p;
  EXPECT_EQ(p.parse({}), -1);
  EXPECT_EQ(p.threads, 1024);
  EXPECT_EQ(p.timeout, 2.5);
  EXPECT_EQ(p.listen, "0.0.0.0:8080");
  EXPECT_FALSE(p.failback);
}

TEST(Flags, EnvironmentIsUsedWhenTheFlagIsAbsent) {
  ScopedEnv threads("FSR_TEST_THREADS", "12");
  ScopedEnv listen("FSR_TEST_LISTEN", "127.0.0.1:9000");
  Program p;
  EXPECT_EQ(p.parse({}), -1);
  EXPECT_EQ(p.threads, 12);
  EXPECT_EQ(p.listen, "127.0.0.1:9000");
}

TEST(Flags, FlagBeatsEnvironment) {
  ScopedEnv threads("FSR_TEST_THREADS", "12");
  Program p;
  EXPECT_EQ(p.parse({"--threads", "20"}), -1);
  EXPECT_EQ(p.threads, 20);
}

TEST(Flags, ValueMayFollowAnEqualsSignOrComeAsTheNextArgumentAndTheLastOneWins) {
  Program p;
  EXPECT_EQ(p.parse({"--threads=8", "--listen", "h:1", "--threads", "9"}), -1);
  EXPECT_EQ(p.threads, 9);
  EXPECT_EQ(p.listen, "h:1");
}

TEST(Flags, SwitchIsSetAloneOrByTrueFalseWordsOnTheFlagAndInTheEnvironment) {
  {
    Program p;
    EXPECT_EQ(p.parse({"--failback"}), -1);
    EXPECT_TRUE(p.failback);
  }
  for (const char* word : {"false", "0"}) {
    Program p;
    p.failback = true;
    EXPECT_EQ(p.parse({std::string("--failback=") + word}), -1);
    EXPECT_FALSE(p.failback) << word;
  }
  for (const char* word : {"true", "1"}) {
    ScopedEnv env("FSR_TEST_FAILBACK", word);
    Program p;
    EXPECT_EQ(p.parse({}), -1);
    EXPECT_TRUE(p.failback) << word;
  }
  ScopedEnv env("FSR_TEST_FAILBACK", "0");
  Program p;
  EXPECT_EQ(p.parse({}), -1);
  EXPECT_FALSE(p.failback);
}

TEST(Flags, RangeCheckRejectsWithExitTwoAndOneLineNamingTheFlag) {
  Program p;
  testing::internal::CaptureStderr();
  EXPECT_EQ(p.parse({"--threads", "3"}), 2);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("--threads"), std::string::npos) << err;
  EXPECT_NE(err.find("at least 4"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), err.size() - 1) << err;
}

TEST(Flags, RangeCheckAppliesToTheEnvironmentToo) {
  ScopedEnv timeout("FSR_TEST_TIMEOUT", "90");
  Program p;
  testing::internal::CaptureStderr();
  EXPECT_EQ(p.parse({}), 2);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("--timeout: must be 0.1 to 60, got 90 (from $FSR_TEST_TIMEOUT)"), std::string::npos) << err;
}

TEST(Flags, OneOfAcceptsOnlyItsWordsAndSaysWhichTheyAre) {
  std::string ack = "journal";
  CLI::App app{"", "prog"};
  use_flag_conventions(app, "");
  add_env_option(app, "ack", "", &ack, "when")->check(one_of({"journal", "backend", "never"}));
  std::vector<std::string> args = {"prog", "--ack=backend"};
  std::vector<char*> argv = {args[0].data(), args[1].data()};
  EXPECT_EQ(parse_command_line(app, 2, argv.data()), -1);
  EXPECT_EQ(ack, "backend");
  args[1] = "--ack=sometimes";
  argv = {args[0].data(), args[1].data()};
  testing::internal::CaptureStderr();
  EXPECT_EQ(parse_command_line(app, 2, argv.data()), 2);
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "prog: --ack: must be journal, backend or never, got 'sometimes' (see prog --help)\n");
}

TEST(Flags, MalformedNumbersUnknownFlagsAndStrayArgumentsExitTwo) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"--timeout", "soon"}, {"--threads", "12x"}, {"--no-such-flag"}, {"stray"}, {"--listen"}}) {
    Program p;
    testing::internal::CaptureStderr();
    EXPECT_EQ(p.parse(args), 2) << args[0];
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(err.rfind("prog: ", 0), 0u) << err;
    EXPECT_EQ(err.find('\n'), err.size() - 1) << err;
  }
}

TEST(Flags, ShortAndLongHelpExitZeroAndListEachFlagWithItsDefaultAndEnvironmentName) {
  for (const char* flag : {"-h", "--help"}) {
    Program p;
    testing::internal::CaptureStdout();
    EXPECT_EQ(p.parse({flag}), 0) << flag;
    std::string help = testing::internal::GetCapturedStdout();
    EXPECT_EQ(help.rfind("Usage: prog [flags]", 0), 0u) << help;
    EXPECT_NE(help.find("--threads INT\n      worker threads\n      default 1024, allowed: at least 4, env FSR_TEST_THREADS\n"),
              std::string::npos)
        << help;
    EXPECT_NE(help.find("default \"0.0.0.0:8080\", env FSR_TEST_LISTEN"), std::string::npos) << help;
    EXPECT_NE(help.find("--failback\n      give the role back\n      default false, env FSR_TEST_FAILBACK"),
              std::string::npos)
        << help;
  }
}

TEST(Flags, HelpOfASubcommandIsItsOwnAndAnErrorNamesIt) {
  CLI::App app{"Two modes.", "tool"};
  use_flag_conventions(app, "tool SUBCOMMAND [flags]");
  int64_t rate = 100;
  CLI::App* run = app.add_subcommand("run", "Runs.");
  use_flag_conventions(*run, "tool run [flags]");
  add_env_option(*run, "rate", "", &rate, "per second")->check(at_least(0));
  app.require_subcommand(1);
  std::vector<std::string> args = {"tool", "run", "--help"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  testing::internal::CaptureStdout();
  EXPECT_EQ(parse_command_line(app, 3, argv.data()), 0);
  std::string help = testing::internal::GetCapturedStdout();
  EXPECT_EQ(help.rfind("Usage: tool run [flags]", 0), 0u) << help;
  EXPECT_NE(help.find("--rate INT"), std::string::npos) << help;

  CLI::App again{"Two modes.", "tool"};
  use_flag_conventions(again, "tool SUBCOMMAND [flags]");
  CLI::App* run2 = again.add_subcommand("run", "Runs.");
  add_env_option(*run2, "rate", "", &rate, "per second")->check(at_least(0));
  args = {"tool", "run", "--rate", "-1"};
  argv.clear();
  for (auto& a : args) argv.push_back(a.data());
  testing::internal::CaptureStderr();
  EXPECT_EQ(parse_command_line(again, 4, argv.data()), 2);
  EXPECT_EQ(testing::internal::GetCapturedStderr().rfind("tool run: --rate: must be at least 0", 0), 0u);
}

TEST(SplitList, DropsEmptyItemsAndTrimsSpaces) {
  EXPECT_EQ(split_list("a, b,,c ,"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split_list("").empty());
}

TEST(SplitHostPort, NeedsAPortInRangeZeroOnlyWhereAllowedAndDefaultsAnEmptyHostToAllInterfaces) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(split_host_port("127.0.0.1:8080", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  ASSERT_TRUE(split_host_port(":9000", &host, &port));
  EXPECT_EQ(host, "0.0.0.0");
  ASSERT_TRUE(split_host_port("[::1]:80", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_FALSE(split_host_port("localhost", &host, &port));
  EXPECT_FALSE(split_host_port("h:0", &host, &port));
  ASSERT_TRUE(split_host_port("h:0", &host, &port, /*allow_port_zero=*/true));
  EXPECT_EQ(port, 0);
  EXPECT_FALSE(split_host_port("h:65536", &host, &port));
  EXPECT_FALSE(split_host_port("h:80x", &host, &port));
}

// Found by tests/fuzz/addresses_fuzzer: std::stoi took a sign and leading
// spaces, so "h:+5576" and "h: 80" were accepted addresses.
TEST(SplitHostPort, APortIsDecimalDigitsOnlyWithNoSignOrSpaces) {
  std::string host;
  int port = 0;
  EXPECT_FALSE(split_host_port("h:+5576", &host, &port));
  EXPECT_FALSE(split_host_port("h: 80", &host, &port));
  EXPECT_FALSE(split_host_port("h:\t80", &host, &port));
  EXPECT_FALSE(split_host_port("h:-0", &host, &port, /*allow_port_zero=*/true));
  EXPECT_FALSE(split_host_port("h:99999999999", &host, &port));
  ASSERT_TRUE(split_host_port("h:080", &host, &port));
  EXPECT_EQ(port, 80);
}

}  // namespace
}  // namespace fsr
