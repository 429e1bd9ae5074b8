// fsrouter run by fsrouter-supervisor in front of two stand-ins, under a
// steady stream of PUTs and GETs over fresh connections:
// - the router killed (SIGKILL) twice: no connection is refused (they wait
//   in the supervisor's socket), only requests in flight at a kill fail (at
//   most one per client thread per kill), every acknowledged write reads
//   back, and after the drain the volume equals the journal;
// - an upgrade (SIGHUP to the supervisor): no request fails.
// Prints the counts and the longest gap a client saw between answers.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/journal/fsjournal/fsjournal_harness.h"
#include "tests/support/process.h"
#include "tests/support/stack.h"

namespace fsr::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kClients = 4;
constexpr int kNamesPerClient = 3;

// The pids of the `event=child_started` lines in the supervisor's log, in order.
std::vector<pid_t> started_children(const std::string& log) {
  std::vector<pid_t> pids;
  size_t at = 0;
  while ((at = log.find("event=child_started", at)) != std::string::npos) {
    size_t pid = log.find(" pid=", at);
    size_t end = log.find('\n', at);
    if (pid != std::string::npos && pid < end) pids.push_back(static_cast<pid_t>(std::atoi(log.c_str() + pid + 5)));
    at = end == std::string::npos ? log.size() : end;
  }
  return pids;
}

// The last admin port the router logged (admin_listen="HOST:PORT").
int last_admin_port(const std::string& log) {
  size_t at = log.rfind(" admin_listen=\"");
  if (at == std::string::npos) return 0;
  size_t end = log.find('"', at + 15);
  size_t colon = log.rfind(':', end);
  return std::atoi(log.c_str() + colon + 1);
}

// What one name may hold: its last acknowledged body, or the body of a PUT
// that failed after it (its outcome is unknown to the client).
struct NameState {
  std::string acked;
  std::set<std::string> unknown;
};

class RouterUnderSupervisor : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_.start_backends(2, /*latency_ms=*/5);
    std::string backends = "127.0.0.1:" + std::to_string(stack_.backend_port(0)) + ",127.0.0.1:" +
                           std::to_string(stack_.backend_port(1));
    supervisor_ = ChildProcess({program_path("fsrouter-supervisor"), "--listen", "127.0.0.1:0", "--stop-timeout-ms",
                                "20000", "--", program_path("fsrouter"), "--listen", "127.0.0.1:0", "--backends",
                                backends, "--journal-dir", stack_.journal_dir(), "--admin-listen", "127.0.0.1:0",
                                "--threads", "64"},
                               stack_.dir() / "supervisor.log");
    port_ = listening_port(supervisor_);
    ASSERT_TRUE(wait_ready(1));
  }

  // SIGTERM reaches the router through the supervisor: a failed test leaves
  // no router running (SIGKILL to the supervisor alone would).
  void TearDown() override {
    stop_clients();
    if (supervisor_.running()) supervisor_.stop(SIGTERM, 25s);
  }
  void stop_clients() {
    done_ = true;
    for (auto& t : clients_) t.join();
    clients_.clear();
  }

  // Waits until `children` routers were started and the last one answers /readyz.
  bool wait_ready(size_t children) {
    return wait_until(
        [&] {
          if (started_children(supervisor_.read_log()).size() < children) return false;
          if (supervisor_.read_log().find("inherited=\"true\"") == std::string::npos) return false;
          httplib::Client c("127.0.0.1", port_);
          c.set_connection_timeout(0, 200000);
          auto r = c.Get("/readyz");
          return r && r->status == 200;
        },
        30s);
  }

  // One client thread: fresh connection per request, PUT then GET on its own names.
  void client(int id) {
    unsigned n = 0;
    auto last_answer = Clock::now();
    while (!done_) {
      std::string name = "c" + std::to_string(id) + "-" + std::to_string(n % kNamesPerClient);
      bool is_put = n % 2 == 0;
      std::string body = "client " + std::to_string(id) + " write " + std::to_string(n) + " " +
                         random_body(100 + n % 300, id * 100000 + n);
      ++n;
      httplib::Client c("127.0.0.1", port_);
      c.set_keep_alive(false);
      c.set_connection_timeout(30, 0);
      c.set_read_timeout(30, 0);
      c.set_write_timeout(30, 0);
      httplib::Result r = is_put ? c.Put(api(name), body, "application/octet-stream") : c.Get(api(name));
      std::lock_guard lock(mu_);
      NameState& state = names_[name];
      if (!r) {
        if (r.error() == httplib::Error::Connection) ++refused_;
        else ++failed_;
        if (is_put) state.unknown.insert(body);
        continue;
      }
      auto now = Clock::now();
      longest_gap_ = std::max(longest_gap_, now - last_answer);
      last_answer = now;
      ++answered_;
      if (is_put) {
        if (r->status == 201 || r->status == 200 || r->status == 204) {
          state.acked = body;
          state.unknown.clear();
          ++acked_puts_;
        } else {
          ++failed_;
          state.unknown.insert(body);
          std::cerr << "PUT " << name << ": " << r->status << " " << r->body;
        }
      } else if (r->status == 200) {
        if (r->body != state.acked && !state.unknown.count(r->body)) ++wrong_reads_;
      } else if (r->status == 404) {
        if (!state.acked.empty()) ++wrong_reads_;
      } else {
        ++failed_;
        std::cerr << "GET " << name << ": " << r->status << " " << r->body;
      }
    }
  }

  int failures() {
    std::lock_guard lock(mu_);
    return failed_ + refused_;
  }
  void wait_answers(int more) {
    int target;
    {
      std::lock_guard lock(mu_);
      target = answered_ + more;
    }
    EXPECT_TRUE(wait_until(
        [&] {
          std::lock_guard lock(mu_);
          return answered_ >= target;
        },
        60s));
  }

  Stack stack_{"supervised-router"};
  ChildProcess supervisor_;
  int port_ = 0;
  std::atomic<bool> done_{false};
  std::vector<std::thread> clients_;
  std::mutex mu_;
  std::map<std::string, NameState> names_;  // guarded by mu_
  int answered_ = 0, acked_puts_ = 0, failed_ = 0, refused_ = 0, wrong_reads_ = 0;
  Clock::duration longest_gap_{};
};

TEST_F(RouterUnderSupervisor, KilledRouterLosesOnlyRequestsInFlightAndAnUpgradeLosesNone) {
  for (int i = 0; i < kClients; ++i) clients_.emplace_back([this, i] { client(i); });
  wait_answers(100);

  ASSERT_EQ(failures(), 0);
  std::vector<int> failed_by_kill;
  for (size_t kill = 1; kill <= 2; ++kill) {
    int before = failures();
    pid_t router = started_children(supervisor_.read_log()).back();
    ASSERT_EQ(::kill(router, SIGKILL), 0);
    ASSERT_TRUE(wait_ready(kill + 1)) << supervisor_.read_log();
    wait_answers(100);
    failed_by_kill.push_back(failures() - before);
  }
  int failed_by_kills = failures();

  ASSERT_EQ(::kill(supervisor_.pid(), SIGHUP), 0);
  ASSERT_TRUE(wait_ready(4)) << supervisor_.read_log();
  wait_answers(100);
  stop_clients();
  int failed_by_upgrade = failures() - failed_by_kills;

  std::cout << "answered=" << answered_ << " acked_puts=" << acked_puts_ << " failed_by_kills=" << failed_by_kills
            << " (" << failed_by_kill[0] << "+" << failed_by_kill[1] << ") failed_by_upgrade=" << failed_by_upgrade << " refused=" << refused_
            << " longest_gap_ms=" << std::chrono::duration_cast<std::chrono::milliseconds>(longest_gap_).count()
            << "\n";
  EXPECT_EQ(refused_, 0);
  for (int failed : failed_by_kill) EXPECT_LE(failed, kClients) << "only requests in flight at a kill may fail";
  EXPECT_EQ(failed_by_upgrade, 0);
  EXPECT_EQ(wrong_reads_, 0);
  EXPECT_GT(acked_puts_, 0);

  // Every acknowledged write reads back (or a later write whose outcome is unknown).
  for (const auto& [name, state] : names_) {
    httplib::Client c("127.0.0.1", port_);
    auto r = c.Get(api(name));
    ASSERT_TRUE(r) << name;
    if (state.acked.empty() && state.unknown.empty()) continue;
    if (r->status == 404) {
      EXPECT_TRUE(state.acked.empty()) << name;
      continue;
    }
    ASSERT_EQ(r->status, 200) << name;
    EXPECT_TRUE(r->body == state.acked || state.unknown.count(r->body)) << name;
  }

  // After the drain the volume equals the journal.
  int admin_port = last_admin_port(supervisor_.read_log());
  ASSERT_GT(admin_port, 0);
  ASSERT_TRUE(wait_until(
      [&] {
        httplib::Client c("127.0.0.1", admin_port);
        auto r = c.Get("/admin/status");
        if (!r || r->status != 200) return false;
        auto j = nlohmann::json::parse(r->body, nullptr, false);
        return j.is_object() && j["pending_count"] == 0 && j["applied_seq"] == j["last_seq"];
      },
      60s));
  // Two deaths, then an upgrade (not a restart): the router in place reports 2.
  {
    httplib::Client c("127.0.0.1", admin_port);
    auto metrics = c.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(("\n" + metrics->body).find("\nfsrouter_process_restarts_total 2\n"), std::string::npos) << metrics->body;
  }
  ASSERT_EQ(supervisor_.stop(SIGTERM), 0) << supervisor_.read_log();
  RunResult verify = run_fsjournal({"--journal-dir", stack_.journal_dir(), "verify", "--volume", stack_.data_dir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

// Handed sockets, none of them --listen's: the router does not bind one of
// its own that the supervisor would not keep; it exits 1 and says why.
TEST(RouterUnderSupervisorStart, RouterRefusesToStartWhenNoInheritedSocketIsItsListenAddress) {
  TempDir dir("fsr-supervised-router");
  ChildProcess supervisor({program_path("fsrouter-supervisor"), "--listen", "127.0.0.1:0", "--", program_path("fsrouter"),
                           "--listen", "127.0.0.2:0", "--backends", "127.0.0.1:1", "--journal-dir", dir / "journal",
                           "--admin-listen", "127.0.0.1:0"},
                          dir / "supervisor.log");
  ASSERT_TRUE(wait_until([&] { return supervisor.read_log().find("event=child_exited") != std::string::npos; }, 30s))
      << supervisor.read_log();
  std::string log = supervisor.read_log();
  EXPECT_NE(log.find("event=inherited_socket_missing"), std::string::npos) << log;
  EXPECT_NE(log.find("status=1"), std::string::npos) << log;
  EXPECT_EQ(log.find("inherited=\"true\""), std::string::npos) << log;
  EXPECT_FALSE(file_exists(dir / "journal")) << "the journal was opened before the socket was checked";
  supervisor.stop(SIGTERM, 25s);
}

}  // namespace
}  // namespace fsr::test
