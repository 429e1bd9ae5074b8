// Replicas and failover (design invariants 5, 6 and 7): causal reads spread
// over confirmed backends, backends that die, hang or sit on the wrong volume.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/fileserver/fileserver_harness.h"
#include "tests/support/stack.h"

namespace fsr::test {
namespace {

using Clock = std::chrono::steady_clock;

// Router flags for fast detection, and every applied body freed so reads go
// to the backends.
std::vector<std::string> replica_flags(std::vector<std::string> more = {}) {
  std::vector<std::string> f = {"--body-cache-mb", "0", "--probe-interval-ms", "200", "--probe-timeout-ms", "1000",
                                "--marker-interval-ms", "100", "--backend-timeout-ms", "1000"};
  f.insert(f.end(), more.begin(), more.end());
  return f;
}

// Polls /admin/status until `holds` is true of it. The tests wait on these
// counters, never on fixed times: a slow machine only makes them slower.
bool wait_for_status(Stack& stack, const std::function<bool(const nlohmann::json&)>& holds,
                     std::chrono::milliseconds patience = std::chrono::seconds(20)) {
  return wait_until(
      [&] {
        auto s = stack.status();
        return s.is_object() && holds(s);
      },
      patience);
}

// One backend's counter from /admin/status (0 while the router does not answer).
uint64_t backend_counter(Stack& stack, int i, const char* field) {
  auto s = stack.status();
  return s.is_object() ? s["backends"][i][field].get<uint64_t>() : 0;
}

uint64_t last_seq(Stack& stack) {
  auto s = stack.status();
  return s.is_object() ? s["last_seq"].get<uint64_t>() : 0;
}

bool all_replicas_confirmed_at(Stack& stack, uint64_t seq) {
  auto s = stack.status();
  if (s.is_null()) return false;
  for (auto& b : s["backends"])
    if (!b["healthy"].get<bool>() || !b["confirmed"].get<bool>() || b["watermark"].get<uint64_t>() < seq) return false;
  return s["body_bytes"] == 0;
}

// Writes `n` names, waits until applied, evicted and confirmed everywhere.
std::map<std::string, std::string> seed_names(Stack& stack, const std::string& prefix, int n) {
  std::map<std::string, std::string> bodies;
  auto c = stack.client();
  uint64_t last = 0;
  for (int i = 0; i < n; ++i) {
    std::string name = prefix + std::to_string(i);
    bodies[name] = random_body(200 + i * 13 % 5000, i + 7);
    auto r = c->Put(api(name).c_str(), bodies[name], "application/octet-stream");
    EXPECT_EQ(r->status, 201);
    last = seq_of(r);
  }
  EXPECT_TRUE(stack.wait_drained(std::chrono::seconds(60)));
  EXPECT_TRUE(wait_until([&] { return all_replicas_confirmed_at(stack, last); }, std::chrono::seconds(30)))
      << stack.status().dump();
  return bodies;
}

TEST(RouterReplicas, ReadsOfUncachedNamesSpreadOverAllFiveBackendsWithinTheirCaps) {
  Stack stack("spread");
  stack.start_backends(5, 20);
  stack.start_router(replica_flags());
  auto bodies = seed_names(stack, "spread-", 100);
  std::atomic<int> wrong{0};
  run_threads(40, [&](int t) {
    auto c = stack.client();
    std::mt19937 rng(t);
    for (int k = 0; k < 25; ++k) {
      std::string name = "spread-" + std::to_string(rng() % 100);
      auto r = c->Get(api(name).c_str());
      if (!r || r->status != 200 || r->body != bodies[name]) wrong++;
    }
  });
  EXPECT_EQ(wrong.load(), 0);
  for (int i = 0; i < 5; ++i) {
    std::string log = read_file(stack.dir() / ("backend" + std::to_string(i) + ".log"));
    EXPECT_GT(count_occurrences(log, "method=\"GET\" name=\"spread-"), 10) << "backend " << i << " served no reads";
  }
  EXPECT_EQ(stack.backend_429_count(), 0);
}

TEST(RouterReplicas, ReplicaOnAnotherVolumeNeverServesARead) {
  Stack stack("wrong-volume");
  std::string other = stack.dir() / "other-volume";
  std::filesystem::create_directories(other);
  stack.set_backend_data_dir(1, other);
  stack.start_backends(2, 10);
  // The other volume holds a different file of the same name.
  write_file(other + "/vol-0", "not the acknowledged body");
  stack.start_router(replica_flags());
  auto c = stack.client();
  std::string body = random_body(3000, 1);
  ASSERT_EQ(c->Put(api("vol-0").c_str(), body, "application/octet-stream")->status, 201);
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(30)));
  ASSERT_TRUE(wait_for_status(stack, [](const auto& s) { return s["body_bytes"] == 0; }));
  // Several probe rounds read the other volume's marker (a probe is a request).
  uint64_t probed = backend_counter(stack, 1, "requests");
  ASSERT_TRUE(wait_for_status(stack, [&](const auto& s) { return s["backends"][1]["requests"] >= probed + 3; }))
      << stack.status().dump();
  for (int i = 0; i < 40; ++i) {
    auto r = c->Get(api("vol-0").c_str());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    ASSERT_TRUE(r->body == body);
  }
  auto s = stack.status();
  EXPECT_FALSE(s["backends"][1]["confirmed"].get<bool>());
  EXPECT_EQ(count_occurrences(read_file(stack.dir() / "backend1.log"), "method=\"GET\" name=\"vol-0\""), 0);
}

TEST(RouterReplicas, StaleKnownFileErrorTextNeverReachesAClient) {
  Stack stack("hazard");
  stack.start_backends(2, 5);
  stack.start_router(replica_flags({"--read-wait-ms", "1500"}));
  auto bodies = seed_names(stack, "hazard-", 1);
  // Backend 1 learns the name, then the file vanishes behind its back: its
  // next GET answers 200 with an error text instead of the file.
  httplib::Client direct("127.0.0.1", stack.backend_port(1));
  ASSERT_EQ(direct.Get("/api/fileserver/hazard-0")->status, 200);
  std::filesystem::remove(stack.data_dir() + "/hazard-0");
  auto provoked = direct.Get("/api/fileserver/hazard-0");
  ASSERT_TRUE(provoked);
  ASSERT_EQ(provoked->status, 200) << "the hazard did not happen";
  ASSERT_NE(provoked->body, bodies["hazard-0"]);
  auto c = stack.client();
  for (int i = 0; i < 3; ++i) {
    auto r = c->Get(api("hazard-0").c_str());
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->status != 200 || r->body == bodies["hazard-0"]) << "served: " << r->body.substr(0, 80);
    EXPECT_EQ(r->status, 503);
  }
  EXPECT_NE(stack.router().read_log().find("event=read_mismatch"), std::string::npos);
}

// Mixed load with every read checked against what clients were told.
struct MixedLoad {
  explicit MixedLoad(Stack& s) : stack(s) {}
  Stack& stack;
  std::atomic<bool> stop{false};
  std::atomic<int> invalid{0}, server_errors{0}, refused{0};
  std::atomic<int64_t> slowest_ms{0};
  std::mutex mu;
  std::map<std::string, Acked> acked;
  // Every state acknowledged per name, in the order the answers came: a read
  // may return any state acknowledged while it ran, not only the last one
  // (a write can land and be overwritten between its start and its end).
  std::map<std::string, std::vector<Acked>> history;
  std::map<std::string, int> writing;  // names with a write in flight
  // Names with a write whose answer never came (client timeout, reset): it
  // may or may not have been committed, so either state is legal from then
  // on and reads of them are not judged.
  std::set<std::string> in_doubt;

  void run(int threads, int names, bool writes) {
    run_threads(threads, [&](int t) {
      std::mt19937 rng(t * 7919);
      auto c = stack.client(10);
      int k = 0;
      while (!stop) {
        std::string name = "mix-" + std::to_string(rng() % names);
        int dice = rng() % 10;
        auto start = Clock::now();
        if (writes && dice < 3) {
          bool put = dice < 2;
          std::string body = put ? random_body(100 + rng() % 3000, t * 100000 + k++) : "";
          {
            std::lock_guard<std::mutex> lock(mu);
            writing[name]++;
          }
          auto r = put ? c->Put(api(name).c_str(), body, "application/octet-stream") : c->Delete(api(name).c_str());
          std::lock_guard<std::mutex> lock(mu);
          writing[name]--;
          if (!r) {
            refused++;
            in_doubt.insert(name);
          } else if (r->status >= 500) server_errors++;
          else {
            Acked& a = acked[name];
            uint64_t seq = seq_of(r);
            history[name].push_back(Acked{seq, put, body});
            if (seq > a.seq) a = Acked{seq, put, body};
          }
        } else {
          Acked before;
          bool in_flight;
          size_t acked_before = 0;
          {
            std::lock_guard<std::mutex> lock(mu);
            before = acked[name];
            in_flight = writing[name] > 0;
            acked_before = history[name].size();
          }
          auto r = c->Get(api(name).c_str());
          auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
          int64_t prev = slowest_ms;
          while (ms > prev && !slowest_ms.compare_exchange_weak(prev, ms)) {
          }
          if (!r) {
            refused++;
            continue;
          }
          if (r->status >= 500) {
            server_errors++;
            continue;
          }
          std::lock_guard<std::mutex> lock(mu);
          const Acked& now = acked[name];
          auto matches = [&](const Acked& a) {
            return a.present ? r->status == 200 && r->body == a.body : r->status == 404;
          };
          // Either the state when the read began, or one acknowledged while it
          // ran, or (with a write in flight) the one being written.
          const auto& states = history[name];
          bool acked_meanwhile = std::any_of(states.begin() + static_cast<long>(acked_before), states.end(), matches);
          if (!matches(before) && !matches(now) && !acked_meanwhile && !in_flight && writing[name] == 0 &&
              !in_doubt.count(name)) {
            invalid++;
            ADD_FAILURE() << "read of " << name << ": status " << r->status << ", " << r->body.size()
                          << " bytes; acknowledged seq " << before.seq << " when it began, " << now.seq
                          << " when it ended";
          }
        }
      }
    });
  }
};

TEST(RouterFailover, PrimaryKilledUnderMixedLoadFailsOverAndLosesNothing) {
  Stack stack("kill-primary");
  stack.start_backends(3, 20);
  stack.start_router(replica_flags());
  MixedLoad load(stack);
  std::thread clients([&] { load.run(24, 80, true); });
  // Under way: writes acknowledged and applied to the primary.
  EXPECT_TRUE(wait_for_status(stack, [](const auto& s) {
    return s["applied_seq"] >= 100 && s["backends"][0]["requests"] >= 50;
  })) << stack.status().dump();
  stack.kill_backend(0, SIGKILL);
  EXPECT_TRUE(wait_for_status(stack, [](const auto& s) { return s["backends"][0]["role"] == "replica"; },
                              std::chrono::seconds(10)));
  // The new primary takes the applies of writes acknowledged after the failover.
  uint64_t at_failover = last_seq(stack);
  int new_primary = stack.status()["backends"][1]["role"] == "primary" ? 1 : 2;
  uint64_t new_primary_requests = backend_counter(stack, new_primary, "requests");
  EXPECT_TRUE(wait_for_status(stack, [&](const auto& s) {
    return s["applied_seq"] >= at_failover + 100 && s["backends"][new_primary]["requests"] >= new_primary_requests + 50;
  })) << stack.status().dump();
  stack.start_backend(0);
  // The old primary rejoins as a confirmed replica and serves reads again.
  EXPECT_TRUE(wait_for_status(stack, [](const auto& s) {
    return s["backends"][0]["healthy"] == true && s["backends"][0]["confirmed"] == true;
  })) << stack.status().dump();
  uint64_t rejoined = backend_counter(stack, 0, "requests");
  EXPECT_TRUE(wait_for_status(stack, [&](const auto& s) { return s["backends"][0]["requests"] >= rejoined + 20; }))
      << stack.status().dump();
  load.stop = true;
  clients.join();
  EXPECT_EQ(load.invalid.load(), 0);
  EXPECT_EQ(load.server_errors.load(), 0);
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(60)));
  EXPECT_NE(stack.router().read_log().find("event=primary_changed"), std::string::npos);
  expect_volume_matches(stack.data_dir(), load.acked);
  EXPECT_EQ(stack.backend_429_count(), 0);
}

TEST(RouterFailover, ReplicaStoppedIsRoutedAroundAndRejoinsAfterConfirming) {
  Stack stack("stop-replica");
  stack.start_backends(3, 20);
  stack.start_router(replica_flags());
  auto bodies = seed_names(stack, "mix-", 60);
  MixedLoad load(stack);
  {
    std::lock_guard<std::mutex> lock(load.mu);
    for (auto& [name, body] : bodies) load.acked[name] = Acked{1, true, body};
  }
  std::thread clients([&] { load.run(16, 60, false); });
  // Reads reach the replica before it stops.
  uint64_t before = backend_counter(stack, 2, "requests");
  EXPECT_TRUE(wait_for_status(stack, [&](const auto& s) { return s["backends"][2]["requests"] >= before + 20; }))
      << stack.status().dump();
  stack.backend(2).signal(SIGSTOP);
  EXPECT_TRUE(wait_for_status(stack, [](const auto& s) { return s["backends"][2]["healthy"] == false; },
                              std::chrono::seconds(5)));
  // Routed around: the other two serve a good many reads while it is stopped.
  uint64_t others = backend_counter(stack, 0, "requests") + backend_counter(stack, 1, "requests");
  EXPECT_TRUE(wait_for_status(stack, [&](const auto& s) {
    return s["backends"][0]["requests"].template get<uint64_t>() + s["backends"][1]["requests"].template get<uint64_t>() >=
           others + 400;
  })) << stack.status().dump();
  stack.backend(2).signal(SIGCONT);
  EXPECT_TRUE(wait_for_status(stack, [](const auto& s) { return s["backends"][2]["confirmed"] == true; },
                              std::chrono::seconds(10)));
  // Rejoined: it serves reads again.
  uint64_t rejoined = backend_counter(stack, 2, "requests");
  EXPECT_TRUE(wait_for_status(stack, [&](const auto& s) { return s["backends"][2]["requests"] >= rejoined + 20; }))
      << stack.status().dump();
  load.stop = true;
  clients.join();
  EXPECT_EQ(load.invalid.load(), 0);
  EXPECT_EQ(load.server_errors.load(), 0);
  EXPECT_LT(load.slowest_ms.load(), 4000) << "a client waited too long on the stopped replica";
}

TEST(RouterFailover, EveryBackendKilledWritesAcknowledgedThenBacklogDrains) {
  Stack stack("all-down");
  stack.start_backends(3, 10);
  stack.start_router(replica_flags());
  for (int i = 0; i < 3; ++i) stack.kill_backend(i);
  std::map<std::string, Acked> model;
  auto c = stack.client();
  for (int i = 0; i < 50; ++i) {
    std::string name = "dark-" + std::to_string(i % 30);
    bool put = i % 6 != 5;
    std::string body = put ? random_body(500 + i, i) : "";
    auto r = put ? c->Put(api(name).c_str(), body, "application/octet-stream") : c->Delete(api(name).c_str());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, put ? 201 : 200);
    model[name] = Acked{seq_of(r), put, body};
  }
  for (auto& [name, a] : model) {
    auto r = c->Get(api(name).c_str());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, a.present ? 200 : 404);
  }
  auto unknown = c->Get(api("never-written").c_str());
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 503);
  EXPECT_FALSE(unknown->get_header_value("Retry-After").empty());
  for (int i = 0; i < 3; ++i) stack.start_backend(i);
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(60)));
  expect_volume_matches(stack.data_dir(), model);
}

TEST(RouterFailover, PrimaryPausedPastTheTimeoutAbandonedWritesLandLateYetVolumeEndsExact) {
  Stack stack("pause-primary");
  stack.start_backends(2, 333);
  stack.start_router({"--probe-interval-ms", "300", "--probe-timeout-ms", "1000", "--backend-timeout-ms", "1000",
                      "--abandon-settle-ms", "1200", "--marker-interval-ms", "200"});
  ASSERT_TRUE(wait_for_status(stack, [](const auto& s) { return s["backends"][1]["confirmed"] == true; },
                              std::chrono::seconds(10)));
  MixedLoad load(stack);
  std::thread clients([&] { load.run(12, 20, true); });
  // Applies are on their way to the primary when it stops.
  EXPECT_TRUE(wait_for_status(stack, [](const auto& s) {
    return s["applied_seq"] >= 5 && s["backends"][0]["in_flight"] > 0;
  })) << stack.status().dump();
  stack.backend(0).signal(SIGSTOP);
  EXPECT_TRUE(wait_for_status(stack, [](const auto& s) { return s["backends"][1]["role"] == "primary"; },
                              std::chrono::seconds(10)));
  // The requests left on the paused one are abandoned, and the new primary
  // applies writes acknowledged after the failover.
  uint64_t at_failover = last_seq(stack);
  EXPECT_TRUE(wait_for_status(stack, [&](const auto& s) {
    return s["backends"][0]["abandoned"] > 0 && s["applied_seq"] >= at_failover + 5;
  })) << stack.status().dump();
  stack.backend(0).signal(SIGCONT);  // its abandoned writes now land on the shared volume
  // It answers again and rejoins as a replica once it reads the marker.
  EXPECT_TRUE(wait_for_status(stack, [](const auto& s) {
    return s["backends"][0]["healthy"] == true && s["backends"][0]["confirmed"] == true;
  })) << stack.status().dump();
  load.stop = true;
  clients.join();
  EXPECT_EQ(load.invalid.load(), 0);
  EXPECT_EQ(load.server_errors.load(), 0);
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(120)));
  expect_volume_matches(stack.data_dir(), load.acked);
}

// Wedges backend i for real (spec: a DELETE of a name racing a PUT of it on
// one process) and fills its other slots with requests that hang behind the
// wedge, so that it answers every new request 429 at once, forever.
// `connections` keeps the raw PUT open.
void wedge_and_fill(Stack& stack, int i, int latency_ms, std::vector<std::unique_ptr<RawConnection>>* connections,
                    std::vector<std::thread>* hung) {
  int port = stack.backend_port(i);
  auto put = std::make_unique<RawConnection>(port);
  ASSERT_TRUE(put->send_all("PUT /api/fileserver/wedge HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345"));
  ASSERT_TRUE(wait_until([&] { return file_exists(stack.data_dir() + "/wedge"); }, std::chrono::seconds(5)));
  hung->emplace_back([port] { make_client(port, std::chrono::seconds(1))->Delete("/api/fileserver/wedge"); });
  // The DELETE takes the process-wide lock after its latency, then waits for
  // the name; nothing outside the process shows that moment (as in
  // tests/fileserver), so the PUT's body ends only after five latencies.
  std::this_thread::sleep_for(std::chrono::milliseconds(5 * latency_ms));
  ASSERT_TRUE(put->send_all("67890"));
  connections->push_back(std::move(put));
  // Eight more requests hang behind the lock: the process's ten slots are full.
  for (int k = 0; k < 8; ++k)
    hung->emplace_back([port, k] { make_client(port, std::chrono::seconds(1))->Get("/api/fileserver/f" + std::to_string(k)); });
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = make_client(port, std::chrono::seconds(1))->Get("/api/fileserver/probe");
        return r && r->status == 429;
      },
      std::chrono::seconds(10)))
      << "the backend should refuse every new request";
}

TEST(RouterFailover, WedgedPrimaryAnswering429ForeverIsFailedOverAndTheBacklogDrains) {
  const int latency_ms = 50;
  Stack stack("wedge-primary");
  stack.start_backends(2, latency_ms);
  std::vector<std::string> flags = {"--probe-interval-ms", "200", "--probe-timeout-ms", "1000",
                                    "--marker-interval-ms", "100", "--backend-timeout-ms", "1000",
                                    "--stall-timeout-ms", "2000"};
  stack.start_router(flags);
  // A marker of this journal on the volume, and a replica that confirmed it.
  uint64_t first = stack.put("before", "applied before the wedge");
  ASSERT_GT(first, 0u) << stack.last_error();
  ASSERT_TRUE(stack.wait_drained(std::chrono::seconds(30)));
  ASSERT_TRUE(wait_for_status(stack, [&](const auto& s) {
    return s["backends"][1]["confirmed"] == true && s["backends"][1]["watermark"] >= first;
  })) << stack.status().dump();
  ASSERT_EQ(stack.stop_router(SIGTERM), 0);

  std::vector<std::unique_ptr<RawConnection>> connections;
  std::vector<std::thread> hung;
  wedge_and_fill(stack, 0, latency_ms, &connections, &hung);
  for (auto& t : hung) t.join();  // the clients gave up; the requests stay on the backend

  // The router comes back with backend 0 as its primary: it answers only 429.
  stack.start_router(flags);
  uint64_t seq = stack.put("after", "acknowledged while the primary is wedged");
  ASSERT_GT(seq, 0u) << stack.last_error();
  EXPECT_TRUE(wait_for_status(stack, [](const auto& s) {
    return s["backends"][1]["role"] == "primary" && s["backends"][0]["healthy"] == false &&
           s["backends"][0]["down_reason"] == "wedged";
  })) << stack.status().dump();
  EXPECT_TRUE(stack.wait_drained(std::chrono::seconds(30))) << stack.status().dump();
  EXPECT_EQ(read_file(stack.data_dir() + "/after"), "acknowledged while the primary is wedged");
  std::string log = stack.router().read_log();
  EXPECT_NE(log.find("event=backend_down"), std::string::npos);
  EXPECT_NE(log.find("reason=\"wedged\""), std::string::npos) << log;
  // The metrics an alert would see (docs/metrics.md): one failover, the wedged backend unhealthy.
  httplib::Client admin("127.0.0.1", stack.router_admin_port());
  auto metrics = admin.Get("/metrics");
  ASSERT_TRUE(metrics);
  std::string text = "\n" + metrics->body;
  std::string wedged = "{backend=\"127.0.0.1:" + std::to_string(stack.backend_port(0)) + "\"}";
  std::string took_over = "{backend=\"127.0.0.1:" + std::to_string(stack.backend_port(1)) + "\"}";
  EXPECT_NE(text.find("\nfsrouter_primary_changes_total{reason=\"failover\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nfsrouter_primary_changes_total{reason=\"failback\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nfsrouter_backend_healthy" + wedged + " 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nfsrouter_backend_primary" + wedged + " 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nfsrouter_backend_primary" + took_over + " 1\n"), std::string::npos) << text;
  stack.kill_backend(0, SIGKILL);  // a wedged process ends only when killed
}

}  // namespace
}  // namespace fsr::test
