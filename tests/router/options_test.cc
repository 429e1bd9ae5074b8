// fsrouter's flags (router/options.h): the README's table is what the
// program does, environment names work, bad values are refused.
#include "router/options.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <map>
#include <string>
#include <vector>

#include "tests/support/readme_flags.h"

extern char** environ;

namespace fsr::router {
namespace {

class RouterOptions : public testing::Test {
 protected:
  // The test's own environment must not leak into the defaults.
  void SetUp() override {
    std::vector<std::string> names;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      if (entry.rfind("FSROUTER_", 0) == 0) names.push_back(entry.substr(0, entry.find('=')));
    }
    for (const auto& name : names) ::unsetenv(name.c_str());
  }
  void TearDown() override {
    for (const auto& name : set_) ::unsetenv(name.c_str());
  }
  void set_env(const std::string& name, const std::string& value) {
    ::setenv(name.c_str(), value.c_str(), 1);
    set_.push_back(name);
  }

  static int parse(std::vector<std::string> args, RouterConfig* config) {
    args.insert(args.begin(), "fsrouter");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return parse_router_config(static_cast<int>(argv.size()), argv.data(), config);
  }

 private:
  std::vector<std::string> set_;
};

TEST_F(RouterOptions, HelpListsExactlyTheReadmeTableWithItsEnvironmentNamesDefaultsAndMeanings) {
  std::map<std::string, test::FlagRow> table = test::markdown_flag_table("README.md", "### fsrouter");
  ASSERT_EQ(table.size(), 34u) << "README.md's fsrouter table not found or changed size";
  RouterConfig config;
  testing::internal::CaptureStdout();
  ASSERT_EQ(parse({"--help"}, &config), 0);
  test::expect_help_matches_table(testing::internal::GetCapturedStdout(), table);
}

TEST_F(RouterOptions, DefaultsParseIntoTheConfigTheReadmeDescribes) {
  RouterConfig config;
  ASSERT_EQ(parse({}, &config), -1);
  EXPECT_EQ(config.listen_host, "0.0.0.0");
  EXPECT_EQ(config.listen_port, 8080);
  EXPECT_EQ(config.backend_addresses, std::vector<std::string>{"127.0.0.1:1234"});
  EXPECT_EQ(config.primary, "");
  EXPECT_EQ(config.journal_dir, "./fsrouter-journal");
  EXPECT_EQ(config.backend_cap, 10);
  EXPECT_EQ(config.ack, AckMode::kJournal);
  EXPECT_EQ(config.threads, 16) << "0 (automatic) with --ack journal";
  EXPECT_EQ(config.apply_workers, 0);
  EXPECT_EQ(config.backend_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(config.backend_timeout_max, std::chrono::milliseconds(60000));
  EXPECT_EQ(config.abandon_settle, std::chrono::milliseconds(3000));
  EXPECT_EQ(config.slot_grace, std::chrono::milliseconds(10));
  EXPECT_EQ(config.read_wait, std::chrono::milliseconds(4000));
  EXPECT_EQ(config.inline_body_max, 65536);
  EXPECT_EQ(config.read_memory_max, 1048576);
  EXPECT_EQ(config.record_retention, std::chrono::hours(24));
  EXPECT_EQ(config.keep_alive_s, 75);
  EXPECT_EQ(config.write_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(config.body_cache_mb, 2048);
  EXPECT_EQ(config.probe_interval, std::chrono::milliseconds(1000));
  EXPECT_EQ(config.probe_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(config.marker_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(config.stall_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(config.scrub_slots, 1);
  EXPECT_EQ(config.scrub_interval, std::chrono::milliseconds(100));
  EXPECT_FALSE(config.failback);
  EXPECT_EQ(config.log_level, LogLevel::kInfo);
}

TEST_F(RouterOptions, EnvironmentNamesFillTheConfigWhenFlagsAreAbsent) {
  set_env("FSROUTER_LISTEN", "127.0.0.1:9000");
  set_env("FSROUTER_BACKENDS", "a:1, b:2");
  set_env("FSROUTER_ACK", "backend");
  set_env("FSROUTER_THREADS", "64");
  set_env("FSROUTER_ABANDON_SETTLE_MS", "250");
  set_env("FSROUTER_RECORD_RETENTION_S", "60");
  set_env("FSROUTER_FAILBACK", "true");
  set_env("FSROUTER_STALL_TIMEOUT_MS", "7000");
  set_env("FSROUTER_WRITE_TIMEOUT_MS", "1500");
  set_env("FSROUTER_SCRUB_SLOTS", "0");
  set_env("FSROUTER_LOG_LEVEL", "warn");
  RouterConfig config;
  ASSERT_EQ(parse({}, &config), -1);
  EXPECT_EQ(config.listen_host, "127.0.0.1");
  EXPECT_EQ(config.listen_port, 9000);
  EXPECT_EQ(config.backend_addresses, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(config.ack, AckMode::kBackend);
  EXPECT_EQ(config.threads, 64);
  EXPECT_EQ(config.abandon_settle, std::chrono::milliseconds(250));
  EXPECT_EQ(config.record_retention, std::chrono::seconds(60));
  EXPECT_TRUE(config.failback);
  EXPECT_EQ(config.write_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(config.stall_timeout, std::chrono::milliseconds(7000));
  EXPECT_EQ(config.scrub_slots, 0);
  EXPECT_EQ(config.log_level, LogLevel::kWarn);
}

TEST_F(RouterOptions, ListenPortZeroAsksForAnyFreePort) {
  RouterConfig config;
  ASSERT_EQ(parse({"--listen", "127.0.0.1:0"}, &config), -1);
  EXPECT_EQ(config.listen_host, "127.0.0.1");
  EXPECT_EQ(config.listen_port, 0);
}

TEST_F(RouterOptions, FlagsBeatTheEnvironmentInEitherSpelling) {
  set_env("FSROUTER_THREADS", "64");
  set_env("FSROUTER_FAILBACK", "1");
  set_env("FSROUTER_ACK", "backend");
  RouterConfig config;
  ASSERT_EQ(parse({"--threads=32", "--failback=false", "--ack", "journal"}, &config), -1);
  EXPECT_EQ(config.threads, 32);
  EXPECT_FALSE(config.failback);
  EXPECT_EQ(config.ack, AckMode::kJournal);
}

TEST_F(RouterOptions, InvalidAckListenAndOutOfRangeValuesAreRefusedWithExitTwoAndOneLineNamingTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--ack", "sometimes"}, "--ack: must be journal or backend, got 'sometimes'"},
      {{"--listen", "8080"}, "--listen: must be HOST:PORT"},
      {{"--listen=host:70000"}, "--listen: must be HOST:PORT"},
      {{"--threads", "3"}, "--threads: must be 0 (automatic) or at least 4, got 3"},
      {{"--backend-cap", "0"}, "--backend-cap: must be at least 1"},
      {{"--backend-timeout-ms", "0"}, "--backend-timeout-ms: must be at least 1"},
      {{"--abandon-settle-ms", "-1"}, "--abandon-settle-ms: must be at least 0"},
      {{"--slot-grace-ms", "-5"}, "--slot-grace-ms: must be at least 0"},
      {{"--body-cache-mb", "-1"}, "--body-cache-mb: must be 0 to"},
      {{"--probe-interval-ms", "0"}, "--probe-interval-ms: must be at least 1"},
      {{"--scrub-slots", "-1"}, "--scrub-slots: must be 0 to"},
      {{"--scrub-interval-ms", "0"}, "--scrub-interval-ms: must be at least 1"},
      {{"--log-level", "loud"}, "--log-level: must be debug, info, warn or error"},
      {{"--keep-alive-s", "5s"}, "--keep-alive-s"},
      {{"--threads", "99999999999"}, "--threads"},
      {{"--failback=maybe"}, "--failback"},
      {{"--no-such-flag"}, "--no-such-flag"},
      {{"stray"}, "stray"},
  };
  for (const auto& [args, reason] : cases) {
    RouterConfig config;
    testing::internal::CaptureStderr();
    EXPECT_EQ(parse(args, &config), 2) << args[0];
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(err.rfind("fsrouter: ", 0), 0u) << err;
    EXPECT_NE(err.find(reason), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), err.size() - 1) << err;
  }
}

TEST_F(RouterOptions, AnInvalidEnvironmentValueIsRefusedNamingTheVariable) {
  set_env("FSROUTER_ACK", "later");
  RouterConfig config;
  testing::internal::CaptureStderr();
  EXPECT_EQ(parse({}, &config), 2);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("--ack: must be journal or backend, got 'later' (from $FSROUTER_ACK)"), std::string::npos) << err;
}

}  // namespace
}  // namespace fsr::router
