// Scriptable faults for tests, off unless the program runs with
// --fault-control. They act on the stand-in's real request path, so every
// hazard keeps its real semantics: a held request keeps its in-flight slot
// (and, when held inside its work, its name or the process-wide lock), and
// does its work when released, as the real server runs an abandoned request
// late; a forced refusal is the real admission 429, answered at once while
// earlier requests still run.
//
// Control routes (outside /api/fileserver/, never on a production instance):
//   POST /_fault/hold?method=M&name=N&stage=S&count=C  arm a rule: the next C
//        (default 1) admitted requests matching M (GET, PUT, DELETE; empty:
//        any) and N (decoded name; absent: any) are held at stage S:
//        `before` (default: after the latency, before any name or lock) or
//        `inside` (holding the first thing its work takes: the name for PUT
//        and GET, the exclusive process-wide lock for DELETE). A held PUT has
//        read its whole body into an unlinked temporary file first, so it
//        can still store it after its client gave up. Answers {"rule": id}.
//   GET  /_fault/held    {"held": [{"id","method","name","stage","bytes"}...],
//        "released_running": n, "inflight": n, "rules": n, "rejects_left": n,
//        "deletes_waiting_for_name": n}
//        (bytes: the body a held PUT read ahead, 0 for GET and DELETE;
//        deletes_waiting_for_name: DELETEs holding the process-wide lock
//        while they wait for their name, the wedge's signature when it lasts)
//   POST /_fault/release?id=N | ?all=1   lets held requests run now;
//        answers {"released": n}.
//   POST /_fault/reject?count=N&method=M&name=N  the next N routed requests
//        (matching M and N when given) are answered 429 at admission;
//        count=0 disarms the refusals.
//   POST /_fault/clear   disarms every hold rule (held requests stay held,
//        pending refusals stay armed).
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace fsr::fileserver {

enum class HoldStage { kBefore, kInside };

class FaultControl {
 public:
  FaultControl() = default;
  FaultControl(const FaultControl&) = delete;
  FaultControl& operator=(const FaultControl&) = delete;

  // What the service reports in /_fault/held besides the holds.
  struct Gauges {
    std::function<int()> inflight;                  // requests in flight
    std::function<int()> deletes_waiting_for_name;  // DELETEs holding the lock, waiting for a name
  };
  // Registers the /_fault/ routes; call before the catch-all routes so they
  // match first.
  void install(httplib::Server& server, Gauges gauges);

  // True when a forced refusal applies to this admitted-or-not request
  // (consumes one).
  bool take_reject(const std::string& method, const std::string& name);

  // The stage at which this admitted request is to be held, consuming one
  // use of the first matching rule; nullopt when none matches.
  std::optional<HoldStage> match_hold(const std::string& method, const std::string& name);

  // Blocks until the request is released. Returns its id. bytes: the body
  // a PUT read ahead (shown in /_fault/held to tell held PUTs apart).
  uint64_t hold(const std::string& method, const std::string& name, HoldStage stage, unsigned long long bytes);

  // A released request finished its work (its last byte sent or its answer
  // dropped); called with hold()'s id.
  void finished(uint64_t id);

 private:
  struct Rule {
    uint64_t id;
    std::string method;
    std::optional<std::string> name;
    HoldStage stage;
    int remaining;
  };
  struct Held {
    uint64_t id;
    std::string method;
    std::string name;
    HoldStage stage;
    unsigned long long bytes;
    bool released = false;
  };

  std::mutex mutex_;
  std::condition_variable released_cv_;
  uint64_t next_id_ = 1;
  std::list<Rule> rules_;
  std::list<Held> held_;
  int released_running_ = 0;
  int rejects_left_ = 0;
  std::string reject_method_;
  std::optional<std::string> reject_name_;
};

}  // namespace fsr::fileserver
