// Chaos tests of the Compose deployment: the real images, built by
// deploy/build-images.sh, run from docker-compose.yml under a project name of
// their own, while steady mixed load with every read verified goes to the
// router container's own address. Each scenario breaks something (kills,
// pauses, restarts), lets the router recover and drain, then checks every
// name through the router and on the shared data volume.
//
// Short form (the default, for CI): backends at a short latency for the
// first scenarios, then the whole stack restarted at the real 333 ms for
// the last two; about six minutes in all. Long form: FSR_CHAOS_LONG=1, every
// scenario at 333 ms, four times longer and under more load.
// FSR_CHAOS_KEEP=1 leaves the stack and its volumes up afterwards.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/chaos/chaos_load.h"
#include "tests/chaos/compose_stack.h"
#include "tests/support/process.h"

namespace fsr::chaos {
namespace {

using namespace std::chrono_literals;
using Seconds = std::chrono::duration<double>;

constexpr int kRealLatencyMs = 333;
constexpr int kShortLatencyMs = 40;
constexpr long long kGiB = 1024LL * 1024 * 1024;

bool long_form() {
  const char* value = std::getenv("FSR_CHAOS_LONG");
  return value != nullptr && *value != '\0' && std::string(value) != "0";
}

// A phase of a scenario: scaled up in the long form.
Seconds phase(double short_seconds) { return Seconds(short_seconds * (long_form() ? 4 : 1)); }

void say(const std::string& line) {
  std::printf("[chaos] %s\n", line.c_str());
  std::fflush(stdout);
}

class ChaosTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A request cut by a dying router must be an error, not a SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    std::string why;
    if (!docker_reachable(&why)) {
      skip_reason_ = "the Docker daemon is unreachable: " + why;
      return;
    }
    docker_ok_ = true;
    remove_abandoned_stacks();
    work_ = std::make_unique<fsr::test::TempDir>("fsr-chaos");
    std::string id = std::to_string(::getpid());
    stack_ = std::make_unique<ComposeStack>(FSR_SOURCE_DIR, "fsrchaos" + id, "chaos" + id, work_->path());
    say(std::string("form=") + (long_form() ? "long" : "short") + " project=" + stack_->project());

    auto started = std::chrono::steady_clock::now();
    CommandResult built = stack_->build_images(FSR_BUILD_DIR);
    if (!built.ok()) {
      setup_error_ = "deploy/build-images.sh failed:\n" + built.output;
      return;
    }
    say("images built in " + std::to_string(Seconds(std::chrono::steady_clock::now() - started).count()) + "s");
    setup_error_ = bring_up(long_form() ? kRealLatencyMs : kShortLatencyMs);
  }

  static void TearDownTestSuite() {
    if (!stack_) return;
    if (std::getenv("FSR_CHAOS_KEEP")) {
      say("FSR_CHAOS_KEEP: leaving project " + stack_->project() + " up");
      return;
    }
    for (const auto& service : stack_->services()) stack_->docker("unpause", service);
    stack_->down(/*remove_volumes=*/true);
    stack_->remove_images();
    stack_.reset();
    work_.reset();
  }

  void SetUp() override {
    if (!docker_ok_) GTEST_SKIP() << skip_reason_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }

  // Stacks, volumes and images left by chaos runs that were killed (a CTest
  // timeout, say): their project name carries the pid of a process that is gone.
  static void remove_abandoned_stacks() {
    std::string listing =
        run_command("docker ps -a --format '{{.Label \"com.docker.compose.project\"}}'; "
                    "docker volume ls -q; docker network ls --format '{{.Name}}'")
            .output;
    std::set<std::string> projects;
    std::istringstream lines(listing);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("fsrchaos", 0) != 0) continue;
      std::string pid_text;
      for (size_t i = 8; i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); ++i) pid_text += line[i];
      if (pid_text.empty()) continue;
      pid_t pid = static_cast<pid_t>(std::stol(pid_text));
      if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) projects.insert("fsrchaos" + pid_text);
    }
    for (const auto& project : projects) {
      say("removing the abandoned chaos stack " + project);
      std::string tag = "chaos" + project.substr(8);
      run_command("docker ps -aq --filter label=com.docker.compose.project=" + project + " | xargs -r docker rm -f; " +
                  "docker network rm " + project + "_default; docker volume rm " + project + "_data " + project +
                  "_journal; docker rmi fsrouter:" + tag + " fileserver:" + tag);
    }
  }

  // Starts (or reconfigures) the stack with the backends at latency_ms and
  // waits until every service is healthy. Returns "" or what went wrong.
  static std::string bring_up(int latency_ms) {
    auto started = std::chrono::steady_clock::now();
    CommandResult up = stack_->up(latency_ms);
    if (!up.ok()) return "compose up failed:\n" + up.output;
    std::string report;
    if (!stack_->wait_healthy(180s, &report)) {
      return "services not healthy after 180s: " + report + "\n" + stack_->logs("fsrouter", 40);
    }
    latency_ms_ = latency_ms;
    refresh_router_address();
    say("stack up, backends at " + std::to_string(latency_ms) + " ms, healthy in " +
        std::to_string(Seconds(std::chrono::steady_clock::now() - started).count()) + "s, router at " +
        router_.get(nullptr));
    return "";
  }

  // The router container's address on the project's network, or none while
  // it is not running: load is then counted as refused without being sent.
  // (An address of a removed network would route off the machine.)
  static void refresh_router_address() {
    std::string ip = stack_->container_ip("fsrouter");
    router_.set(ip.empty() ? "" : ip + ":8080");
  }

  // /admin/* is served on the router container's own address, port 8081
  // (FSROUTER_ADMIN_LISTEN in docker-compose.yml; not published).
  static std::unique_ptr<httplib::Client> admin_client() {
    std::string address = router_.get(nullptr);
    auto colon = address.rfind(':');
    if (colon == std::string::npos) return nullptr;
    auto client = std::make_unique<httplib::Client>(address.substr(0, colon), 8081);
    client->set_connection_timeout(2s);
    client->set_read_timeout(5s);
    return client;
  }

  static nlohmann::json router_status() {
    auto client = admin_client();
    if (!client) return nullptr;
    auto result = client->Get("/admin/status");
    if (!result || result->status != 200) return nullptr;
    return nlohmann::json::parse(result->body, nullptr, false);
  }

  static bool wait_router_ready(std::chrono::seconds patience) {
    return fsr::test::wait_until(
        [] {
          refresh_router_address();
          auto client = admin_client();
          if (!client) return false;
          auto result = client->Get("/readyz");
          if (!result || result->status != 200) {
            std::this_thread::sleep_for(200ms);
            return false;
          }
          return true;
        },
        patience);
  }

  // Polls /admin/status until nothing is pending and no name waits on an
  // abandoned backend request; returns the seconds it took, or -1.
  static double wait_drained(std::chrono::seconds patience, std::string* last_status) {
    auto started = std::chrono::steady_clock::now();
    bool drained = fsr::test::wait_until(
        [last_status] {
          auto status = router_status();
          if (!status.is_object()) {
            std::this_thread::sleep_for(200ms);
            return false;
          }
          *last_status = status.dump();
          bool idle = status.value("pending_count", -1) == 0 && status.value("uncertain_names", 0) == 0;
          if (!idle) std::this_thread::sleep_for(200ms);
          return idle;
        },
        patience);
    return drained ? Seconds(std::chrono::steady_clock::now() - started).count() : -1;
  }

  // The service name of the router's current primary ("fileserver1").
  static std::string primary_service() {
    auto status = router_status();
    if (status.is_object() && status.contains("backends")) {
      for (const auto& backend : status["backends"]) {
        if (backend.value("role", "") == "primary") {
          std::string address = backend.value("address", "");
          return address.substr(0, address.find(':'));
        }
      }
    }
    return "fileserver1";
  }

  // One backend's entry in /admin/status, by service name; null when the
  // router does not answer.
  static nlohmann::json backend_status(const std::string& service) {
    auto status = router_status();
    if (!status.is_object() || !status.contains("backends")) return nullptr;
    for (const auto& backend : status["backends"]) {
      std::string address = backend.value("address", "");
      if (address.substr(0, address.find(':')) == service) return backend;
    }
    return nullptr;
  }
  // backends[].requests, .abandoned, ...; -1 when unknown.
  static long long backend_counter(const std::string& service, const std::string& counter) {
    auto backend = backend_status(service);
    return backend.is_object() ? backend.value(counter, -1LL) : -1;
  }
  static std::string backend_field(const std::string& service, const std::string& field) {
    auto backend = backend_status(service);
    return backend.is_object() ? backend.value(field, std::string("?")) : "?";
  }

  static std::vector<std::string> replica_services(const std::string& primary) {
    std::vector<std::string> out;
    for (int i = 1; i <= 5; ++i) {
      std::string service = "fileserver" + std::to_string(i);
      if (service != primary) out.push_back(service);
    }
    return out;
  }

  static void act(const std::string& verb, const std::vector<std::string>& services) {
    for (const auto& service : services) {
      CommandResult r = stack_->docker(verb, service);
      EXPECT_TRUE(r.ok()) << "docker " << verb << " " << service << ": " << r.output;
    }
    std::string list;
    for (const auto& s : services) list += " " + s;
    say("  docker " + verb + list);
  }

  static void wait_services_healthy() {
    std::string report;
    EXPECT_TRUE(stack_->wait_healthy(120s, &report)) << "not healthy: " << report;
  }

  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // From the SIGKILL sent to a router process until it was seen gone: the
  // requests in flight across it are the only ones allowed to fail.
  struct KillWindow {
    int64_t from_ns = 0, to_ns = 0;
  };
  static bool overlaps(const RequestRecord& r, const KillWindow& w) {
    return r.start_ns <= w.to_ns && r.end_ns >= w.from_ns;
  }

  // Lines with this event in the router container's log (the supervisor's
  // and the routers' own, every start of the container included).
  static size_t router_log_events(const std::string& event) {
    std::string id = stack_->container("fsrouter");
    if (id.empty()) return 0;
    CommandResult r =
        run_command("docker logs " + id + " 2>&1 | grep -c -F " + shell_quote("event=" + event + " "));
    return static_cast<size_t>(std::strtoull(r.output.c_str(), nullptr, 10));
  }
  static std::string last_router_log_line(const std::string& event) {
    std::string id = stack_->container("fsrouter");
    if (id.empty()) return "";
    std::string line =
        run_command("docker logs " + id + " 2>&1 | grep -F " + shell_quote("event=" + event + " ") + " | tail -n 1")
            .output;
    while (!line.empty() && line.back() == '\n') line.pop_back();
    return line;
  }

  // The host pid of the router process in its container (the child of the
  // supervisor, the container's PID 1), or -1.
  static pid_t router_process_pid() {
    std::string id = stack_->container("fsrouter");
    if (id.empty()) return -1;
    std::istringstream rows(run_command("docker top " + id + " -eo pid,comm").output);
    std::string row;
    while (std::getline(rows, row)) {
      std::istringstream fields(row);
      long pid = 0;
      std::string comm;
      if (fields >> pid >> comm && comm == "fsrouter") return static_cast<pid_t>(pid);
    }
    return -1;
  }

  // Reaped by its supervisor. Not sooner: a killed process's leader shows
  // as a zombie while its other threads still exit, and its connections
  // close only once the last one has.
  static bool process_gone(pid_t pid) { return !fsr::test::file_exists("/proc/" + std::to_string(pid)); }

  // SIGKILL to the router process only (the images have no shell and no
  // kill: sent from the Docker host to the process's host pid), then waits
  // until the supervisor has started the next router and it is ready.
  static void kill_router_process(const ChaosLoad& load) {
    pid_t pid = router_process_pid();
    ASSERT_GT(pid, 0) << "no fsrouter process in the router container";
    size_t started_before = router_log_events("child_started");
    KillWindow window;
    int in_flight = load.in_flight();
    window.from_ns = now_ns();
    CommandResult killed = run_command("kill -9 " + std::to_string(pid));
    ASSERT_TRUE(killed.ok()) << killed.output;
    bool gone = fsr::test::wait_until([pid] { return process_gone(pid); }, 10s);
    window.to_ns = now_ns();
    kill_windows_.push_back(window);
    ASSERT_TRUE(gone) << "the router process " << pid << " outlived SIGKILL";
    say("  kill -9 router pid " + std::to_string(pid) + " (host pid), " + std::to_string(in_flight) +
        " requests in flight");
    bool restarted = fsr::test::wait_until(
        [&] {
          if (router_log_events("child_started") > started_before) return true;
          std::this_thread::sleep_for(100ms);
          return false;
        },
        30s);
    ASSERT_TRUE(restarted) << "the supervisor started no new router\n" << stack_->logs("fsrouter", 40);
    say("  supervisor: " + last_router_log_line("child_exited"));
    EXPECT_TRUE(wait_router_ready(60s)) << stack_->logs("fsrouter", 60);
  }

  // A signal to the router container's PID 1, the supervisor; waits until
  // the router it started in the old one's place is ready.
  static void signal_supervisor(const std::string& signal) {
    size_t started_before = router_log_events("child_started");
    act("kill --signal " + signal, {"fsrouter"});
    bool restarted = fsr::test::wait_until(
        [&] {
          if (router_log_events("child_started") > started_before) return true;
          std::this_thread::sleep_for(100ms);
          return false;
        },
        60s);
    ASSERT_TRUE(restarted) << "no new router after " << signal << "\n" << stack_->logs("fsrouter", 40);
    say("  supervisor: " + last_router_log_line("child_exited"));
    EXPECT_TRUE(wait_router_ready(60s)) << stack_->logs("fsrouter", 60);
  }

  struct Scenario {
    Scenario(std::string title_, LoadOptions load_, bool router_goes_down_ = false)
        : title(std::move(title_)), load(std::move(load_)), router_goes_down(router_goes_down_) {}
    std::string title;
    LoadOptions load;
    bool router_goes_down = false;  // refused connections and cut requests are expected
    // The chaos, given the running load; kills of the router process record
    // their windows in kill_windows_.
    std::function<void(const ChaosLoad&)> chaos;
  };

  // Runs load, the chaos, more load; then drains and checks every name.
  static void run(const Scenario& scenario) {
    ASSERT_TRUE(wait_router_ready(120s)) << "router not ready\n" << stack_->logs("fsrouter", 60);
    auto started = std::chrono::steady_clock::now();
    kill_windows_.clear();
    ChaosLoad load(&router_, scenario.load);
    load.start();
    std::this_thread::sleep_for(phase(5));
    if (long_form() || scenario.title == "primary-killed") say("  resources under load:\n" + stack_->resource_sample());
    int64_t chaos_from_ns = now_ns();
    scenario.chaos(load);
    std::this_thread::sleep_for(phase(5));
    load.stop();
    LoadCounts counts = load.counts();
    std::vector<RequestRecord> records = load.records();
    // Requests that failed (no answer) while the router process was not
    // being killed, and those in flight across a kill.
    uint64_t failed_elsewhere = 0, failed_at_kills = 0, in_flight_at_kills = 0;
    std::vector<uint64_t> failed_per_kill(kill_windows_.size(), 0);
    for (const auto& r : records) {
      bool at_kill = false;
      for (size_t k = 0; k < kill_windows_.size(); ++k) {
        if (!overlaps(r, kill_windows_[k])) continue;
        at_kill = true;
        if (!r.answered) ++failed_per_kill[k];
      }
      if (at_kill) ++in_flight_at_kills;
      if (!r.answered) ++(at_kill ? failed_at_kills : failed_elsewhere);
      if (!r.answered && !at_kill && !scenario.router_goes_down && failed_elsewhere <= 10) {
        char line[240];
        std::snprintf(line, sizeof line, "  failed outside a kill: %s at %+.3fs for %.3fs: %s", r.method.c_str(),
                      (r.start_ns - chaos_from_ns) / 1e9, (r.end_ns - r.start_ns) / 1e9, r.error.c_str());
        say(line);
      }
    }
    for (size_t k = 0; k < kill_windows_.size(); ++k) {
      char line[160];
      std::snprintf(line, sizeof line, "  kill %zu window: %+.3fs to %+.3fs", k + 1,
                    (kill_windows_[k].from_ns - chaos_from_ns) / 1e9, (kill_windows_[k].to_ns - chaos_from_ns) / 1e9);
      say(line);
    }
    if (!kill_windows_.empty()) report_router_kills(records, failed_at_kills, in_flight_at_kills);
    if (scenario.router_goes_down) report_outage(records, chaos_from_ns);

    bool ready = wait_router_ready(120s);
    std::string last_status;
    double drained_s = ready ? wait_drained(long_form() ? 600s : 240s, &last_status) : -1;
    FinalCheck final = load.check_final(stack_->volume_path("data"));

    bool pass = ready && drained_s >= 0 && final.clean() && counts.invalid_reads == 0 && counts.status_5xx == 0 &&
                counts.status_429 == 0 && counts.status_other == 0 &&
                (scenario.router_goes_down || (counts.refused == 0 && failed_elsewhere == 0));
    char figures[128];
    std::snprintf(figures, sizeof figures, " drained_s=%.1f total_s=%.0f latency_ms=%d", drained_s,
                  Seconds(std::chrono::steady_clock::now() - started).count(), latency_ms_);
    say(scenario.title + ": " + (pass ? "PASS " : "FAIL ") + counts.summary() + " " + final.summary() + figures);
    for (const auto& p : counts.problems) say("  problem: " + p);
    for (const auto& p : final.problems) say("  problem: " + p);

    EXPECT_TRUE(ready) << "router not ready after the scenario";
    EXPECT_GE(drained_s, 0) << "router did not drain; last status: " << last_status;
    EXPECT_EQ(counts.invalid_reads, 0u);
    EXPECT_EQ(counts.status_5xx, 0u);
    EXPECT_EQ(counts.status_429, 0u);
    EXPECT_EQ(counts.status_other, 0u);
    EXPECT_GT(counts.acknowledged_writes, 0u);
    EXPECT_GT(counts.valid_reads, 0u);
    if (!scenario.router_goes_down) {
      EXPECT_EQ(counts.refused, 0u) << "connections refused while the router was up";
      // Killing the router process cuts the requests it holds; nothing else
      // may fail: the next ones wait in the supervisor's socket.
      EXPECT_EQ(failed_elsewhere, 0u) << "requests cut or timed out while the router was up";
      for (size_t k = 0; k < failed_per_kill.size(); ++k) {
        EXPECT_LE(failed_per_kill[k], static_cast<uint64_t>(scenario.load.workers))
            << "kill " << k + 1 << " failed more requests than a client thread has in flight";
      }
    }
    EXPECT_EQ(final.lost, 0u) << "acknowledged writes lost";
    EXPECT_EQ(final.volume_mismatches, 0u) << "the shared volume differs from the acknowledged state";
    EXPECT_EQ(final.unreadable, 0u);
    if (!pass) {
      say("router log (tail):\n" + stack_->logs("fsrouter", 40));
      // Everything every service logged about the names that went wrong.
      if (!final.problem_names.empty()) {
        std::string pattern;
        for (const auto& name : final.problem_names) pattern += " -e " + shell_quote(name);
        say("log lines of the names in question:\n" +
            stack_->compose("logs --no-color | grep -F" + pattern + " | tail -n 200").output);
      }
    }
  }

  // After router process kills: what failed and how long the clients waited.
  static void report_router_kills(const std::vector<RequestRecord>& records, uint64_t failed, uint64_t in_flight) {
    for (size_t k = 0; k < kill_windows_.size(); ++k) {
      const KillWindow& w = kill_windows_[k];
      // The first answer to a request sent after the old router was gone,
      // and the longest wait of a request answered that was sent from the
      // kill until then (it waited in the accept queue for the new router).
      int64_t first_answer_ns = -1, longest_wait_ns = 0;
      for (const auto& r : records) {
        if (r.answered && r.start_ns >= w.to_ns && (first_answer_ns < 0 || r.end_ns < first_answer_ns))
          first_answer_ns = r.end_ns;
      }
      for (const auto& r : records) {
        if (r.answered && r.start_ns >= w.from_ns && r.start_ns <= first_answer_ns)
          longest_wait_ns = std::max(longest_wait_ns, r.end_ns - r.start_ns);
      }
      char line[200];
      std::snprintf(line, sizeof line, "  kill %zu: first answer after the kill %.2fs, longest answered wait %.2fs",
                    k + 1, first_answer_ns < 0 ? -1.0 : (first_answer_ns - w.from_ns) / 1e9, longest_wait_ns / 1e9);
      say(line);
    }
    say("  failed_at_kills=" + std::to_string(failed) + " in_flight_at_kills=" + std::to_string(in_flight) +
        " supervisor_starts=" + std::to_string(router_log_events("child_started")));
  }

  // When the router was gone: from the first refused request (after
  // chaos_from_ns) to the first answer to one sent after it.
  static void report_outage(const std::vector<RequestRecord>& records, int64_t chaos_from_ns) {
    int64_t first_refused_ns = -1;
    uint64_t refused = 0, cut = 0;
    for (const auto& r : records) {
      if (r.start_ns < chaos_from_ns || r.answered) continue;
      ++(r.refused ? refused : cut);
      if (r.refused && (first_refused_ns < 0 || r.start_ns < first_refused_ns)) first_refused_ns = r.start_ns;
    }
    int64_t first_answer_ns = -1;
    for (const auto& r : records) {
      if (first_refused_ns >= 0 && r.answered && r.start_ns >= first_refused_ns &&
          (first_answer_ns < 0 || r.end_ns < first_answer_ns))
        first_answer_ns = r.end_ns;
    }
    char line[200];
    std::snprintf(line, sizeof line, "  outage: refused_s=%.2f (first refused to first answer) refused=%llu cut=%llu",
                  first_refused_ns < 0 || first_answer_ns < 0 ? -1.0 : (first_answer_ns - first_refused_ns) / 1e9,
                  static_cast<unsigned long long>(refused), static_cast<unsigned long long>(cut));
    say(line);
  }

  static LoadOptions load_options(const std::string& prefix, unsigned seed) {
    LoadOptions options;
    options.name_prefix = prefix;
    options.seed = seed;
    options.names = long_form() ? 400 : 120;
    options.rate = long_form() ? 100 : 60;
    options.workers = long_form() ? 48 : 24;
    return options;
  }

  // The short form runs the first scenarios with fast backends; a scenario
  // that needs another latency recreates the backends first.
  static void ensure_latency(int latency_ms) {
    if (latency_ms_ == latency_ms) return;
    std::string error = bring_up(latency_ms);
    ASSERT_TRUE(error.empty()) << error;
  }
  static int fast_latency() { return long_form() ? kRealLatencyMs : kShortLatencyMs; }

  static inline bool docker_ok_ = false;
  static inline std::string skip_reason_;
  static inline std::string setup_error_;
  static inline std::unique_ptr<fsr::test::TempDir> work_;
  static inline std::unique_ptr<ComposeStack> stack_;
  static inline RouterAddress router_;
  static inline int latency_ms_ = 0;
  static inline std::vector<KillWindow> kill_windows_;
};

TEST_F(ChaosTest, EveryServiceHasLimitsAndAllTogetherFitTwoCpusAndFourGiB) {
  std::vector<ContainerLimits> all = stack_->limits();
  double cpus = 0;
  long long memory = 0;
  int fileservers = 0;
  for (const auto& limits : all) {
    say("  " + limits.service + ": cpus=" + std::to_string(limits.cpus) +
        " memory_mib=" + std::to_string(limits.memory_bytes >> 20));
    EXPECT_GT(limits.cpus, 0) << limits.service << " has no CPU limit";
    EXPECT_GT(limits.memory_bytes, 0) << limits.service << " has no memory limit";
    ASSERT_FALSE(limits.healthcheck.empty()) << limits.service << " has no health check";
    EXPECT_EQ(limits.healthcheck[0], "CMD") << limits.service << ": the images have no shell";
    if (limits.service.rfind("fileserver", 0) == 0) {
      ++fileservers;
      // A request would take one of the backend's 10 slots.
      for (const auto& word : limits.healthcheck) EXPECT_EQ(word.find("http"), std::string::npos) << word;
    }
    cpus += limits.cpus;
    memory += limits.memory_bytes;
  }
  say("limits: services=" + std::to_string(all.size()) + " cpus=" + std::to_string(cpus) +
      " memory_mib=" + std::to_string(memory >> 20));
  EXPECT_EQ(fileservers, 5);
  EXPECT_LE(cpus, 2.0 + 1e-9);
  EXPECT_LE(memory, 4 * kGiB);
}

TEST_F(ChaosTest, EveryContainerRunsReadOnlyWithoutCapabilitiesOrNewPrivilegesAndAPidsLimitWithRoom) {
  std::vector<ContainerLimits> all = stack_->limits();
  ASSERT_EQ(all.size(), 6u);
  for (const auto& limits : all) {
    long long tasks = stack_->tasks(limits.service);
    std::string security;
    for (const auto& option : limits.security_opt) security += (security.empty() ? "" : ",") + option;
    say("  " + limits.service + ": read_only=" + (limits.read_only_rootfs ? "true" : "false") +
        " cap_drop=" + (limits.cap_drop.empty() ? "" : limits.cap_drop[0]) + " security_opt=" + security +
        " pids_limit=" + std::to_string(limits.pids_limit) + " tasks=" + std::to_string(tasks));
    EXPECT_TRUE(limits.read_only_rootfs) << limits.service << ": root file system writable";
    EXPECT_EQ(limits.cap_drop, std::vector<std::string>{"ALL"}) << limits.service;
    EXPECT_NE(std::find(limits.security_opt.begin(), limits.security_opt.end(), "no-new-privileges:true"),
              limits.security_opt.end())
        << limits.service << ": no no-new-privileges";
    EXPECT_GT(limits.pids_limit, 0) << limits.service << ": no pids limit";
    // Every thread a program starts is already running once it is healthy
    // (the router's HTTP workers are a pool started up front); a quarter of
    // the limit stays free for exec'd tools and health checks.
    ASSERT_GT(tasks, 0) << limits.service << ": docker stats gave no task count";
    EXPECT_LE(tasks * 4, limits.pids_limit * 3) << limits.service << ": " << tasks
                                                << " tasks leave too little room under pids_limit "
                                                << limits.pids_limit;
  }
  // The programs still work on a read-only root: the health checks passed
  // (the stack is up), and fsjournal, run beside the live router, finds a
  // writable working directory (/dev/shm) for its RocksDB secondary.
  CommandResult status = stack_->exec("fsrouter", "fsjournal status");
  EXPECT_TRUE(status.ok()) << "fsjournal status in the router container: " << status.output;
}

TEST_F(ChaosTest, PrimaryKilledThenStartedLosesNoAcknowledgedWrite) {
  ensure_latency(fast_latency());
  Scenario scenario("primary-killed", load_options("pk", 11));
  scenario.chaos = [](const ChaosLoad&) {
    std::string primary = primary_service();
    act("kill", {primary});
    std::this_thread::sleep_for(phase(10));
    say("  primary after the kill: " + primary_service());
    act("start", {primary});
    wait_services_healthy();
  };
  run(scenario);
}

TEST_F(ChaosTest, ReplicasKilledOneTwoThenAllFiveLosesNoAcknowledgedWrite) {
  ensure_latency(fast_latency());
  Scenario scenario("replicas-killed", load_options("rk", 12));
  scenario.chaos = [](const ChaosLoad&) {
    auto replicas = replica_services(primary_service());
    act("kill", {replicas[0]});
    std::this_thread::sleep_for(phase(6));
    act("start", {replicas[0]});
    wait_services_healthy();
    act("kill", {replicas[1], replicas[2]});
    std::this_thread::sleep_for(phase(6));
    act("start", {replicas[1], replicas[2]});
    wait_services_healthy();
    std::vector<std::string> all = {"fileserver1", "fileserver2", "fileserver3", "fileserver4", "fileserver5"};
    act("kill", all);
    std::this_thread::sleep_for(phase(8));
    act("start", all);
    wait_services_healthy();
  };
  run(scenario);
}

TEST_F(ChaosTest, PrimaryPausedTenSecondsLosesNoAcknowledgedWrite) {
  ensure_latency(fast_latency());
  Scenario scenario("primary-paused", load_options("pp", 13));
  scenario.chaos = [](const ChaosLoad&) {
    std::string primary = primary_service();
    // Paused, a backend still completes TCP handshakes but answers nothing:
    // the router sees requests that neither succeed nor fail.
    act("pause", {primary});
    std::this_thread::sleep_for(long_form() ? 30s : 10s);
    act("unpause", {primary});
  };
  run(scenario);
}

TEST_F(ChaosTest, PrimaryPausedPastFailoverThenItsBacklogRunsUnderLoadLosesNoAcknowledgedWrite) {
  ensure_latency(fast_latency());
  Scenario scenario("primary-paused-backlog", load_options("pb", 17));
  // Fewer names and more writes than the other scenarios, so that the names
  // of the writes stuck on the paused primary get newer writes while it is
  // paused, and its backlog, when it runs, runs behind newer states.
  scenario.load.names = long_form() ? 200 : 60;
  scenario.load.get_share = 0.4;
  scenario.load.put_share = 0.45;
  scenario.chaos = [](const ChaosLoad&) {
    std::string primary = primary_service();
    long long abandoned_before = backend_counter(primary, "abandoned");
    // Paused, the primary completes TCP handshakes and takes requests into
    // its socket buffers but answers nothing: the applier's writes to it
    // time out and are abandoned, the probes fail, the router fails over.
    act("pause", {primary});
    auto paused_at = std::chrono::steady_clock::now();
    std::string new_primary;
    bool failed_over = fsr::test::wait_until(
        [&] {
          new_primary = primary_service();
          if (new_primary == primary) std::this_thread::sleep_for(200ms);
          return new_primary != primary;
        },
        60s);
    EXPECT_TRUE(failed_over) << "the router did not fail over from the paused primary " << primary;
    say("  failed over to " + new_primary + " after " +
        std::to_string(Seconds(std::chrono::steady_clock::now() - paused_at).count()) + "s (" + primary +
        " down_reason: " + backend_field(primary, "down_reason") + ")");
    // Load goes on through the new primary while the old one holds its
    // backlog: the requests it took in and never answered, and the names
    // of the abandoned writes, which wait for it (their newer writes are
    // acknowledged from the journal).
    std::this_thread::sleep_for(phase(10));
    auto status = router_status();
    long long uncertain = status.is_object() ? status.value("uncertain_names", -1LL) : -1;
    long long abandoned = backend_counter(primary, "abandoned") - abandoned_before;
    say("  backlog on the paused " + primary + ": abandoned=" + std::to_string(abandoned) +
        " uncertain_names=" + std::to_string(uncertain));
    EXPECT_GT(uncertain, 0) << "no write waits on the paused primary: there is no backlog of writes";
    // Unpaused, it runs the whole backlog at once, while the load goes on.
    act("unpause", {primary});
  };
  run(scenario);
}

// The router process dies, its container and supervisor stay: no client is
// refused (connections wait in the supervisor's socket), and the only
// requests that fail are those the dead router held. The load's clients do
// not retry (as fsload and the live test's clients), so those are counted,
// not hidden: each must have been in flight across a kill.
TEST_F(ChaosTest, RouterProcessKilledTwiceRefusesNoConnectionAndFailsOnlyRequestsInFlight) {
  ensure_latency(fast_latency());
  Scenario scenario("router-process-killed", load_options("rp", 18));
  scenario.load.get_share = 0.4;
  scenario.load.put_share = 0.45;
  scenario.chaos = [](const ChaosLoad& load) {
    size_t started_before = router_log_events("child_started");
    kill_router_process(load);
    std::this_thread::sleep_for(phase(4));
    kill_router_process(load);
    size_t restarts = router_log_events("child_started") - started_before;
    say("  supervisor restarts: " + std::to_string(restarts));
    EXPECT_EQ(restarts, 2u) << "one new router per kill";
  };
  run(scenario);
}

// An upgrade in place (SIGHUP, then SIGUSR2, to the supervisor, PID 1): the
// router finishes what it holds and the next one takes the queued
// connections; no request fails.
TEST_F(ChaosTest, RouterUpgradedBySighupAndSigusr2FailsNoRequest) {
  ensure_latency(fast_latency());
  Scenario scenario("router-upgraded", load_options("ru", 19));
  scenario.load.get_share = 0.4;
  scenario.load.put_share = 0.45;
  scenario.chaos = [](const ChaosLoad&) {
    size_t upgrades_before = router_log_events("upgrade_requested");
    signal_supervisor("HUP");
    std::this_thread::sleep_for(phase(4));
    signal_supervisor("USR2");
    EXPECT_EQ(router_log_events("upgrade_requested") - upgrades_before, 2u);
    EXPECT_NE(last_router_log_line("child_exited").find("reason=\"upgrade\""), std::string::npos)
        << last_router_log_line("child_exited");
  };
  run(scenario);
}

// The whole router container killed, supervisor and socket included, and
// started again at once: clients are refused until it is back, and the
// outage is measured (first refused request to first answer).
TEST_F(ChaosTest, RouterContainerKilledAndStartedKeepsEveryAcknowledgedWrite) {
  ensure_latency(fast_latency());
  Scenario scenario("router-container-killed", load_options("rt", 14), /*router_goes_down=*/true);
  scenario.load.get_share = 0.3;
  scenario.load.put_share = 0.55;
  scenario.chaos = [](const ChaosLoad&) {
    act("kill", {"fsrouter"});
    act("start", {"fsrouter"});
    EXPECT_TRUE(wait_router_ready(120s)) << stack_->logs("fsrouter", 60);
    say("  router back at " + router_.get(nullptr));
  };
  run(scenario);
}

TEST_F(ChaosTest, WholeStackRestartedKeepsEveryAcknowledgedWrite) {
  // Also switches to the real server latency for the scenarios that follow.
  Scenario scenario("stack-restarted", load_options("sr", 15), /*router_goes_down=*/true);
  scenario.chaos = [](const ChaosLoad&) {
    router_.set("");  // the network goes away with `down`
    CommandResult stopped = stack_->stop();
    EXPECT_TRUE(stopped.ok()) << stopped.output;
    EXPECT_EQ(stack_->exit_code("fsrouter"), 0) << "fsrouter did not exit cleanly on SIGTERM\n"
                                                << stack_->logs("fsrouter", 40);
    CommandResult down = stack_->down(/*remove_volumes=*/false);
    EXPECT_TRUE(down.ok()) << down.output;
    say("  stack down (volumes kept), bringing it up at " + std::to_string(kRealLatencyMs) + " ms");
    std::string error = bring_up(kRealLatencyMs);
    EXPECT_TRUE(error.empty()) << error;
  };
  run(scenario);
}

TEST_F(ChaosTest, PrimaryKilledAtRealLatencyLosesNoAcknowledgedWrite) {
  ensure_latency(kRealLatencyMs);
  Scenario scenario("primary-killed-333ms", load_options("pr", 16));
  // At 333 ms the primary applies at most 30 writes a second.
  scenario.load.rate = long_form() ? 60 : 40;
  scenario.load.get_share = 0.7;
  scenario.load.put_share = 0.2;
  scenario.chaos = [](const ChaosLoad&) {
    std::string primary = primary_service();
    act("kill", {primary});
    std::this_thread::sleep_for(phase(10));
    say("  primary after the kill: " + primary_service());
    act("start", {primary});
    wait_services_healthy();
  };
  run(scenario);
}

}  // namespace
}  // namespace fsr::chaos
