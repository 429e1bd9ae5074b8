// Steady mixed load for the chaos scenarios, with every read verified.
//
// Worker threads send PUT, GET and DELETE to the router at a fixed rate over
// a fixed set of names, one operation at a time per name. Every answer is
// judged by the load generator's ConsistencyModel (loadtest/): a GET must
// return a state that was current while it ran, where a write refused at
// connect never lands, an acknowledged one always does, and one whose outcome
// is unknown (cut connection, timeout, 5XX) may. At the end, check_final()
// reads every name once more through the router and from the shared data
// volume, and both must be acceptable states and equal to each other.
//
// The router's address can change while the load runs (a restarted container
// may get a new one); workers pick up the new address from RouterAddress.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "loadtest/consistency_model.h"

namespace fsr::chaos {

class RouterAddress {
 public:
  void set(const std::string& host_port);
  std::string get(uint64_t* generation) const;

 private:
  mutable std::mutex mutex_;
  std::string address_;
  uint64_t generation_ = 0;
};

struct LoadOptions {
  std::string name_prefix = "chaos";
  int names = 150;
  double rate = 60;  // requests per second, spread evenly
  int workers = 24;
  // Shares of operations on names the router already holds; the rest are
  // DELETEs. A name's first operation is always a PUT.
  double get_share = 0.6;
  double put_share = 0.3;
  // After an acknowledged write, how often to read the name back at once.
  double read_back_share = 0.3;
  // Largest body; most are small, one in fifty is between max/4 and max.
  size_t max_body = 256 * 1024;
  unsigned seed = 1;
};

struct LoadCounts {
  uint64_t requests = 0, gets = 0, puts = 0, deletes = 0;
  uint64_t acknowledged_writes = 0, valid_reads = 0, invalid_reads = 0;
  uint64_t status_5xx = 0, status_429 = 0, status_other = 0;
  uint64_t refused = 0;         // connection refused or unreachable: nothing sent
  uint64_t errors = 0;          // other transport errors: timeouts, cut connections
  uint64_t unknown_writes = 0;  // writes whose outcome the client cannot know
  std::vector<std::string> problems;  // the first few invalid reads and unexpected answers
  std::string summary() const;
};

// One request of the load, as the client saw it (steady-clock nanoseconds).
struct RequestRecord {
  int64_t start_ns = 0, end_ns = 0;
  std::string method;
  bool answered = false;  // a response came back (any status)
  bool refused = false;   // no connection could be made
  int status = 0;
  std::string error;  // the transport error, when no response came back
};

struct FinalCheck {
  size_t names = 0;
  size_t lost = 0;               // router answer is not an acceptable state
  size_t volume_mismatches = 0;  // volume file differs from the router or is not acceptable
  size_t unreadable = 0;         // the router gave no answer
  std::vector<std::string> problems;
  std::vector<std::string> problem_names;  // for looking them up in the logs
  std::string summary() const;
  bool clean() const { return lost == 0 && volume_mismatches == 0 && unreadable == 0; }
};

class ChaosLoad {
 public:
  ChaosLoad(const RouterAddress* router, LoadOptions options);
  ~ChaosLoad();
  ChaosLoad(const ChaosLoad&) = delete;
  ChaosLoad& operator=(const ChaosLoad&) = delete;

  void start();
  void stop();  // returns once every worker finished its operation
  LoadCounts counts() const;
  // Every request sent so far, in the order they ended.
  std::vector<RequestRecord> records() const;
  // Requests sent and not yet answered or failed, now.
  int in_flight() const { return in_flight_.load(); }
  // After stop(), once the router has applied everything: every name read
  // through the router and from volume_dir (the shared volume's host path).
  FinalCheck check_final(const std::string& volume_dir);

 private:
  struct NameState {
    std::mutex busy;  // one operation at a time on a name
    bool held_by_router = false;  // a write of it was acknowledged
  };
  struct Answer;
  class Connection;

  void run_worker(int index);
  void operate(Connection& connection, std::mt19937_64& rng, size_t name_index);
  void put(Connection& connection, std::mt19937_64& rng, size_t name_index);
  void erase(Connection& connection, size_t name_index);
  void get(Connection& connection, size_t name_index);
  void note_problem(const std::string& text);
  // Connection::send, counted in flight and recorded.
  Answer send(Connection& connection, const std::string& method, const std::string& path, const std::string* body);

  const RouterAddress* router_;
  LoadOptions options_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<NameState>> states_;

  std::mutex model_mutex_;
  load::ConsistencyModel model_;

  mutable std::mutex counts_mutex_;
  LoadCounts counts_;
  std::vector<RequestRecord> records_;
  std::atomic<int> in_flight_{0};

  std::atomic<bool> running_{false};
  std::atomic<int64_t> next_slot_ns_{0};
  std::vector<std::thread> workers_;
};

}  // namespace fsr::chaos
