// Drives a fileserver stand-in started with --fault-control through its
// /_fault/ routes (fileserver/fault_control.h): hold matching requests and
// release them at a chosen moment, refuse the next requests with 429, and
// see what is held. Used by the stand-in's own tests and by the router's
// unknown-outcome tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace fsr::test {

struct HeldRequest {
  uint64_t id = 0;
  std::string method;
  std::string name;
  std::string stage;  // "before" or "inside"
  unsigned long long bytes = 0;  // the body a held PUT read ahead
};

class FaultBackend {
 public:
  explicit FaultBackend(int port) : port_(port) {}

  // Holds the next `count` admitted requests of method (empty: any) on name
  // at stage ("before" its work, or "inside" it holding the name, or for a
  // DELETE the process-wide lock). Returns the rule's id; 0 on failure.
  uint64_t hold(const std::string& method, const std::string& name, const std::string& stage = "before",
                int count = 1);
  // Requests held right now (empty on failure).
  std::vector<HeldRequest> held();
  // Polls until at least n requests are held; returns what is held then.
  std::vector<HeldRequest> wait_held(size_t n, std::chrono::milliseconds patience = std::chrono::seconds(10));
  // Lets a held request (or all of them) run now; returns how many were released.
  int release(uint64_t id);
  int release_all();
  // The next count requests (of method and name when given) get 429 at admission.
  bool reject(int count, const std::string& method = "", const std::string& name = "");
  // Disarms every hold rule (held requests stay held, refusals stay armed).
  bool clear();
  // Released requests whose work has not finished yet; -1 on failure.
  int released_running();
  // Polls until every released request has finished its work.
  bool wait_released_finished(std::chrono::milliseconds patience = std::chrono::seconds(10));
  // The stand-in's requests in flight (held ones included); -1 on failure.
  int inflight();
  // DELETEs holding the process-wide lock while they wait for their name;
  // one that stays is the wedge (spec: "a wedge"). -1 on failure.
  int deletes_waiting_for_name();

 private:
  int port_;
};

}  // namespace fsr::test
