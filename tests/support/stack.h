// The project's one test stack: fsrouter in front of fileserver stand-ins,
// as real local processes on loopback, for the router's, fsjournal's and
// fsload's integration tests.
//
// Every program starts on port 0 and the stack reads the port it bound
// from its `event=listening` log line, so two tests never race for a port.
// A restarted program comes back on the port it had (the router's
// --backends list and the tests' clients keep pointing at it).
#pragma once

#include <httplib.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/process.h"

namespace fsr::test {

class Stack {
 public:
  // A stack in a fresh directory of its own, removed with it.
  explicit Stack(const std::string& name = "router");
  // A stack in a directory the caller owns (it must outlive the stack).
  explicit Stack(const TempDir& dir);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // Starts n fileserver stand-ins sharing one data directory.
  void start_backends(int n, int latency_ms, int max_inflight = 10);
  void start_backend(int i);  // (re)starts backend i on its port
  // Backend i uses another data directory (call before start_backends).
  void set_backend_data_dir(int i, const std::string& dir) { data_dir_override_[i] = dir; }
  // Backends (re)started from now on serve the /_fault/ control routes
  // (tests/support/fault_backend.h drives them).
  void set_backend_fault_control(bool on) { backend_fault_control_ = on; }
  void kill_backend(int i, int sig = 9);
  // Starts the router in front of every backend; waits for /readyz. Extra
  // arguments replace those of the previous start; none repeats them.
  void start_router(const std::vector<std::string>& extra_args = {});
  int stop_router(int sig);  // returns the wait status
  bool router_running() { return router_.running(); }
  ChildProcess& router() { return router_; }
  ChildProcess& backend(int i) { return backends_[i]; }

  int router_port() const { return router_port_; }
  int router_admin_port() const { return router_admin_port_; }  // /admin/* (--admin-listen)
  std::string router_url() const { return "http://127.0.0.1:" + std::to_string(router_port_); }
  int backend_port(int i) const { return backend_ports_.at(i); }
  std::string backend_url(int i) const { return "http://127.0.0.1:" + std::to_string(backend_port(i)); }
  std::string data_dir() const { return *dir_ / "data"; }
  std::string journal_dir() const { return *dir_ / "journal"; }
  const TempDir& dir() const { return *dir_; }

  std::unique_ptr<httplib::Client> client(int timeout_s = 30) const;
  nlohmann::json status() const;
  // Polls /admin/status until nothing is pending.
  bool wait_drained(std::chrono::milliseconds patience);
  // A PUT or DELETE through the router: the X-Fsrouter-Seq of the
  // acknowledgement, 0 when it failed (last_error() says why).
  uint64_t put(const std::string& name, const std::string& body);
  uint64_t del(const std::string& name);
  const std::string& last_error() const { return last_error_; }
  // status=429 lines in every stand-in's log.
  int backend_429_count() const;
  std::string backend_logs() const;
  // Every program's log, headed by its name.
  std::string logs() const;

 private:
  std::string backend_log(int i) const { return *dir_ / ("backend" + std::to_string(i) + ".log"); }

  std::unique_ptr<TempDir> own_dir_;
  const TempDir* dir_;
  std::map<int, std::string> data_dir_override_;
  bool backend_fault_control_ = false;
  int latency_ms_ = 10;
  int max_inflight_ = 10;
  std::vector<int> backend_ports_;  // 0 until first started
  std::vector<ChildProcess> backends_;
  int router_port_ = 0;
  int router_admin_port_ = 0;
  std::vector<std::string> router_extra_args_;
  ChildProcess router_;
  std::string last_error_;
};

std::string api(const std::string& name);  // "/api/fileserver/" + encoded name

// The last acknowledged state of each name, as clients saw it.
struct Acked {
  uint64_t seq = 0;
  bool present = false;
  std::string body;
};

// Files in a data directory, name -> content (the router's reserved files left out).
std::map<std::string, std::string> read_data_dir(const std::string& dir);

// Every name's file on the volume equals its last acknowledged write
// (absent after a DELETE); a gtest expectation.
void expect_volume_matches(const std::string& data_dir, const std::map<std::string, Acked>& model);

// The X-Fsrouter-Seq of an answer (0 when absent).
uint64_t seq_of(const httplib::Result& r);

// How often needle occurs in text.
int count_occurrences(const std::string& text, const std::string& needle);

// Runs fn(0..n-1) on n threads and joins them.
template <typename F>
void run_threads(int n, F fn) {
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back([&fn, i] { fn(i); });
  for (auto& t : threads) t.join();
}

}  // namespace fsr::test
